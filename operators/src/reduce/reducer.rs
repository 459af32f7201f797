//! [`WindowedReducer`]: Beam Java's `ReduceFnRunner`, for every key of one worker. It
//! drives the collaborators — active windows and merging ([`super::active_windows`]),
//! watermark holds ([`super::hold`]), pane descriptions ([`super::pane_info`]), timers
//! ([`super::timers`]), the watermarks ([`super::output_watermark`]) and emitting
//! ([`super::output`]) — and the trigger machine and combiner.

use super::active_windows::KeyState;
use super::dead_letter::{DropReason, Dropped};
use super::hold::WatermarkHold;
use super::output::{Emitter, Output, ReducerStats};
use super::output_watermark::{OutputWatermarkMode, Watermarks};
use super::pane_info::describe;
use super::timers::{self, Timers};
use super::window_state::WinState;
use crate::combine::CombineFn;
use crate::pane::{Pane, Timing};
use crate::strategy::{Accumulation, ClosingBehavior, OnTimeBehavior, WindowingStrategy};
use crate::time::NEG_INF;
use crate::trigger::{TimerDomain, TriggerCtx, TriggerMachine};
use crate::window::Window;
use rustc_hash::FxHashMap;
use std::hash::Hash;

/// The keyed windowed reduction of one worker. See the [module docs](super).
pub struct WindowedReducer<K, V, C: CombineFn<V>> {
    /// The strategy: window function, trigger, allowed lateness, accumulation, timestamp
    /// combiner. Fixed.
    strategy: WindowingStrategy,
    /// The strategy's trigger, compiled; runs on each window's trigger state. Fixed.
    machine: TriggerMachine,
    /// Whether the window function merges windows (sessions). Fixed.
    merging: bool,
    /// The combiner. Fixed.
    combine: C,
    /// Every key with state: its windows and unretracted panes. A key enters with its
    /// first element that is not too late, is taken out while one of its elements or
    /// timers is processed, and leaves when it has neither windows nor unretracted panes.
    keys: FxHashMap<K, KeyState<C::Acc, C::Out>>,
    /// The event-time and processing-time timers of every (key, window).
    timers: Timers<K>,
    /// The watermark holds of every (key, window), counted.
    holds: WatermarkHold,
    /// The input watermark and the output watermark.
    wm: Watermarks,
    /// Panes and dead letters not yet taken, the current tick, the counters.
    emitter: Emitter<K, C::Out, V>,
    /// The windows of the element being assigned (reused).
    scratch_windows: Vec<Window>,
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
        let holds = WatermarkHold::new(strategy.timestamp_combiner, strategy.allowed_lateness);
        WindowedReducer {
            strategy,
            machine,
            merging,
            combine,
            keys: Default::default(),
            timers: Timers::new(),
            holds,
            wm: Watermarks::new(),
            emitter: Emitter::new(),
            scratch_windows: Vec::new(),
        }
    }

    /// Chooses how the output watermark is kept (see [`OutputWatermarkMode`]).
    pub fn with_output_watermark_mode(mut self, mode: OutputWatermarkMode) -> Self {
        self.wm.mode = mode;
        self
    }

    /// The progress tick stamped on panes emitted from now on.
    pub fn set_tick(&mut self, tick: u64) {
        self.emitter.tick = tick;
    }
    /// The input watermark.
    pub fn input_watermark(&self) -> i64 {
        self.wm.input
    }
    /// The output watermark used for pane timing and holds.
    pub fn output_watermark(&self) -> i64 {
        self.wm.output
    }
    /// The earliest watermark hold of any key and window, if any.
    pub fn min_hold(&self) -> Option<i64> {
        self.holds.min()
    }
    /// Recomputes the output watermark from this reducer alone: `min(input watermark,
    /// holds)`, never moving backwards. Exact on one worker.
    pub fn refresh_output_watermark(&mut self) {
        let v = self.min_hold().map_or(self.wm.input, |h| h.min(self.wm.input));
        self.set_output_watermark(v);
    }
    /// Sets the output watermark from outside (the minimum over all workers), never
    /// moving it backwards.
    pub fn set_output_watermark(&mut self, v: i64) {
        self.wm.set_output(v);
    }
    /// The earliest pending processing-time timer.
    pub fn next_processing_deadline(&self) -> Option<i64> {
        self.timers.next(TimerDomain::ProcessingTime)
    }
    /// The earliest pending event-time timer.
    pub fn next_event_timer(&self) -> Option<i64> {
        self.timers.next(TimerDomain::EventTime)
    }
    /// Counters so far.
    pub fn stats(&self) -> ReducerStats {
        self.emitter.stats
    }
    /// Number of (key, window) pairs still open: those with an event-time timer pending
    /// (end of window or garbage collection).
    pub fn window_count(&self) -> usize {
        self.timers.event_count()
    }
    /// Number of keys with open state.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
    /// Takes the panes and dead letters produced so far.
    pub fn take_output(&mut self) -> Output<K, C::Out, V> {
        std::mem::take(&mut self.emitter.out)
    }
    /// Appends produced panes and dead letters to `panes` and `dropped`.
    pub fn drain_into(&mut self, panes: &mut Vec<Pane<K, C::Out>>, dropped: &mut Vec<Dropped<K, V>>) {
        panes.append(&mut self.emitter.out.panes);
        dropped.append(&mut self.emitter.out.dropped);
    }

    /// Processes one bundle of elements `(key, event time, value)`: grouped by key, each
    /// key's elements are added (in the bundle's order) and then each touched window is
    /// evaluated once. Keys are taken in the order of their first element in the bundle:
    /// grouping costs one hash lookup per element (sorting the bundle by key was a third of
    /// the instructions of a strategy that cannot combine before the exchange, such as
    /// early processing-time firings).
    pub fn process_bundle(&mut self, mut elements: Vec<(K, i64, V)>, now: i64) {
        let Ok(n) = u32::try_from(elements.len()) else {
            // Beyond 4 G elements (never a real bundle): halves, each grouped by key.
            let rest = elements.split_off(elements.len() / 2);
            self.process_bundle(elements, now);
            return self.process_bundle(rest, now);
        };
        // Each element's group (its key's number, in order of first appearance) and the
        // groups' sizes; then a counting sort gives each element its place.
        let mut group_of: Vec<u32> = Vec::with_capacity(n as usize);
        let mut runs: Vec<usize> = Vec::new();
        {
            let mut groups: FxHashMap<&K, u32> = FxHashMap::default();
            for e in &elements {
                let next = runs.len() as u32;
                let g = *groups.entry(&e.0).or_insert(next);
                if g == next {
                    runs.push(0);
                }
                runs[g as usize] += 1;
                group_of.push(g);
            }
        }
        let mut next_place: Vec<u32> = Vec::with_capacity(runs.len());
        let mut place = 0u32;
        for &len in &runs {
            next_place.push(place);
            place += len as u32;
        }
        let mut positions: Vec<u32> = vec![0; n as usize];
        for (i, g) in (0..n).zip(&group_of) {
            let p = &mut next_place[*g as usize];
            positions[*p as usize] = i;
            *p += 1;
        }
        permute(&mut elements, &mut positions);
        let mut iter = elements.into_iter();
        for len in runs {
            let mut run: Vec<(i64, V)> = Vec::with_capacity(len);
            let mut key = None;
            for (k, t, v) in iter.by_ref().take(len) {
                run.push((t, v));
                key = Some(k);
            }
            if let Some(k) = key {
                self.process_key(k, run, now);
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
                if w.gc_time(lateness) < self.wm.input {
                    self.emitter.drop_element(Dropped {
                        key: key.clone(),
                        timestamp: *t,
                        value: v.clone(),
                        window: w,
                        reason: DropReason::TooLate,
                        watermark: self.wm.input,
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
        consider.retain(|w| !ks.is_closed(w));
        // Add the elements.
        let n = assigned.len();
        if n == elements.len() && assigned.iter().enumerate().all(|(j, a)| a.0 == j) {
            // One window each (fixed windows, sessions, nothing too late): moved in order.
            for ((t, v), &(_, proto)) in elements.into_iter().zip(&assigned) {
                self.add_or_drop_closed(&key, &mut ks, map(proto), t, v, now);
            }
        } else {
            let mut values: Vec<Option<(i64, V)>> = elements.into_iter().map(Some).collect();
            for j in 0..n {
                let (i, proto) = assigned[j];
                let last_use = j + 1 == n || assigned[j + 1].0 != i;
                let (t, v) = if last_use {
                    values[i].take().expect("each element is consumed once")
                } else {
                    let (t, v) = values[i].as_ref().expect("present");
                    (*t, v.clone())
                };
                self.add_or_drop_closed(&key, &mut ks, map(proto), t, v, now);
            }
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
        let mut groups: FxHashMap<K, Vec<(Window, C::Acc, u64)>> = Default::default();
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
                if ks.is_closed(&w) {
                    // Not possible when `can_precombine` holds (windows never close); counted.
                    self.emitter.stats.dropped_closed += count;
                } else {
                    let owm = self.wm.for_hold(ks.windows.values(), w.max_timestamp());
                    let ws =
                        ks.window_or_insert_with(w, || WinState::new(self.combine.create(), self.machine.new_state()));
                    ws.nonempty = true;
                    self.timers.set(&key, w, ws, TimerDomain::EventTime, w.gc_time(lateness));
                    // End-of-window holds are the same for every element of the window.
                    self.holds.add_holds(w, ws, w.max_timestamp(), owm, self.wm.input);
                    self.combine.merge(&mut ws.acc, acc);
                    self.emitter.stats.added += count;
                    {
                        let mut cx =
                            TriggerCtx { window: w, input_wm: self.wm.input, now, timers: &mut self.timers.requested };
                        for _ in 0..count {
                            self.machine.on_element(&mut ws.trigger, &mut cx);
                        }
                    }
                    if !self.timers.requested.is_empty() {
                        self.timers.set_requested(&key, w, ws);
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
        if wm <= self.wm.input {
            return;
        }
        self.wm.input = wm;
        self.fire_timers(TimerDomain::EventTime, wm, now);
    }

    /// Advances processing time to `now` and fires the processing-time timers it passes.
    pub fn advance_processing_time(&mut self, now: i64) {
        self.fire_timers(TimerDomain::ProcessingTime, now, now);
    }

    fn put_back(&mut self, key: K, ks: KeyState<C::Acc, C::Out>) {
        if !ks.is_empty() {
            self.keys.insert(key, ks);
        }
    }

    /// Adds an element to window `w`, or drops it if the window is closed.
    fn add_or_drop_closed(&mut self, key: &K, ks: &mut KeyState<C::Acc, C::Out>, w: Window, t: i64, v: V, now: i64) {
        if ks.is_closed(&w) {
            self.emitter.drop_element(Dropped {
                key: key.clone(),
                timestamp: t,
                value: v,
                window: w,
                reason: DropReason::WindowClosed,
                watermark: self.wm.input,
            });
        } else {
            self.add_element(key, ks, w, t, v, now);
        }
    }

    fn add_element(&mut self, key: &K, ks: &mut KeyState<C::Acc, C::Out>, w: Window, t: i64, v: V, now: i64) {
        let lateness = self.strategy.allowed_lateness;
        let owm = self.wm.for_hold(ks.windows.values(), self.holds.output_time(w, t));
        let ws = ks.window_or_insert_with(w, || WinState::new(self.combine.create(), self.machine.new_state()));
        ws.nonempty = true;
        self.timers.set(key, w, ws, TimerDomain::EventTime, w.gc_time(lateness));
        self.holds.add_holds(w, ws, t, owm, self.wm.input);
        self.combine.add(&mut ws.acc, v);
        self.emitter.stats.added += 1;
        {
            let mut cx = TriggerCtx { window: w, input_wm: self.wm.input, now, timers: &mut self.timers.requested };
            self.machine.on_element(&mut ws.trigger, &mut cx);
        }
        if !self.timers.requested.is_empty() {
            self.timers.set_requested(key, w, ws);
        }
    }

    /// Merges the key's open windows with the bundle's `new` windows (Beam's
    /// `ReduceFnRunner.onMerge` with `MergingActiveWindowSet`), recording in `merged_into`
    /// where each source window went.
    fn merge_windows(
        &mut self,
        key: &K,
        ks: &mut KeyState<C::Acc, C::Out>,
        new: &[Window],
        now: i64,
        merged_into: &mut FxHashMap<Window, Window>,
    ) {
        let candidates = ks.merge_candidates(new);
        let merges = self.strategy.window_fn.merge(&candidates);
        let owm = self.wm.for_key(ks.windows.values());
        for m in merges {
            let result = m.result;
            let active = ks.active(&m.sources);
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
                self.timers.delete(key, *w, &mut s);
                sources.push(s);
            }
            // Contents (reduceFn.onMerge).
            for s in sources.iter_mut() {
                let acc = std::mem::replace(&mut s.acc, self.combine.create());
                self.combine.merge(&mut base.acc, acc);
            }
            // Holds (WatermarkHold.onMerge).
            self.holds.on_merge(result, &mut base, &mut sources, active.len(), result_is_source, owm, self.wm.input);
            // Non-empty panes.
            base.nonempty = (result_is_source && base.nonempty) || sources.iter().any(|s| s.nonempty);
            // Trigger state.
            let own = base.trigger.clone();
            let mut srcs: Vec<&crate::trigger::TriggerState> = Vec::with_capacity(active.len());
            if result_is_source {
                srcs.push(&own);
            }
            srcs.extend(sources.iter().map(|s| &s.trigger));
            {
                let mut cx =
                    TriggerCtx { window: result, input_wm: self.wm.input, now, timers: &mut self.timers.requested };
                self.machine.on_merge(&mut base.trigger, &srcs, &mut cx);
            }
            self.timers.set_requested(key, result, &mut base);
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
                // Timers asked for here stay requested until the next `set_requested`.
                let mut cx = TriggerCtx { window: w, input_wm: self.wm.input, now, timers: &mut self.timers.requested };
                self.machine.should_fire(&ws.trigger, &mut cx)
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
        {
            let mut cx = TriggerCtx { window: w, input_wm: self.wm.input, now, timers: &mut self.timers.requested };
            self.machine.on_fire(&mut ws.trigger, &mut cx);
        }
        self.timers.set_requested(key, w, &mut ws);
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
            self.holds.release(&mut ws);
        }
        ks.windows.insert(w, ws);
    }

    /// Produces the pane (Beam's `onTrigger`): releases the holds (and, with
    /// [`ClosingBehavior::FireAlways`], keeps a garbage-collection hold after a pane that is
    /// not the last, as `WatermarkHold.extractAndRelease` does), describes the pane, and
    /// outputs it if [`Self::need_to_emit`] says so.
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
        let owm = if self.wm.input > max_ts && own_hold.is_none_or(|h| h > max_ts) {
            self.wm.for_key(ks.windows.values().chain(Some(&*ws)))
        } else {
            NEG_INF
        };
        let timestamp = self.holds.extract_and_release(w, ws);
        if !finished && self.strategy.closing_behavior == ClosingBehavior::FireAlways {
            // The final pane may be empty: hold the output at the garbage-collection time so
            // that it is not late downstream (`addGarbageCollectionHold(paneIsEmpty)`).
            self.holds.add_gc_hold(w, ws, self.wm.input);
        }
        let is_empty = !ws.nonempty;
        let info = describe(ws.pane, w, finished, owm, self.wm.input);
        if !self.need_to_emit(is_empty, finished, info.timing) {
            // Nothing is output and the pane is not recorded: the next one takes its index.
            return;
        }
        if !finished {
            ws.pane = Some(info);
        }
        let value = self.combine.extract(&ws.acc);
        let retracting = self.strategy.accumulation == Accumulation::Retracting;
        self.emitter.pane(key, &mut ks.unretracted, retracting, w, value, timestamp, info);
    }

    /// Whether a firing outputs its pane (Beam's `ReduceFnRunner.needToEmit`): a pane with
    /// elements always; an empty one only if it is the on-time pane and the on-time
    /// behavior is [`OnTimeBehavior::FireAlways`], or if it is the last (the trigger finished
    /// or the window is garbage-collected) and the closing behavior is
    /// [`ClosingBehavior::FireAlways`].
    fn need_to_emit(&self, is_empty: bool, finished: bool, timing: Timing) -> bool {
        !is_empty
            || (timing == Timing::OnTime && self.strategy.on_time_behavior == OnTimeBehavior::FireAlways)
            || (finished && self.strategy.closing_behavior == ClosingBehavior::FireAlways)
    }

    fn fire_timers(&mut self, domain: TimerDomain, limit: i64, now: i64) {
        if self.wm.mode == OutputWatermarkMode::PerKey && domain == TimerDomain::EventTime {
            // One timer at a time, in timestamp order, each at the watermark that just
            // passed it: deterministic whatever jumps the watermark made.
            let real = self.wm.input;
            while let Some((t, k, w)) = self.timers.pop_before(domain, limit) {
                if let Some(ws) = self.keys.get_mut(&k).and_then(|ks| ks.windows.get_mut(&w)) {
                    timers::fired(ws, domain, t);
                }
                self.wm.input = t.saturating_add(1).min(real);
                self.wm.timer_basis = Some(t);
                self.activate(k, w, domain, now);
            }
            self.wm.input = real;
            self.wm.timer_basis = None;
            return;
        }
        // Global (Beam's ReduceFnTester): every timer due is handed over at once and each
        // window is activated once, at the current watermarks. Beam's `onTimers` decides a
        // window's activation by the input watermark, not by which of its timers fired
        // (`WindowActivation`: "robust to large leaps ... where both EOW and GC timers come
        // in together"), so a watermark that passes both the end of a window and its
        // garbage-collection time gives one ON_TIME pane, last
        // (`ReduceFnRunnerTest.testFixedWindowsEowAndGcTogether`,
        // `testCombiningAccumulatingEventTime`; tests/conformance/closing_behavior/eow_and_gc_*).
        loop {
            let mut due: Vec<(i64, K, Window)> = Vec::new();
            while let Some(timer) = self.timers.pop_before(domain, limit) {
                due.push(timer);
            }
            if due.is_empty() {
                break;
            }
            let mut seen: rustc_hash::FxHashSet<(K, Window)> = Default::default();
            let mut activations: Vec<(K, Window)> = Vec::new();
            for (t, k, w) in due {
                if let Some(ws) = self.keys.get_mut(&k).and_then(|ks| ks.windows.get_mut(&w)) {
                    timers::fired(ws, domain, t);
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
        if domain == TimerDomain::ProcessingTime && self.wm.input > max_ts.saturating_add(lateness) {
            self.put_back(key, ks);
            return;
        }
        let is_eow = self.wm.input > max_ts && self.wm.for_key(ks.windows.values()) <= max_ts;
        let is_gc = self.wm.input > w.gc_time(lateness);
        if is_gc {
            let mut ws = ks.windows.remove(&w).expect("checked");
            if !ws.closed {
                self.on_trigger(&key, &mut ks, w, &mut ws, true);
            }
            self.holds.release(&mut ws);
            self.timers.delete(&key, w, &mut ws);
            // No later window can contain a collected one: its last pane stays for good.
            ks.unretracted.retain(|e| e.window != w);
        } else {
            self.evaluate(&key, &mut ks, w, now);
            if is_eow {
                if let Some(mut ws) = ks.windows.remove(&w) {
                    self.timers.set(&key, w, &mut ws, TimerDomain::EventTime, w.gc_time(lateness));
                    ks.windows.insert(w, ws);
                }
            }
        }
        self.put_back(key, ks);
    }
}

/// Reorders `v` in place so that the element at `i` is the one that was at `order[i]`
/// (`order` a permutation of `0..v.len()`, left as the identity): one swap per element
/// out of place, following the permutation's cycles.
fn permute<T>(v: &mut [T], order: &mut [u32]) {
    for start in 0..order.len() {
        let mut cur = start;
        loop {
            let src = order[cur] as usize;
            order[cur] = cur as u32;
            if src == start || src == cur {
                break;
            }
            v.swap(cur, src);
            cur = src;
        }
    }
}

/// Checkpoints: the reducer's state is its watermarks and every key's windows and
/// unretracted panes; the timers and the counted holds follow from the windows.
impl<K, V, C> WindowedReducer<K, V, C>
where
    K: Clone + Hash + Eq + Ord + serde::Serialize + serde::de::DeserializeOwned,
    V: Clone,
    C: CombineFn<V>,
{
    /// The state (bincode): the input and output watermarks and every key's windows
    /// (accumulators, trigger states, pane info, holds, timers) and unretracted panes. Call
    /// it between stamps, with every pane and dead letter taken.
    ///
    /// ```
    /// use highwater::model::combine::Count;
    /// use highwater::model::reduce::WindowedReducer;
    /// use highwater::model::strategy::WindowingStrategy;
    /// use highwater::model::window::WindowSpec;
    /// let strategy = WindowingStrategy::new(WindowSpec::fixed(10)).build().unwrap();
    /// let mut r: WindowedReducer<String, u64, Count> = WindowedReducer::new(strategy.clone(), Count);
    /// r.process_key("a".to_string(), vec![(3, 1)], 0);
    /// let saved = r.save_state().unwrap();
    /// // Another worker (or a later run) takes over the keys it owns.
    /// let mut restored: WindowedReducer<String, u64, Count> = WindowedReducer::new(strategy, Count);
    /// restored.restore_state(&saved, |_key| true).unwrap();
    /// restored.advance_watermark(100, 0);
    /// assert_eq!(restored.take_output().panes[0].value, 1);
    /// ```
    pub fn save_state(&self) -> Result<Vec<u8>, String> {
        // The same layout as `Saved` below, by reference.
        let keys: Vec<_> = self.keys.iter().collect();
        bincode::serialize(&(self.wm.input, self.wm.output, keys)).map_err(|e| e.to_string())
    }

    /// Adds the keys `keep` accepts from a state [`Self::save_state`] made (several
    /// workers' states can be restored into one reducer, each key being in one of them),
    /// with their timers and holds; the watermarks move up to the state's.
    pub fn restore_state(&mut self, bytes: &[u8], keep: impl Fn(&K) -> bool) -> Result<(), String> {
        type Saved<K, A, O> = (i64, i64, Vec<(K, KeyState<A, O>)>);
        let (input, output, keys): Saved<K, C::Acc, C::Out> = bincode::deserialize(bytes).map_err(|e| e.to_string())?;
        self.wm.input = self.wm.input.max(input);
        self.wm.output = self.wm.output.max(output);
        for (k, ks) in keys.into_iter().filter(|(k, _)| keep(k)) {
            for (w, ws) in &ks.windows {
                self.timers.restore(&k, *w, ws);
                self.holds.restore(ws);
            }
            self.keys.insert(k, ks);
        }
        Ok(())
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
    fn permute_moves_each_element_to_its_place() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..40usize {
            // A random permutation (Fisher–Yates).
            let mut order: Vec<u32> = (0..len as u32).collect();
            for i in (1..len).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                order.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            let old: Vec<String> = (0..len).map(|i| format!("e{i}")).collect();
            let expected: Vec<String> = order.iter().map(|&i| old[i as usize].clone()).collect();
            let mut v = old.clone();
            permute(&mut v, &mut order);
            assert_eq!(v, expected);
            assert!(order.iter().enumerate().all(|(i, &o)| o as usize == i));
        }
    }

    #[test]
    fn a_bundle_gives_each_key_its_elements_in_arrival_order() {
        let s = strategy(WindowSpec::Global, "default", 0, Accumulation::Discarding);
        let mut r = WindowedReducer::new(s, Collect);
        let bundle: Vec<(u64, i64, u32)> = (0..500u32).map(|i| (u64::from(i % 7), i64::from(i), i)).collect();
        r.process_bundle(bundle, 0);
        r.advance_watermark(crate::time::POS_INF, 0);
        let mut panes: Vec<(u64, Vec<u32>)> = r.take_output().panes.into_iter().map(|p| (p.key, p.value)).collect();
        panes.sort();
        assert_eq!(panes.len(), 7);
        for (k, values) in panes {
            let expected: Vec<u32> = (0..500u32).filter(|i| u64::from(i % 7) == k).collect();
            assert_eq!(values, expected);
        }
    }

    use std::hash::Hasher;

    /// A key whose hash is the same for every key: a bundle's keys all collide.
    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct Colliding(u32);
    impl Hash for Colliding {
        fn hash<H: Hasher>(&self, h: &mut H) {
            h.write_u8(0);
        }
    }

    #[test]
    fn keys_whose_hashes_collide_are_still_grouped_in_arrival_order() {
        let s = strategy(WindowSpec::Global, "default", 0, Accumulation::Discarding);
        let mut r = WindowedReducer::new(s, Collect);
        let bundle: Vec<(Colliding, i64, u32)> = (0..300u32).map(|i| (Colliding(i % 5), i64::from(i), i)).collect();
        r.process_bundle(bundle, 0);
        r.advance_watermark(crate::time::POS_INF, 0);
        let mut panes: Vec<(Colliding, Vec<u32>)> =
            r.take_output().panes.into_iter().map(|p| (p.key, p.value)).collect();
        panes.sort();
        assert_eq!(panes.len(), 5);
        for (k, values) in panes {
            assert_eq!(values, (0..300u32).filter(|i| i % 5 == k.0).collect::<Vec<_>>());
        }
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
