//! Per-key user state: cells declared in a [`StateSpec`] when the pipeline is built, and
//! the typed handles ([`ValueState`], [`MapState`], [`ListState`]) a process reads and
//! writes them through.
//!
//! Each key has one cell per declaration. A cell holds serialised values (bincode), so a
//! key's state is plain bytes that checkpoints save as they are; a handle decodes on read
//! and encodes on write. The spec knows each cell's types, so a restored cell that does
//! not decode is found when the checkpoint is read, not when a record reaches it.

use super::error::ProcessError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a state cell holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StateKind {
    /// One value ([`ValueState`]).
    Value,
    /// A map from keys to values ([`MapState`]).
    Map,
    /// An append-only list ([`ListState`]).
    List,
}

/// One cell of one key: serialised values. `Empty` is a cell never written or cleared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Cell {
    /// Nothing.
    #[default]
    Empty,
    /// A value.
    Value(Vec<u8>),
    /// A map: serialised key → serialised value.
    Map(BTreeMap<Vec<u8>, Vec<u8>>),
    /// A list, in the order of its pushes.
    List(Vec<Vec<u8>>),
}

/// A declared cell: its name, kind, type names, and how to check restored bytes.
#[derive(Clone)]
struct Declared {
    name: String,
    kind: StateKind,
    types: &'static str,
    check: fn(&Cell) -> Result<(), String>,
}

static NEXT_SPEC: AtomicU64 = AtomicU64::new(1);

/// The state cells of a process step, declared when the pipeline is built: each
/// declaration returns the typed handle the process uses. Names are unique within a step
/// (they name the cells in checkpoints and errors).
///
/// ```
/// use highwater::model::keyed::StateSpec;
/// let mut state = StateSpec::new();
/// let count = state.value::<u64>("count");
/// let by_page = state.map::<String, u64>("by-page");
/// let seen = state.list::<i64>("seen");
/// assert_eq!(state.names(), ["count", "by-page", "seen"]);
/// assert!(state.check().is_ok());
/// # let _ = (count, by_page, seen);
/// state.value::<u64>("count"); // a second cell named `count`
/// assert!(state.check().unwrap_err().contains("`count`"));
/// ```
#[derive(Clone)]
pub struct StateSpec {
    id: u64,
    cells: Vec<Declared>,
    errors: Vec<String>,
}

impl Default for StateSpec {
    fn default() -> Self {
        StateSpec { id: NEXT_SPEC.fetch_add(1, Ordering::Relaxed), cells: Vec::new(), errors: Vec::new() }
    }
}

impl std::fmt::Debug for StateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.cells.iter().map(|c| (&c.name, c.kind, c.types))).finish()
    }
}

impl StateSpec {
    /// No cells.
    pub fn new() -> Self {
        Self::default()
    }

    fn declare(
        &mut self,
        name: &str,
        kind: StateKind,
        types: &'static str,
        check: fn(&Cell) -> Result<(), String>,
    ) -> usize {
        if self.cells.iter().any(|c| c.name == name) {
            self.errors.push(format!("two state cells are named `{name}`: give each cell its own name"));
        }
        self.cells.push(Declared { name: name.to_string(), kind, types, check });
        self.cells.len() - 1
    }

    /// Declares a cell holding one `T` per key.
    pub fn value<T: Serialize + DeserializeOwned>(&mut self, name: &str) -> ValueState<T> {
        let index = self.declare(name, StateKind::Value, std::any::type_name::<T>(), check_value::<T>);
        ValueState { handle: Handle { spec: self.id, index }, _t: PhantomData }
    }

    /// Declares a cell holding a map from `MK` to `MV` per key.
    pub fn map<MK: Serialize + DeserializeOwned + Ord, MV: Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> MapState<MK, MV> {
        let index = self.declare(name, StateKind::Map, std::any::type_name::<(MK, MV)>(), check_map::<MK, MV>);
        MapState { handle: Handle { spec: self.id, index }, _t: PhantomData }
    }

    /// Declares a cell holding an append-only list of `T` per key.
    pub fn list<T: Serialize + DeserializeOwned>(&mut self, name: &str) -> ListState<T> {
        let index = self.declare(name, StateKind::List, std::any::type_name::<T>(), check_list::<T>);
        ListState { handle: Handle { spec: self.id, index }, _t: PhantomData }
    }

    /// The cells' names, in declaration order.
    pub fn names(&self) -> Vec<&str> {
        self.cells.iter().map(|c| c.name.as_str()).collect()
    }

    /// Whether the declarations are sound (no two cells share a name): the step refuses
    /// to build otherwise, with this message.
    pub fn check(&self) -> Result<(), String> {
        match self.errors.first() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.cells.len()
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The index of the cell named `name`, if it is declared with `kind`.
    pub(crate) fn index_of(&self, name: &str, kind: StateKind) -> Result<usize, String> {
        match self.cells.iter().position(|c| c.name == name) {
            None => Err(format!("it has a state cell `{name}` this step does not declare (cells: {:?})", self.names())),
            Some(i) if self.cells[i].kind != kind => Err(format!(
                "its state cell `{name}` is a {kind:?} cell, declared now as a {:?} cell",
                self.cells[i].kind
            )),
            Some(i) => Ok(i),
        }
    }

    /// Checks that a restored cell decodes as its declared types.
    pub(crate) fn check_cell(&self, index: usize, cell: &Cell) -> Result<(), String> {
        let d = &self.cells[index];
        (d.check)(cell).map_err(|e| format!("its state cell `{}` does not decode as {} ({e})", d.name, d.types))
    }

    pub(crate) fn name(&self, index: usize) -> &str {
        &self.cells[index].name
    }

    pub(crate) fn kind(&self, index: usize) -> StateKind {
        self.cells[index].kind
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    bincode::deserialize(bytes).map_err(|e| e.to_string())
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serialize(value).map_err(|e| e.to_string())
}

fn check_value<T: DeserializeOwned>(cell: &Cell) -> Result<(), String> {
    match cell {
        Cell::Empty => Ok(()),
        Cell::Value(b) => decode::<T>(b).map(|_| ()),
        _ => Err("not a value cell".into()),
    }
}

fn check_map<MK: DeserializeOwned, MV: DeserializeOwned>(cell: &Cell) -> Result<(), String> {
    match cell {
        Cell::Empty => Ok(()),
        Cell::Map(m) => m.iter().try_for_each(|(k, v)| decode::<MK>(k).and(decode::<MV>(v)).map(|_| ())),
        _ => Err("not a map cell".into()),
    }
}

fn check_list<T: DeserializeOwned>(cell: &Cell) -> Result<(), String> {
    match cell {
        Cell::Empty => Ok(()),
        Cell::List(l) => l.iter().try_for_each(|b| decode::<T>(b).map(|_| ())),
        _ => Err("not a list cell".into()),
    }
}

/// Which spec and cell a handle names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Handle {
    spec: u64,
    index: usize,
}

/// A handle on a cell holding one `T` per key ([`StateSpec::value`]); read and write it
/// through [`State`].
pub struct ValueState<T> {
    handle: Handle,
    _t: PhantomData<fn() -> T>,
}

/// A handle on a cell holding a map from `MK` to `MV` per key ([`StateSpec::map`]).
pub struct MapState<MK, MV> {
    handle: Handle,
    _t: PhantomData<fn() -> (MK, MV)>,
}

/// A handle on a cell holding an append-only list of `T` per key ([`StateSpec::list`]).
pub struct ListState<T> {
    handle: Handle,
    _t: PhantomData<fn() -> T>,
}

macro_rules! handle_traits {
    ($name:ident < $($p:ident),* >) => {
        impl<$($p),*> Clone for $name<$($p),*> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<$($p),*> Copy for $name<$($p),*> {}
        impl<$($p),*> std::fmt::Debug for $name<$($p),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(cell {})", stringify!($name), self.handle.index)
            }
        }
        impl<$($p),*> StateHandle for $name<$($p),*> {
            fn cell(&self) -> (u64, usize) {
                (self.handle.spec, self.handle.index)
            }
        }
    };
}
handle_traits!(ValueState<T>);
handle_traits!(MapState<MK, MV>);
handle_traits!(ListState<T>);

/// Any state handle (to clear its cell with [`State::clear`]).
pub trait StateHandle {
    /// The spec and cell the handle names.
    fn cell(&self) -> (u64, usize);
}

/// The state of the current key, as a process sees it during one call
/// ([`super::Context::state`]). Reads decode, writes encode; a write marks the key's state
/// touched (for the step's time to live).
pub struct State<'a> {
    pub(crate) spec: &'a StateSpec,
    pub(crate) cells: &'a mut Vec<Cell>,
    pub(crate) written: &'a mut bool,
}

impl State<'_> {
    fn cell(&mut self, h: &impl StateHandle, kind: StateKind) -> Result<&mut Cell, ProcessError> {
        let (spec, index) = h.cell();
        if spec != self.spec.id() || index >= self.spec.len() || self.spec.kind(index) != kind {
            return Err(ProcessError::ForeignState);
        }
        if self.cells.len() < self.spec.len() {
            self.cells.resize(self.spec.len(), Cell::Empty);
        }
        Ok(&mut self.cells[index])
    }

    fn name(&self, h: &impl StateHandle) -> String {
        self.spec.name(h.cell().1).to_string()
    }

    fn err(&self, h: &impl StateHandle, e: String) -> ProcessError {
        ProcessError::State { cell: self.name(h), message: e }
    }

    /// The value of a value cell (`None` if never set or cleared).
    pub fn get<T: Serialize + DeserializeOwned>(&mut self, h: &ValueState<T>) -> Result<Option<T>, ProcessError> {
        match self.cell(h, StateKind::Value)? {
            Cell::Value(b) => {
                let r = decode(b);
                r.map(Some).map_err(|e| self.err(h, e))
            }
            _ => Ok(None),
        }
    }

    /// Sets a value cell.
    pub fn set<T: Serialize + DeserializeOwned>(&mut self, h: &ValueState<T>, value: &T) -> Result<(), ProcessError> {
        let bytes = encode(value).map_err(|e| self.err(h, e))?;
        *self.cell(h, StateKind::Value)? = Cell::Value(bytes);
        *self.written = true;
        Ok(())
    }

    /// The value of a map cell at `key`.
    pub fn map_get<MK: Serialize + DeserializeOwned + Ord, MV: Serialize + DeserializeOwned>(
        &mut self,
        h: &MapState<MK, MV>,
        key: &MK,
    ) -> Result<Option<MV>, ProcessError> {
        let k = encode(key).map_err(|e| self.err(h, e))?;
        match self.cell(h, StateKind::Map)? {
            Cell::Map(m) => match m.get(&k) {
                Some(b) => {
                    let r = decode(b);
                    r.map(Some).map_err(|e| self.err(h, e))
                }
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// Inserts `value` at `key` in a map cell, replacing what was there.
    pub fn map_insert<MK: Serialize + DeserializeOwned + Ord, MV: Serialize + DeserializeOwned>(
        &mut self,
        h: &MapState<MK, MV>,
        key: &MK,
        value: &MV,
    ) -> Result<(), ProcessError> {
        let (k, v) = (encode(key).map_err(|e| self.err(h, e))?, encode(value).map_err(|e| self.err(h, e))?);
        let cell = self.cell(h, StateKind::Map)?;
        if !matches!(cell, Cell::Map(_)) {
            *cell = Cell::Map(BTreeMap::new());
        }
        if let Cell::Map(m) = cell {
            m.insert(k, v);
        }
        *self.written = true;
        Ok(())
    }

    /// Removes `key` from a map cell.
    pub fn map_remove<MK: Serialize + DeserializeOwned + Ord, MV: Serialize + DeserializeOwned>(
        &mut self,
        h: &MapState<MK, MV>,
        key: &MK,
    ) -> Result<(), ProcessError> {
        let k = encode(key).map_err(|e| self.err(h, e))?;
        let cell = self.cell(h, StateKind::Map)?;
        if let Cell::Map(m) = cell {
            m.remove(&k);
            if m.is_empty() {
                *cell = Cell::Empty;
            }
        }
        *self.written = true;
        Ok(())
    }

    /// Every entry of a map cell, in the order of its keys.
    pub fn map_entries<MK: Serialize + DeserializeOwned + Ord, MV: Serialize + DeserializeOwned>(
        &mut self,
        h: &MapState<MK, MV>,
    ) -> Result<Vec<(MK, MV)>, ProcessError> {
        let decoded: Result<Vec<(MK, MV)>, String> = match self.cell(h, StateKind::Map)? {
            Cell::Map(m) => m.iter().map(|(k, v)| Ok((decode(k)?, decode(v)?))).collect(),
            _ => Ok(Vec::new()),
        };
        let mut entries = decoded.map_err(|e| self.err(h, e))?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(entries)
    }

    /// Appends `value` to a list cell.
    pub fn push<T: Serialize + DeserializeOwned>(&mut self, h: &ListState<T>, value: &T) -> Result<(), ProcessError> {
        let bytes = encode(value).map_err(|e| self.err(h, e))?;
        let cell = self.cell(h, StateKind::List)?;
        match cell {
            Cell::List(l) => l.push(bytes),
            _ => *cell = Cell::List(vec![bytes]),
        }
        *self.written = true;
        Ok(())
    }

    /// The elements of a list cell, in the order they were pushed.
    pub fn list<T: Serialize + DeserializeOwned>(&mut self, h: &ListState<T>) -> Result<Vec<T>, ProcessError> {
        let decoded: Result<Vec<T>, String> = match self.cell(h, StateKind::List)? {
            Cell::List(l) => l.iter().map(|b| decode(b)).collect(),
            _ => Ok(Vec::new()),
        };
        decoded.map_err(|e| self.err(h, e))
    }

    /// Empties one cell of any kind.
    pub fn clear(&mut self, h: &impl StateHandle) -> Result<(), ProcessError> {
        let (spec, index) = h.cell();
        if spec != self.spec.id() || index >= self.spec.len() {
            return Err(ProcessError::ForeignState);
        }
        if let Some(c) = self.cells.get_mut(index) {
            *c = Cell::Empty;
        }
        *self.written = true;
        Ok(())
    }

    /// Empties every cell of the key.
    pub fn clear_all(&mut self) {
        self.cells.clear();
        *self.written = true;
    }
}

/// Whether a key's cells hold nothing.
pub(crate) fn is_empty(cells: &[Cell]) -> bool {
    cells.iter().all(|c| matches!(c, Cell::Empty))
}
