//! A key's active windows (Beam's `ActiveWindowSet`, and `MergingActiveWindowSet` for
//! merging windows): which windows have state, which are still open, and which take part
//! in a merge.

use super::output::Emitted;
use super::window_state::WinState;
use crate::window::Window;
use serde::{Deserialize, Deserializer, Serialize};

/// One key's state: its windows and, in retracting mode, its panes not yet retracted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyState<A, O> {
    /// The key's windows with state: open ones, and closed ones (trigger finished) kept
    /// until garbage collection so that their late elements are dropped as closed. A window
    /// enters with its first element or as a merge result; when open windows merge, their
    /// states move into the result's and they leave; a window leaves at garbage collection.
    pub windows: WindowMap<A>,
    /// Retracting mode: the panes emitted and not yet retracted. One is retracted (and
    /// leaves) just before the next pane of a window that contains its window; it leaves
    /// without a retraction when its window is garbage-collected (no later window can
    /// contain it). Always empty in the other modes.
    pub unretracted: Vec<Emitted<O>>,
}

impl<A, O> Default for KeyState<A, O> {
    fn default() -> Self {
        KeyState { windows: WindowMap::default(), unretracted: Vec::new() }
    }
}

impl<A, O> KeyState<A, O> {
    /// Whether nothing is left: the key can be forgotten.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.unretracted.is_empty()
    }

    /// Whether `w` has state and its trigger has finished.
    pub fn is_closed(&self, w: &Window) -> bool {
        self.windows.get(w).is_some_and(|s| s.closed)
    }

    /// The state of `w`, made by `new` if it has none.
    pub fn window_or_insert_with(&mut self, w: Window, new: impl FnOnce() -> WinState<A>) -> &mut WinState<A> {
        self.windows.get_or_insert_with(w, new)
    }

    /// The windows that may merge when `new` windows arrive: the open ones and the new
    /// ones, sorted, without duplicates. Closed windows do not take part (Beam: a finished
    /// session does not poison a new one with its bounds).
    pub fn merge_candidates(&self, new: &[Window]) -> Vec<Window> {
        let mut candidates: Vec<Window> = self.windows.iter().filter(|(_, s)| !s.closed).map(|(w, _)| *w).collect();
        candidates.extend(new.iter().copied());
        candidates.sort();
        candidates.dedup();
        candidates
    }

    /// The sources of a merge that are active (open windows with state), in order.
    pub fn active(&self, sources: &[Window]) -> Vec<Window> {
        sources.iter().copied().filter(|w| self.windows.get(w).is_some_and(|s| !s.closed)).collect()
    }
}

/// One key's windows with their states, in window order: a sorted vector, not a tree. A key
/// has a few windows at a time (one or two fixed windows, `size / period` sliding ones, a
/// few sessions), and a tree node is made for eleven: as a `BTreeMap` each key cost a node of
/// eleven window states (a third of the memory of a tumble with allowed lateness, and its
/// cache misses); here it costs what it holds.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub(crate) struct WindowMap<A>(Vec<(Window, WinState<A>)>);

impl<A> Default for WindowMap<A> {
    fn default() -> Self {
        WindowMap(Vec::new())
    }
}

impl<'de, A: Deserialize<'de>> Deserialize<'de> for WindowMap<A> {
    /// What [`Serialize`] wrote; sorted again, so that any sequence of distinct windows is a
    /// valid map.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v: Vec<(Window, WinState<A>)> = Vec::deserialize(d)?;
        v.sort_by_key(|e| e.0);
        v.dedup_by_key(|e| e.0);
        Ok(WindowMap(v))
    }
}

impl<A> WindowMap<A> {
    fn find(&self, w: &Window) -> Result<usize, usize> {
        self.0.binary_search_by(|e| e.0.cmp(w))
    }

    /// No window.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The state of `w`.
    pub fn get(&self, w: &Window) -> Option<&WinState<A>> {
        self.find(w).ok().map(|i| &self.0[i].1)
    }

    /// The state of `w`, to change.
    pub fn get_mut(&mut self, w: &Window) -> Option<&mut WinState<A>> {
        self.find(w).ok().map(|i| &mut self.0[i].1)
    }

    /// Whether `w` has state.
    pub fn contains_key(&self, w: &Window) -> bool {
        self.find(w).is_ok()
    }

    /// Takes the state of `w` out.
    pub fn remove(&mut self, w: &Window) -> Option<WinState<A>> {
        self.find(w).ok().map(|i| self.0.remove(i).1)
    }

    /// Sets the state of `w`, returning the one it replaces.
    pub fn insert(&mut self, w: Window, state: WinState<A>) -> Option<WinState<A>> {
        match self.find(&w) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, state)),
            Err(i) => {
                self.0.insert(i, (w, state));
                None
            }
        }
    }

    /// The state of `w`, made by `new` if it has none.
    pub fn get_or_insert_with(&mut self, w: Window, new: impl FnOnce() -> WinState<A>) -> &mut WinState<A> {
        let i = match self.find(&w) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (w, new()));
                i
            }
        };
        &mut self.0[i].1
    }

    /// The states, in window order.
    pub fn values(&self) -> impl Iterator<Item = &WinState<A>> + Clone {
        self.0.iter().map(|e| &e.1)
    }

    /// The windows and their states, in window order.
    pub fn iter(&self) -> impl Iterator<Item = (&Window, &WinState<A>)> {
        self.0.iter().map(|e| (&e.0, &e.1))
    }
}

impl<'a, A> IntoIterator for &'a WindowMap<A> {
    type Item = (&'a Window, &'a WinState<A>);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'a, (Window, WinState<A>)>, fn(&'a (Window, WinState<A>)) -> Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|e| (&e.0, &e.1))
    }
}
