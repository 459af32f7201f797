//! The keyed windowed reduction: Beam Java's `ReduceFnRunner`, for every key at once.
//!
//! [`WindowedReducer`] holds, per key and window, a pane state (accumulator, trigger state,
//! pane index, watermark holds, retraction bookkeeping), event-time and processing-time
//! timers in ordered sets, and a counted multiset of holds for the output watermark. It
//! is driven by three calls — a bundle of elements, a new input watermark, a new
//! processing time — and leaves the panes and dead letters it produced in
//! [`WindowedReducer::take_output`]. It knows nothing of timely; the timely operator in
//! [`crate::operator`] drives it.
//!
//! ```
//! use highwater_operators::combine::Collect;
//! use highwater_operators::reduce::WindowedReducer;
//! use highwater_operators::strategy::WindowingStrategy;
//! use highwater_operators::window::{Window, WindowSpec};
//!
//! let strategy = WindowingStrategy::new(WindowSpec::fixed(10)).build().unwrap();
//! let mut r = WindowedReducer::new(strategy, Collect);
//! r.process_key("k", vec![(1, 1), (2, 2), (12, 12)], 0);
//! r.advance_watermark(10, 0);
//! let out = r.take_output();
//! assert_eq!(out.panes.len(), 1);
//! assert_eq!(out.panes[0].window, Window::new(0, 10));
//! assert_eq!(out.panes[0].value, vec![1, 2]);
//! ```

mod state;

use crate::combine::CombineFn;
use crate::pane::{Pane, PaneInfo, Timing};
use crate::strategy::{Accumulation, TimestampCombiner, WindowingStrategy};
use crate::time::NEG_INF;
use crate::trigger::{TimerDomain, TriggerCtx, TriggerMachine};
use crate::window::Window;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use state::{Emitted, KeyState, WinState};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;

/// Why an element was not added to a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DropReason {
    /// The watermark had passed the window's end plus the allowed lateness.
    TooLate,
    /// The window's trigger had finished.
    WindowClosed,
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DropReason::TooLate => "too late: the watermark passed the window's end plus the allowed lateness",
            DropReason::WindowClosed => "the window's trigger has finished",
        })
    }
}

/// An element that was dropped for one of its windows (dead-letter output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dropped<K, V> {
    /// The element's key.
    pub key: K,
    /// The element's event time.
    pub timestamp: i64,
    /// The element.
    pub value: V,
    /// The window it was dropped for.
    pub window: Window,
    /// Why.
    pub reason: DropReason,
    /// The input watermark then.
    pub watermark: i64,
}

/// Panes and dead letters produced since the last [`WindowedReducer::take_output`].
#[derive(Debug)]
pub struct Output<K, O, V> {
    /// Emitted panes (and retractions) in emission order.
    pub panes: Vec<Pane<K, O>>,
    /// Dropped elements.
    pub dropped: Vec<Dropped<K, V>>,
}

impl<K, O, V> Default for Output<K, O, V> {
    fn default() -> Self {
        Output { panes: Vec::new(), dropped: Vec::new() }
    }
}

/// Counters of a reducer, for the run summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReducerStats {
    /// Elements added to a window.
    pub added: u64,
    /// Element-windows dropped as too late.
    pub dropped_late: u64,
    /// Element-windows dropped because the window had closed.
    pub dropped_closed: u64,
    /// Panes emitted (not counting retractions).
    pub panes: u64,
    /// Retractions emitted.
    pub retractions: u64,
}

/// Which output watermark decides pane timing (LATE once it passes the end of a window) and
/// which element holds are still possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OutputWatermarkMode {
    /// One value for the whole aggregation, set from outside after each watermark advance
    /// ([`WindowedReducer::set_output_watermark`]) or recomputed from this reducer
    /// ([`WindowedReducer::refresh_output_watermark`]): Beam's ReduceFnTester semantics,
    /// which the conformance runner drives in lockstep.
    #[default]
    Global,
    /// Per key and continuous: `min(input watermark, the key's holds)` at the moment it is
    /// needed ("the local output watermark (also for this key)", as Beam's
    /// `ReduceFnRunner` describes it). Event-time timers fire one at a time in timestamp
    /// order, each as if the watermark had just passed it (a timer at `t` sees input
    /// watermark `t + 1` and output watermark `min(t, holds)`), whatever jumps the real
    /// watermark made. It needs no communication between workers, so the panes are the
    /// same at any worker count and any scheduling.
    PerKey,
}

/// The keyed windowed reduction of one worker. See the module docs.
pub struct WindowedReducer<K, V, C: CombineFn<V>> {
    strategy: WindowingStrategy,
    machine: TriggerMachine,
    merging: bool,
    combine: C,
    keys: rustc_hash::FxHashMap<K, KeyState<C::Acc, C::Out>>,
    event_timers: BTreeSet<(i64, K, Window)>,
    proc_timers: BTreeSet<(i64, K, Window)>,
    holds: BTreeMap<i64, usize>,
    input_wm: i64,
    output_wm: i64,
    owm_mode: OutputWatermarkMode,
    owm_basis: Option<i64>,
    tick: u64,
    seq: u64,
    out: Output<K, C::Out, V>,
    stats: ReducerStats,
    scratch_windows: Vec<Window>,
    scratch_timers: Vec<(TimerDomain, i64)>,
}

impl<K, V, C> WindowedReducer<K, V, C>
where
    K: Clone + Hash + Eq + Ord,
    V: Clone,
    C: CombineFn<V>,
{
    /// A reducer for `strategy` aggregating with `combine`.
    pub fn new(strategy: WindowingStrategy, combine: C) -> Self {
        let machine = strategy.machine();
        let merging = strategy.window_fn.is_merging();
        WindowedReducer {
            strategy,
            machine,
            merging,
            combine,
            keys: Default::default(),
            event_timers: BTreeSet::new(),
            proc_timers: BTreeSet::new(),
            holds: BTreeMap::new(),
            input_wm: NEG_INF,
            output_wm: NEG_INF,
            owm_mode: OutputWatermarkMode::Global,
            owm_basis: None,
            tick: 0,
            seq: 0,
            out: Output::default(),
            stats: ReducerStats::default(),
            scratch_windows: Vec::new(),
            scratch_timers: Vec::new(),
        }
    }

    /// Chooses how the output watermark is kept (see [`OutputWatermarkMode`]).
    pub fn with_output_watermark_mode(mut self, mode: OutputWatermarkMode) -> Self {
        self.owm_mode = mode;
        self
    }

    /// The output watermark for the too-late check of a hold at `hold`: computed only when
    /// it can matter (the output watermark never exceeds the input watermark).
    fn lazy_owm(&self, ks: &KeyState<C::Acc, C::Out>, hold: i64) -> i64 {
        if hold < self.input_wm {
            self.owm_for(ks, None)
        } else {
            NEG_INF
        }
    }

    /// The hold an element at `t` places in `w` (the timestamp combiner's output time).
    fn shift(&self, w: Window, t: i64) -> i64 {
        match self.strategy.timestamp_combiner {
            TimestampCombiner::EndOfWindow => w.max_timestamp(),
            TimestampCombiner::EarliestTransformed(d) => t.saturating_add(d),
            _ => t,
        }
    }

    /// The output watermark that applies to key state `ks` (and a window taken out of it).
    fn owm_for(&self, ks: &KeyState<C::Acc, C::Out>, extra: Option<&WinState<C::Acc>>) -> i64 {
        match self.owm_mode {
            OutputWatermarkMode::Global => self.output_wm,
            OutputWatermarkMode::PerKey => {
                let mut m = self.owm_basis.unwrap_or(self.input_wm);
                for ws in ks.windows.values().chain(extra) {
                    for h in [ws.element_hold, ws.extra_hold].into_iter().flatten() {
                        m = m.min(h);
                    }
                }
                m
            }
        }
    }

    /// The progress tick stamped on panes emitted from now on.
    pub fn set_tick(&mut self, tick: u64) {
        self.tick = tick;
    }
    /// The input watermark.
    pub fn input_watermark(&self) -> i64 {
        self.input_wm
    }
    /// The output watermark used for pane timing and holds.
    pub fn output_watermark(&self) -> i64 {
        self.output_wm
    }
    /// The earliest watermark hold of any key and window, if any.
    pub fn min_hold(&self) -> Option<i64> {
        self.holds.keys().next().copied()
    }
    /// Recomputes the output watermark from this reducer alone: `min(input watermark,
    /// holds)`, never moving backwards. Exact on one worker.
    pub fn refresh_output_watermark(&mut self) {
        let v = self.min_hold().map_or(self.input_wm, |h| h.min(self.input_wm));
        self.set_output_watermark(v);
    }
    /// Sets the output watermark from outside (the minimum over all workers), never
    /// moving it backwards.
    pub fn set_output_watermark(&mut self, v: i64) {
        self.output_wm = self.output_wm.max(v.min(self.input_wm));
    }
    /// The earliest pending processing-time timer.
    pub fn next_processing_deadline(&self) -> Option<i64> {
        self.proc_timers.first().map(|t| t.0)
    }
    /// The earliest pending event-time timer.
    pub fn next_event_timer(&self) -> Option<i64> {
        self.event_timers.first().map(|t| t.0)
    }
    /// Counters so far.
    pub fn stats(&self) -> ReducerStats {
        self.stats
    }
    /// Number of keys with open state.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
    /// Takes the panes and dead letters produced so far.
    pub fn take_output(&mut self) -> Output<K, C::Out, V> {
        std::mem::take(&mut self.out)
    }
    /// Appends produced panes and dead letters to `panes` and `dropped`.
    pub fn drain_into(&mut self, panes: &mut Vec<Pane<K, C::Out>>, dropped: &mut Vec<Dropped<K, V>>) {
        panes.append(&mut self.out.panes);
        dropped.append(&mut self.out.dropped);
    }

    /// Processes one bundle of elements `(key, event time, value)`: grouped by key, each
    /// key's elements are added and then each touched window is evaluated once.
    pub fn process_bundle(&mut self, mut elements: Vec<(K, i64, V)>, now: i64) {
        elements.sort_by(|a, b| a.0.cmp(&b.0));
        let mut run: Vec<(i64, V)> = Vec::new();
        let mut iter = elements.into_iter().peekable();
        while let Some((k, t, v)) = iter.next() {
            run.push((t, v));
            if iter.peek().is_none_or(|n| n.0 != k) {
                self.process_key(k, std::mem::take(&mut run), now);
            }
        }
    }

    /// Processes one key's part of a bundle (Beam's `processElements`).
    pub fn process_key(&mut self, key: K, elements: Vec<(i64, V)>, now: i64) {
        if elements.is_empty() {
            return;
        }
        let lateness = self.strategy.allowed_lateness;
        let mut ks = self.keys.remove(&key).unwrap_or_default();
        // Assign windows and drop what is too late (Beam's LateDataFilter).
        let mut assigned: Vec<(usize, Window)> = Vec::with_capacity(elements.len());
        for (i, (t, v)) in elements.iter().enumerate() {
            self.scratch_windows.clear();
            self.strategy.window_fn.assign(*t, &mut self.scratch_windows);
            for &w in &self.scratch_windows {
                if w.gc_time(lateness) < self.input_wm {
                    self.stats.dropped_late += 1;
                    self.out.dropped.push(Dropped {
                        key: key.clone(),
                        timestamp: *t,
                        value: v.clone(),
                        window: w,
                        reason: DropReason::TooLate,
                        watermark: self.input_wm,
                    });
                } else {
                    assigned.push((i, w));
                }
            }
        }
        // The windows of the bundle. A proto-window with the bounds of a closed session
        // still takes part in merging as a new window (Beam: finished sessions do not
        // poison); only an element whose window *ends up* closed is dropped.
        let mut windows: Vec<Window> = assigned.iter().map(|a| a.1).collect();
        windows.sort();
        windows.dedup();
        // Merge (sessions).
        let mut merged_into: FxHashMap<Window, Window> = FxHashMap::default();
        if self.merging {
            self.merge_windows(&key, &mut ks, &windows, now, &mut merged_into);
        }
        let map = |w: Window| *merged_into.get(&w).unwrap_or(&w);
        let mut consider: Vec<Window> = windows.iter().map(|w| map(*w)).collect();
        consider.sort();
        consider.dedup();
        consider.retain(|w| !ks.windows.get(w).is_some_and(|s| s.closed));
        // Add the elements.
        let mut values: Vec<Option<(i64, V)>> = elements.into_iter().map(Some).collect();
        let n = assigned.len();
        for j in 0..n {
            let (i, proto) = assigned[j];
            let w = map(proto);
            let last_use = j + 1 == n || assigned[j + 1].0 != i;
            let (t, v) = if last_use {
                values[i].take().expect("each element is consumed once")
            } else {
                let (t, v) = values[i].as_ref().expect("present");
                (*t, v.clone())
            };
            if ks.windows.get(&w).is_some_and(|s| s.closed) {
                self.stats.dropped_closed += 1;
                self.out.dropped.push(Dropped {
                    key: key.clone(),
                    timestamp: t,
                    value: v,
                    window: w,
                    reason: DropReason::WindowClosed,
                    watermark: self.input_wm,
                });
                continue;
            }
            self.add_element(&key, &mut ks, w, t, v, now);
        }
        // Evaluate each touched window once.
        for w in consider {
            self.evaluate(&key, &mut ks, w, now);
        }
        self.put_back(key, ks);
    }

    /// Applies one bundle of partial aggregates `(key, window, accumulator, element count)`
    /// made before the exchange (see [`WindowingStrategy::can_precombine`]): the same panes
    /// as applying the elements one by one, for a fraction of the work. Too-late elements
    /// must have been dropped by the pre-combiner (same watermark, same decision).
    pub fn process_partials(&mut self, mut partials: Vec<(K, Window, C::Acc, u64)>, now: i64) {
        // Group by key, then window: each key's state is taken out once, all its partials are
        // added (partials of one window from several workers merge), then each of its
        // windows is evaluated once, in window order.
        // Keys are independent, so they are grouped by hashing; a key's windows are sorted.
        let mut groups: rustc_hash::FxHashMap<K, Vec<(Window, C::Acc, u64)>> = Default::default();
        for (k, w, acc, n) in partials.drain(..) {
            groups.entry(k).or_default().push((w, acc, n));
        }
        let lateness = self.strategy.allowed_lateness;
        let mut touched: Vec<Window> = Vec::new();
        for (key, mut list) in groups {
            list.sort_unstable_by_key(|a| a.0);
            let mut ks = self.keys.remove(&key).unwrap_or_default();
            touched.clear();
            for (w, acc, count) in list {
                if ks.windows.get(&w).is_some_and(|s| s.closed) {
                    // Not possible when `can_precombine` holds (windows never close); counted.
                    self.stats.dropped_closed += count;
                } else {
                    let owm = self.lazy_owm(&ks, w.max_timestamp());
                    let ws = match ks.windows.entry(w) {
                        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::btree_map::Entry::Vacant(e) => {
                            e.insert(WinState::new(self.combine.create(), self.machine.new_state()))
                        }
                    };
                    ws.nonempty = true;
                    self.set_timer(&key, w, ws, TimerDomain::EventTime, w.gc_time(lateness));
                    // End-of-window holds are the same for every element of the window.
                    self.add_holds(w, ws, w.max_timestamp(), owm);
                    self.combine.merge(&mut ws.acc, acc);
                    self.stats.added += count;
                    let mut timers = std::mem::take(&mut self.scratch_timers);
                    {
                        let mut cx = TriggerCtx { window: w, input_wm: self.input_wm, now, timers: &mut timers };
                        for _ in 0..count {
                            self.machine.on_element(&mut ws.trigger, &mut cx);
                        }
                    }
                    self.scratch_timers = timers;
                    if !self.scratch_timers.is_empty() {
                        self.apply_timers(&key, w, ws);
                    }
                    if touched.last() != Some(&w) {
                        touched.push(w);
                    }
                }
            }
            for &w in &touched {
                self.evaluate(&key, &mut ks, w, now);
            }
            self.put_back(key, ks);
        }
    }

    /// Advances the input watermark to `wm` and fires the event-time timers it passes
    /// (Beam's `advanceInputWatermark`). Does not move the output watermark: call
    /// [`Self::refresh_output_watermark`] or [`Self::set_output_watermark`] after.
    pub fn advance_watermark(&mut self, wm: i64, now: i64) {
        if wm <= self.input_wm {
            return;
        }
        self.input_wm = wm;
        self.fire_timers(TimerDomain::EventTime, wm, now);
    }

    /// Advances processing time to `now` and fires the processing-time timers it passes.
    pub fn advance_processing_time(&mut self, now: i64) {
        self.fire_timers(TimerDomain::ProcessingTime, now, now);
    }

    fn put_back(&mut self, key: K, ks: KeyState<C::Acc, C::Out>) {
        if !ks.windows.is_empty() || !ks.unretracted.is_empty() {
            self.keys.insert(key, ks);
        }
    }

    fn hold_add(&mut self, h: Option<i64>) {
        if let Some(h) = h {
            *self.holds.entry(h).or_default() += 1;
        }
    }
    fn hold_remove(&mut self, h: Option<i64>) {
        if let Some(h) = h {
            if let Some(c) = self.holds.get_mut(&h) {
                *c -= 1;
                if *c == 0 {
                    self.holds.remove(&h);
                }
            }
        }
    }
    fn set_element_hold(&mut self, ws: &mut WinState<C::Acc>, h: Option<i64>) {
        let old = std::mem::replace(&mut ws.element_hold, h);
        self.hold_remove(old);
        self.hold_add(h);
    }
    fn set_extra_hold(&mut self, ws: &mut WinState<C::Acc>, h: Option<i64>) {
        let old = std::mem::replace(&mut ws.extra_hold, h);
        self.hold_remove(old);
        self.hold_add(h);
    }

    fn set_timer(&mut self, key: &K, w: Window, ws: &mut WinState<C::Acc>, domain: TimerDomain, t: i64) {
        if ws.timers.contains(&(domain, t)) {
            return;
        }
        ws.timers.push((domain, t));
        let set = match domain {
            TimerDomain::EventTime => &mut self.event_timers,
            TimerDomain::ProcessingTime => &mut self.proc_timers,
        };
        set.insert((t, key.clone(), w));
    }

    fn apply_timers(&mut self, key: &K, w: Window, ws: &mut WinState<C::Acc>) {
        let timers = std::mem::take(&mut self.scratch_timers);
        for &(d, t) in &timers {
            self.set_timer(key, w, ws, d, t);
        }
        self.scratch_timers = timers;
        self.scratch_timers.clear();
    }

    fn delete_timers(&mut self, key: &K, w: Window, ws: &mut WinState<C::Acc>) {
        for (d, t) in ws.timers.drain(..) {
            let set = match d {
                TimerDomain::EventTime => &mut self.event_timers,
                TimerDomain::ProcessingTime => &mut self.proc_timers,
            };
            set.remove(&(t, key.clone(), w));
        }
    }

    /// WatermarkHold.addHolds: an element hold if on time, else a garbage-collection hold.
    fn add_holds(&mut self, w: Window, ws: &mut WinState<C::Acc>, t: i64, owm: i64) {
        if !self.add_element_hold(w, ws, t, owm) {
            self.add_gc_hold(w, ws);
        }
    }

    fn add_element_hold(&mut self, w: Window, ws: &mut WinState<C::Acc>, t: i64, owm: i64) -> bool {
        let combiner = self.strategy.timestamp_combiner;
        let hold = self.shift(w, t);
        let too_late = hold < owm || w.max_timestamp() < self.input_wm;
        if too_late {
            return false;
        }
        let new = Some(ws.element_hold.map_or(hold, |h| combiner.combine(h, hold)));
        self.set_element_hold(ws, new);
        true
    }

    fn add_gc_hold(&mut self, w: Window, ws: &mut WinState<C::Acc>) {
        let gc = w.gc_time(self.strategy.allowed_lateness);
        if gc < self.input_wm {
            return;
        }
        let new = Some(ws.extra_hold.map_or(gc, |h| h.min(gc)));
        self.set_extra_hold(ws, new);
    }

    fn add_element(&mut self, key: &K, ks: &mut KeyState<C::Acc, C::Out>, w: Window, t: i64, v: V, now: i64) {
        let lateness = self.strategy.allowed_lateness;
        let owm = self.lazy_owm(ks, self.shift(w, t));
        let ws = match ks.windows.entry(w) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(WinState::new(self.combine.create(), self.machine.new_state()))
            }
        };
        ws.nonempty = true;
        self.set_timer(key, w, ws, TimerDomain::EventTime, w.gc_time(lateness));
        self.add_holds(w, ws, t, owm);
        self.combine.add(&mut ws.acc, v);
        self.stats.added += 1;
        let mut timers = std::mem::take(&mut self.scratch_timers);
        {
            let mut cx = TriggerCtx { window: w, input_wm: self.input_wm, now, timers: &mut timers };
            self.machine.on_element(&mut ws.trigger, &mut cx);
        }
        self.scratch_timers = timers;
        if !self.scratch_timers.is_empty() {
            self.apply_timers(key, w, ws);
        }
    }

    fn merge_windows(
        &mut self,
        key: &K,
        ks: &mut KeyState<C::Acc, C::Out>,
        new: &[Window],
        now: i64,
        merged_into: &mut FxHashMap<Window, Window>,
    ) {
        let mut candidates: Vec<Window> = ks.windows.iter().filter(|(_, s)| !s.closed).map(|(w, _)| *w).collect();
        candidates.extend(new.iter().copied());
        candidates.sort();
        candidates.dedup();
        let merges = self.strategy.window_fn.merge(&candidates);
        let owm = self.owm_for(ks, None);
        for m in merges {
            let result = m.result;
            let active: Vec<Window> =
                m.sources.iter().copied().filter(|w| ks.windows.get(w).is_some_and(|s| !s.closed)).collect();
            let result_is_source = active.contains(&result);
            let mut base = match ks.windows.remove(&result) {
                Some(s) => s,
                None => WinState::new(self.combine.create(), self.machine.new_state()),
            };
            // The active sources' states, the result's own first if it is one.
            let mut sources: Vec<WinState<C::Acc>> = Vec::new();
            for w in &active {
                if *w == result {
                    continue;
                }
                let mut s = ks.windows.remove(w).expect("active window has state");
                self.delete_timers(key, *w, &mut s);
                sources.push(s);
            }
            // Contents (reduceFn.onMerge).
            for s in sources.iter_mut() {
                let acc = std::mem::replace(&mut s.acc, self.combine.create());
                self.combine.merge(&mut base.acc, acc);
            }
            // Element holds (WatermarkHold.onMerge).
            let combiner = self.strategy.timestamp_combiner;
            if active.is_empty() {
                // nothing to merge
            } else if active.len() == 1 && result_is_source && combiner != TimestampCombiner::Latest {
                // source and sink are the same
            } else if combiner == TimestampCombiner::EndOfWindow {
                for s in sources.iter_mut() {
                    self.set_element_hold(s, None);
                }
                self.set_element_hold(&mut base, None);
                self.add_element_hold(result, &mut base, i64::MIN, owm);
            } else {
                let mut merged: Option<i64> = if result_is_source { base.element_hold } else { None };
                for s in sources.iter() {
                    if let Some(h) = s.element_hold {
                        merged = Some(merged.map_or(h, |m| combiner.combine(m, h)));
                    }
                }
                for s in sources.iter_mut() {
                    self.set_element_hold(s, None);
                }
                if merged.is_some() {
                    self.set_element_hold(&mut base, merged);
                }
            }
            // Garbage-collection holds: cleared in the sources, one for the result.
            for s in sources.iter_mut() {
                self.set_extra_hold(s, None);
            }
            if result_is_source {
                self.set_extra_hold(&mut base, None);
            }
            self.add_gc_hold(result, &mut base);
            // Non-empty panes.
            base.nonempty = (result_is_source && base.nonempty) || sources.iter().any(|s| s.nonempty);
            // Trigger state.
            let own = base.trigger.clone();
            let mut srcs: Vec<&crate::trigger::TriggerState> = Vec::with_capacity(active.len());
            if result_is_source {
                srcs.push(&own);
            }
            srcs.extend(sources.iter().map(|s| &s.trigger));
            let mut timers = std::mem::take(&mut self.scratch_timers);
            {
                let mut cx = TriggerCtx { window: result, input_wm: self.input_wm, now, timers: &mut timers };
                self.machine.on_merge(&mut base.trigger, &srcs, &mut cx);
            }
            self.scratch_timers = timers;
            self.apply_timers(key, result, &mut base);
            base.closed = self.machine.is_closed(&base.trigger);
            if base.closed {
                self.machine.clear_state(&mut base.trigger);
            }
            // A merged window starts its pane count again, unless it is an existing one.
            if !result_is_source {
                base.pane = None;
            }
            for w in &m.sources {
                merged_into.insert(*w, result);
            }
            ks.windows.insert(result, base);
        }
    }

    /// Evaluates the window's trigger and emits a pane if it is ready (an open window only).
    fn evaluate(&mut self, key: &K, ks: &mut KeyState<C::Acc, C::Out>, w: Window, now: i64) {
        let fire = match ks.windows.get(&w) {
            Some(ws) if !ws.closed => {
                let mut timers = std::mem::take(&mut self.scratch_timers);
                let mut cx = TriggerCtx { window: w, input_wm: self.input_wm, now, timers: &mut timers };
                let f = self.machine.should_fire(&ws.trigger, &mut cx);
                self.scratch_timers = timers;
                f
            }
            _ => false,
        };
        if fire {
            self.emit(key, ks, w, now);
        }
    }

    /// The trigger fired: emit a pane (Beam's `emit`).
    fn emit(&mut self, key: &K, ks: &mut KeyState<C::Acc, C::Out>, w: Window, now: i64) {
        let Some(mut ws) = ks.windows.remove(&w) else { return };
        let mut timers = std::mem::take(&mut self.scratch_timers);
        {
            let mut cx = TriggerCtx { window: w, input_wm: self.input_wm, now, timers: &mut timers };
            self.machine.on_fire(&mut ws.trigger, &mut cx);
        }
        self.scratch_timers = timers;
        self.apply_timers(key, w, &mut ws);
        let finished = self.machine.is_closed(&ws.trigger);
        let discard = finished || self.strategy.accumulation == Accumulation::Discarding;
        self.on_trigger(key, ks, w, &mut ws, finished);
        ws.nonempty = false;
        if discard {
            ws.acc = self.combine.create();
        }
        if finished {
            self.machine.clear_state(&mut ws.trigger);
            ws.pane = None;
            ws.closed = true;
            self.set_element_hold(&mut ws, None);
            self.set_extra_hold(&mut ws, None);
        }
        ks.windows.insert(w, ws);
    }

    /// Produces the pane (Beam's `onTrigger`): releases the holds, describes the pane,
    /// and outputs it if it has data or is the on-time pane.
    fn on_trigger(
        &mut self,
        key: &K,
        ks: &mut KeyState<C::Acc, C::Out>,
        w: Window,
        ws: &mut WinState<C::Acc>,
        finished: bool,
    ) {
        let max_ts = w.max_timestamp();
        // Only a window whose end the input watermark passed can be late for the output, and
        // not while one of its own holds keeps the output watermark at or before its end.
        let own_hold = [ws.element_hold, ws.extra_hold].into_iter().flatten().min();
        let owm = if self.input_wm > max_ts && own_hold.is_none_or(|h| h > max_ts) {
            self.owm_for(ks, Some(ws))
        } else {
            NEG_INF
        };
        let hold = match (ws.element_hold, ws.extra_hold) {
            (None, x) => x,
            (e, None) => e,
            (Some(e), Some(x)) => Some(e.min(x)),
        };
        let timestamp = match (hold, self.strategy.timestamp_combiner) {
            // Beam Python does not clip transformed output times to the window.
            (Some(_), TimestampCombiner::EarliestTransformed(_)) => ws.element_hold.or(hold).unwrap_or(max_ts),
            (Some(h), _) if h <= max_ts => h,
            _ => max_ts,
        };
        self.set_element_hold(ws, None);
        self.set_extra_hold(ws, None);
        let is_empty = !ws.nonempty;
        let info = self.describe(ws.pane, w, finished, owm);
        if is_empty && info.timing != Timing::OnTime {
            return;
        }
        if !finished {
            ws.pane = Some(info);
        }
        let value = self.combine.extract(&ws.acc);
        if self.strategy.accumulation == Accumulation::Retracting {
            let mut kept = Vec::with_capacity(ks.unretracted.len());
            for e in ks.unretracted.drain(..) {
                if e.window.is_inside(&w) {
                    self.stats.retractions += 1;
                    self.out.panes.push(Pane {
                        key: key.clone(),
                        window: e.window,
                        value: e.value,
                        timestamp: e.timestamp,
                        info: e.info,
                        retraction: true,
                        tick: self.tick,
                    });
                } else {
                    kept.push(e);
                }
            }
            ks.unretracted = kept;
            self.seq += 1;
            ks.unretracted.push(Emitted { window: w, value: value.clone(), timestamp, info });
        }
        self.stats.panes += 1;
        self.out.panes.push(Pane {
            key: key.clone(),
            window: w,
            value,
            timestamp,
            info,
            retraction: false,
            tick: self.tick,
        });
    }

    /// Beam's `PaneInfoTracker.describePane`.
    fn describe(&self, prev: Option<PaneInfo>, w: Window, last: bool, owm: i64) -> PaneInfo {
        let max_ts = w.max_timestamp();
        let first = prev.is_none();
        let index = prev.map_or(0, |p| p.index + 1);
        let mut nonspeculative_index = prev.map_or(0, |p| p.nonspeculative_index + 1);
        let late_for_output = owm > max_ts;
        let only_early = prev.is_none_or(|p| p.timing == Timing::Early);
        let early_for_input = self.input_wm <= max_ts;
        let timing = if late_for_output || !only_early {
            Timing::Late
        } else if early_for_input {
            nonspeculative_index = -1;
            Timing::Early
        } else {
            Timing::OnTime
        };
        PaneInfo { timing, index, nonspeculative_index, first, last }
    }

    fn fire_timers(&mut self, domain: TimerDomain, limit: i64, now: i64) {
        if self.owm_mode == OutputWatermarkMode::PerKey && domain == TimerDomain::EventTime {
            // One timer at a time, in timestamp order, each at the watermark that just
            // passed it: deterministic whatever jumps the watermark made.
            let real = self.input_wm;
            while let Some(first) = self.event_timers.first() {
                if first.0 >= limit {
                    break;
                }
                let (t, k, w) = self.event_timers.pop_first().expect("present");
                if let Some(ws) = self.keys.get_mut(&k).and_then(|ks| ks.windows.get_mut(&w)) {
                    ws.timers.retain(|x| *x != (domain, t));
                }
                self.input_wm = t.saturating_add(1).min(real);
                self.owm_basis = Some(t);
                self.activate(k, w, domain, now);
            }
            self.input_wm = real;
            self.owm_basis = None;
            return;
        }
        loop {
            let set = match domain {
                TimerDomain::EventTime => &mut self.event_timers,
                TimerDomain::ProcessingTime => &mut self.proc_timers,
            };
            let mut due: Vec<(i64, K, Window)> = Vec::new();
            while let Some(first) = set.first() {
                if first.0 < limit {
                    due.push(set.pop_first().expect("present"));
                } else {
                    break;
                }
            }
            if due.is_empty() {
                break;
            }
            let mut seen: rustc_hash::FxHashSet<(K, Window)> = Default::default();
            let mut activations: Vec<(K, Window)> = Vec::new();
            for (t, k, w) in due {
                if let Some(ws) = self.keys.get_mut(&k).and_then(|ks| ks.windows.get_mut(&w)) {
                    ws.timers.retain(|x| *x != (domain, t));
                }
                if seen.insert((k.clone(), w)) {
                    activations.push((k, w));
                }
            }
            for (k, w) in activations {
                self.activate(k, w, domain, now);
            }
        }
    }

    /// One window's timers fired (Beam's `onTimers` for one window).
    fn activate(&mut self, key: K, w: Window, domain: TimerDomain, now: i64) {
        let lateness = self.strategy.allowed_lateness;
        let Some(mut ks) = self.keys.remove(&key) else { return };
        if !ks.windows.contains_key(&w) {
            self.put_back(key, ks);
            return;
        }
        let max_ts = w.max_timestamp();
        if domain == TimerDomain::ProcessingTime && self.input_wm > max_ts.saturating_add(lateness) {
            self.put_back(key, ks);
            return;
        }
        let is_eow = self.input_wm > max_ts && self.owm_for(&ks, None) <= max_ts;
        let is_gc = self.input_wm > w.gc_time(lateness);
        if is_gc {
            let mut ws = ks.windows.remove(&w).expect("checked");
            if !ws.closed {
                self.on_trigger(&key, &mut ks, w, &mut ws, true);
            }
            self.set_element_hold(&mut ws, None);
            self.set_extra_hold(&mut ws, None);
            self.delete_timers(&key, w, &mut ws);
            // No later window can contain a collected one: its last pane stays for good.
            ks.unretracted.retain(|e| e.window != w);
        } else {
            self.evaluate(&key, &mut ks, w, now);
            if is_eow {
                if let Some(mut ws) = ks.windows.remove(&w) {
                    self.set_timer(&key, w, &mut ws, TimerDomain::EventTime, w.gc_time(lateness));
                    ks.windows.insert(w, ws);
                }
            }
        }
        self.put_back(key, ks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::combine::{Collect, Count};
    use crate::trigger::Trigger;
    use crate::window::WindowSpec;

    fn strategy(window: WindowSpec, trigger: &str, lateness: i64, acc: Accumulation) -> WindowingStrategy {
        WindowingStrategy::new(window)
            .trigger(trigger.parse::<Trigger>().unwrap())
            .allowed_lateness(lateness)
            .accumulation(acc)
            .build()
            .unwrap()
    }

    #[test]
    fn too_late_elements_go_to_the_dead_letters_with_the_reason() {
        let mut r =
            WindowedReducer::new(strategy(WindowSpec::fixed(10), "default", 5, Accumulation::Discarding), Count);
        r.process_key("k", vec![(1, ())], 0);
        r.advance_watermark(20, 0);
        r.refresh_output_watermark();
        r.process_key("k", vec![(3, ())], 0);
        let out = r.take_output();
        assert_eq!(out.panes.len(), 1);
        assert_eq!(out.dropped.len(), 1);
        assert_eq!(out.dropped[0].reason, DropReason::TooLate);
        assert_eq!(out.dropped[0].window, Window::new(0, 10));
        assert_eq!(r.stats().dropped_late, 1);
    }

    #[test]
    fn elements_for_a_finished_window_are_dropped_as_closed() {
        let mut r = WindowedReducer::new(
            strategy(WindowSpec::fixed(10), "after_count(1)", 100, Accumulation::Discarding),
            Count,
        );
        r.process_key("k", vec![(1, ())], 0);
        r.process_key("k", vec![(2, ())], 0);
        let out = r.take_output();
        assert_eq!(out.panes.len(), 1);
        assert!(out.panes[0].info.last);
        assert_eq!(out.dropped[0].reason, DropReason::WindowClosed);
    }

    #[test]
    fn garbage_collection_emits_what_is_buffered_and_frees_the_key() {
        let mut r =
            WindowedReducer::new(strategy(WindowSpec::fixed(10), "never", 0, Accumulation::Discarding), Collect);
        r.process_key("k", vec![(1, 1), (2, 2)], 0);
        assert_eq!(r.key_count(), 1);
        assert_eq!(r.min_hold(), Some(9));
        r.advance_watermark(10, 0);
        let out = r.take_output();
        assert_eq!(out.panes.len(), 1);
        assert_eq!(out.panes[0].value, vec![1, 2]);
        assert!(out.panes[0].info.last);
        assert_eq!(out.panes[0].info.timing, Timing::OnTime);
        assert_eq!(r.key_count(), 0);
        assert_eq!(r.min_hold(), None);
        assert_eq!(r.next_event_timer(), None);
    }

    #[test]
    fn sessions_merge_and_retract_the_merged_panes() {
        let s =
            strategy(WindowSpec::sessions(10), "after_watermark(early=after_count(1))", 0, Accumulation::Retracting);
        let mut r = WindowedReducer::new(s, Collect);
        r.process_key("k", vec![(1, 1)], 0);
        r.process_key("k", vec![(15, 15)], 0);
        let early = r.take_output().panes;
        assert_eq!(early.len(), 2);
        // 8 bridges [1, 11) and [15, 25): one session [1, 25).
        r.process_key("k", vec![(8, 8)], 0);
        let out = r.take_output().panes;
        let kinds: Vec<(bool, Window)> = out.iter().map(|p| (p.retraction, p.window)).collect();
        assert_eq!(kinds, vec![(true, Window::new(1, 11)), (true, Window::new(15, 25)), (false, Window::new(1, 25))]);
        assert_eq!(out[2].value.len(), 3);
        assert_eq!(out[2].info.index, 0, "a merged window starts its pane count again");
    }

    #[test]
    fn processing_time_timers_fire_strictly_after_the_deadline() {
        let s = strategy(WindowSpec::Global, "repeatedly(after_processing_time(5))", 0, Accumulation::Discarding);
        let mut r = WindowedReducer::new(s, Count);
        r.process_key("k", vec![(1, ())], 10);
        assert_eq!(r.next_processing_deadline(), Some(15));
        r.advance_processing_time(15);
        assert!(r.take_output().panes.is_empty());
        r.advance_processing_time(16);
        let panes = r.take_output().panes;
        assert_eq!(panes.len(), 1);
        assert_eq!(panes[0].info.timing, Timing::Early);
        assert_eq!(panes[0].timestamp, crate::time::GLOBAL_MAX);
    }

    #[test]
    fn sliding_windows_get_one_pane_each_and_bundles_group_by_key() {
        let s = strategy(WindowSpec::sliding(10, 5), "default", 0, Accumulation::Discarding);
        let mut r = WindowedReducer::new(s, Count);
        r.process_bundle(vec![("a", 7, ()), ("b", 7, ()), ("a", 8, ())], 0);
        r.advance_watermark(crate::time::POS_INF, 0);
        let mut panes: Vec<(&str, Window, u64)> =
            r.take_output().panes.into_iter().map(|p| (p.key, p.window, p.value)).collect();
        panes.sort();
        assert_eq!(
            panes,
            vec![
                ("a", Window::new(0, 10), 2),
                ("a", Window::new(5, 15), 2),
                ("b", Window::new(0, 10), 1),
                ("b", Window::new(5, 15), 1)
            ]
        );
    }
}
