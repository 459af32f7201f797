//! [`ProcessRunner`]: every key of one worker — its state cells, its timers, the order
//! calls happen in — as plain Rust, driven by the operator stamp by stamp.

use super::key_state::KeyState;
use super::process::{Context, Emitted, KeyedProcess, ProcessSpec};
use super::state::{is_empty, Cell, StateKind, StateSpec};
use super::timer::{TimeDomain, Timer};
use crate::time::NEG_INF;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::hash::Hash;

/// What a refused record, timer or output was.
#[derive(Clone, Debug, PartialEq)]
pub enum RejectedItem<V, O> {
    /// A record whose call returned an error or asked for a dead letter.
    Record(V),
    /// A timer whose call did.
    Timer(Timer),
    /// An output behind the earliest time its call could emit at.
    Output(O),
}

/// A record, timer or output of a process step that became a dead letter.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected<K, V, O> {
    /// The key.
    pub key: K,
    /// The record's event time, the timer's time, or the output's event time.
    pub event_time: i64,
    /// The input watermark then.
    pub watermark: i64,
    /// What was refused.
    pub item: RejectedItem<V, O>,
    /// Why, in words that say what to do.
    pub reason: String,
    /// Whether the call refused the record as too late
    /// ([`ProcessError::TooLate`](super::ProcessError::TooLate)).
    pub too_late: bool,
}

/// One key in a checkpoint: cells by name, so that a checkpoint names what it holds.
#[derive(Serialize, Deserialize)]
struct SavedKey {
    cells: Vec<(String, StateKind, Cell)>,
    event: BTreeMap<String, i64>,
    processing: BTreeMap<String, i64>,
    touched: Option<i64>,
}

/// The runner's state in a checkpoint.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "K: Serialize", deserialize = "K: DeserializeOwned"))]
struct Saved<K> {
    watermark: i64,
    keys: Vec<(K, SavedKey)>,
}

/// What a call is for.
enum Call<'v, V> {
    Record(&'v V),
    Timer(Timer),
}

/// The keyed process of one worker: every key's state and timers, and the order of calls.
///
/// Driven per stamp, in stamp order: [`ProcessRunner::advance_watermark`] to the stamp's
/// watermark (event-time timers and expired state, in `(time, key, tag)` order, user
/// timers before a key's expiry at the same time), then [`ProcessRunner::apply`] with the
/// stamp's records (sorted by key, event time, then the bytes of the value), then, per
/// activation, [`ProcessRunner::advance_processing_time`]. Outputs and dead letters are
/// collected until [`ProcessRunner::drain`].
///
/// ```
/// use highwater::model::keyed::{Context, KeyedProcess, ProcessError, ProcessRunner, ProcessSpec, StateSpec, Timer, ValueState};
/// struct Sum(ValueState<u64>);
/// impl KeyedProcess<char, u64> for Sum {
///     type Out = (char, u64);
///     fn on_record(&self, ctx: &mut Context<'_, char, (char, u64)>, key: &char, v: &u64) -> Result<(), ProcessError> {
///         let sum = ctx.state().get(&self.0)?.unwrap_or(0) + v;
///         ctx.state().set(&self.0, &sum)?;
///         ctx.timers().set_event_time(100, "report")
///     }
///     fn on_timer(&self, ctx: &mut Context<'_, char, (char, u64)>, key: &char, _: &Timer) -> Result<(), ProcessError> {
///         let sum = ctx.state().get(&self.0)?.unwrap_or(0);
///         ctx.emit(ctx.event_time(), (*key, sum));
///         Ok(())
///     }
/// }
/// let mut state = StateSpec::new();
/// let sum = state.value("sum");
/// let mut runner = ProcessRunner::new(ProcessSpec::new(state, Sum(sum)));
/// runner.apply(vec![('a', 5, 2), ('a', 3, 1), ('b', 4, 7)], 0);
/// runner.advance_watermark(101, 0);
/// let (mut out, mut dead) = (Vec::new(), Vec::new());
/// runner.drain(&mut out, &mut dead);
/// let got: Vec<_> = out.iter().map(|e| (e.event_time, e.value)).collect();
/// assert_eq!(got, [(100, ('a', 3)), (100, ('b', 7))]);
/// assert!(dead.is_empty());
/// ```
pub struct ProcessRunner<K, V, P: KeyedProcess<K, V>> {
    /// The user's process.
    process: P,
    /// The declared cells.
    spec: StateSpec,
    /// The state's time to live in event time, if any.
    ttl: Option<i64>,
    /// Every key with state or timers; a key with neither is removed.
    keys: rustc_hash::FxHashMap<K, KeyState>,
    /// Event-time timers `(time, key, tag)`: the earliest is the operator's output hold.
    event: BTreeSet<(i64, K, String)>,
    /// Processing-time timers `(time, key, tag)`: the earliest is what the operator wakes
    /// up for.
    processing: BTreeSet<(i64, K, String)>,
    /// When each key's state expires, `(touched + ttl, key)`, with a time to live.
    expiries: BTreeSet<(i64, K)>,
    /// The input watermark applied so far.
    watermark: i64,
    /// Outputs not yet drained.
    out: Vec<Emitted<P::Out>>,
    /// Dead letters not yet drained.
    rejected: Vec<Rejected<K, V, P::Out>>,
}

impl<K, V, P> ProcessRunner<K, V, P>
where
    K: Clone + Hash + Eq + Ord + Debug + Serialize + DeserializeOwned,
    V: Clone + Serialize,
    P: KeyedProcess<K, V>,
{
    /// A runner with no keys, at watermark −∞. The spec must be checked
    /// ([`ProcessSpec::check`]): an invalid time to live is ignored here.
    pub fn new(spec: ProcessSpec<P>) -> Self {
        let ttl = spec.ttl();
        ProcessRunner {
            process: spec.process,
            spec: spec.state,
            ttl,
            keys: Default::default(),
            event: BTreeSet::new(),
            processing: BTreeSet::new(),
            expiries: BTreeSet::new(),
            watermark: NEG_INF,
            out: Vec::new(),
            rejected: Vec::new(),
        }
    }

    /// The input watermark applied so far.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// The earliest pending event-time timer: the operator holds its output there.
    pub fn min_hold(&self) -> Option<i64> {
        self.event.first().map(|t| t.0)
    }

    /// The earliest pending processing-time timer.
    pub fn next_processing_deadline(&self) -> Option<i64> {
        self.processing.first().map(|t| t.0)
    }

    /// The number of keys holding state or timers.
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// The number of pending timers, event- and processing-time.
    pub fn timers(&self) -> usize {
        self.event.len() + self.processing.len()
    }

    /// Moves the outputs and dead letters so far into `out` and `dead`.
    pub fn drain(&mut self, out: &mut Vec<Emitted<P::Out>>, dead: &mut Vec<Rejected<K, V, P::Out>>) {
        out.append(&mut self.out);
        dead.append(&mut self.rejected);
    }

    /// Advances the input watermark to `to`: every event-time timer before `to` fires, and
    /// every key whose state expired before `to` is cleared, in `(time, key)` order (at
    /// the same time and key, the key's timers in tag order, then its expiry). A timer
    /// at `t` fires with the watermark at `t + 1`; timers it sets before `to` fire in
    /// this same advance.
    pub fn advance_watermark(&mut self, to: i64, now: i64) {
        loop {
            let user = self.event.first().filter(|t| t.0 < to).map(|t| (t.0, t.1.clone()));
            let expiry = self.expiries.first().filter(|e| e.0 < to).cloned();
            let user_first = match (&user, &expiry) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(u), Some(e)) => (u.0, &u.1) <= (e.0, &e.1),
            };
            if user_first {
                let Some((time, key, tag)) = self.event.pop_first() else { break };
                if let Some(ks) = self.keys.get_mut(&key) {
                    ks.event.remove(&tag);
                }
                self.watermark = self.watermark.max(time.saturating_add(1));
                let timer = Timer { domain: TimeDomain::EventTime, time, tag };
                self.call(key, Call::Timer(timer), time, (time, "the timer's time"), now, Some(time));
            } else {
                let Some((time, key)) = self.expiries.pop_first() else { break };
                self.watermark = self.watermark.max(time.saturating_add(1));
                if let Some(ks) = self.keys.get_mut(&key) {
                    ks.cells.clear();
                    ks.touched = None;
                    if ks.is_empty() {
                        self.keys.remove(&key);
                    }
                }
            }
        }
        self.watermark = self.watermark.max(to);
    }

    /// Applies one stamp's records `(key, event time, value)` at the current watermark, in
    /// the canonical order: by key, then event time, then the value's serialised bytes
    /// (bincode), so the order does not depend on how they arrived.
    pub fn apply(&mut self, mut records: Vec<(K, i64, V)>, now: i64) {
        sort_canonically(&mut records);
        for (key, t, v) in records {
            self.call(key, Call::Record(&v), t, (t, "the record's event time"), now, None);
        }
    }

    /// Fires every processing-time timer before `now`, in `(time, key, tag)` order.
    pub fn advance_processing_time(&mut self, now: i64) {
        while self.processing.first().is_some_and(|t| t.0 < now) {
            let Some((time, key, tag)) = self.processing.pop_first() else { break };
            if let Some(ks) = self.keys.get_mut(&key) {
                ks.processing.remove(&tag);
            }
            let wm = self.watermark;
            let timer = Timer { domain: TimeDomain::ProcessingTime, time, tag };
            self.call(key, Call::Timer(timer), wm, (wm, "the input watermark"), now, None);
        }
    }

    /// One call of the process for `key`.
    fn call(
        &mut self,
        key: K,
        call: Call<'_, V>,
        event_time: i64,
        earliest: (i64, &'static str),
        now: i64,
        hold: Option<i64>,
    ) {
        let mut ks = self.keys.remove(&key).unwrap_or_default();
        let mut refused = Vec::new();
        let watermark = self.watermark;
        let (result, written, dead) = {
            let mut ctx = Context {
                key: &key,
                spec: &self.spec,
                ks: &mut ks,
                written: false,
                event_time,
                earliest,
                watermark,
                now,
                event_timers: &mut self.event,
                processing_timers: &mut self.processing,
                hold,
                out: &mut self.out,
                refused: &mut refused,
                dead: None,
            };
            let result = match &call {
                Call::Record(v) => self.process.on_record(&mut ctx, &key, v),
                Call::Timer(t) => self.process.on_timer(&mut ctx, &key, t),
            };
            (result, ctx.written, ctx.dead)
        };
        if written {
            self.touch(&key, &mut ks, event_time);
        }
        for (t, o, e) in refused {
            self.rejected.push(Rejected {
                key: key.clone(),
                event_time: t,
                watermark,
                item: RejectedItem::Output(o),
                reason: e.to_string(),
                too_late: false,
            });
        }
        let too_late = matches!(&result, Err(e) if e.is_too_late());
        let reason = match result {
            Err(e) => Some(e.to_string()),
            Ok(()) => dead,
        };
        if let Some(reason) = reason {
            let item = match call {
                Call::Record(v) => RejectedItem::Record(v.clone()),
                Call::Timer(t) => RejectedItem::Timer(t),
            };
            self.rejected.push(Rejected { key: key.clone(), event_time, watermark, item, reason, too_late });
        }
        if !ks.is_empty() {
            self.keys.insert(key, ks);
        }
    }

    /// Records a write at `event_time`: the key's state expires `ttl` after its latest.
    fn touch(&mut self, key: &K, ks: &mut KeyState, event_time: i64) {
        let Some(ttl) = self.ttl else { return };
        if let Some(old) = ks.touched {
            self.expiries.remove(&(old.saturating_add(ttl), key.clone()));
        }
        if is_empty(&ks.cells) {
            ks.cells.clear();
            ks.touched = None;
            return;
        }
        let t = ks.touched.map_or(event_time, |old| old.max(event_time));
        ks.touched = Some(t);
        self.expiries.insert((t.saturating_add(ttl), key.clone()));
    }

    /// The state of every key (cells by name, timers, last write) and the watermark, as
    /// bytes for a checkpoint.
    pub fn save_state(&self) -> Result<Vec<u8>, String> {
        let mut keys: Vec<(K, SavedKey)> = self
            .keys
            .iter()
            .map(|(k, ks)| {
                let cells = ks
                    .cells
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| !matches!(c, Cell::Empty))
                    .map(|(i, c)| (self.spec.name(i).to_string(), self.spec.kind(i), c.clone()))
                    .collect();
                let saved =
                    SavedKey { cells, event: ks.event.clone(), processing: ks.processing.clone(), touched: ks.touched };
                (k.clone(), saved)
            })
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        bincode::serialize(&Saved { watermark: self.watermark, keys }).map_err(|e| e.to_string())
    }

    /// Adds the keys of a checkpoint's piece that `owns` keeps. A piece that does not
    /// decode, a cell this step does not declare (or declares with another kind), and a
    /// value that does not decode as the cell's type are errors naming the cell and key.
    pub fn restore_state(&mut self, bytes: &[u8], owns: impl Fn(&K) -> bool) -> Result<(), String> {
        let saved: Saved<K> = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        self.watermark = self.watermark.max(saved.watermark);
        for (key, s) in saved.keys.into_iter().filter(|(k, _)| owns(k)) {
            let mut ks = KeyState { cells: Vec::new(), event: s.event, processing: s.processing, touched: s.touched };
            for (name, kind, cell) in s.cells {
                let at = |e: String| format!("key {key:?}: {e}");
                let i = self.spec.index_of(&name, kind).map_err(at)?;
                self.spec.check_cell(i, &cell).map_err(at)?;
                if ks.cells.len() <= i {
                    ks.cells.resize(i + 1, Cell::Empty);
                }
                ks.cells[i] = cell;
            }
            for (tag, t) in &ks.event {
                self.event.insert((*t, key.clone(), tag.clone()));
            }
            for (tag, t) in &ks.processing {
                self.processing.insert((*t, key.clone(), tag.clone()));
            }
            if let (Some(ttl), Some(t)) = (self.ttl, ks.touched) {
                self.expiries.insert((t.saturating_add(ttl), key.clone()));
            }
            self.keys.insert(key, ks);
        }
        Ok(())
    }
}

/// Sorts one stamp's records by key, then event time, then the value's serialised bytes
/// (only computed for records of the same key and event time).
pub(crate) fn sort_canonically<K: Ord, V: Serialize>(records: &mut [(K, i64, V)]) {
    records.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut i = 0;
    while i < records.len() {
        let mut j = i + 1;
        while j < records.len() && records[j].0 == records[i].0 && records[j].1 == records[i].1 {
            j += 1;
        }
        if j - i > 1 {
            records[i..j].sort_by_cached_key(|r| bincode::serialize(&r.2).unwrap_or_default());
        }
        i = j;
    }
}
