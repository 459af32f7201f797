//! Phase two of the on-time aggregate ([`super::Plan::OnTimeWindows`]), on the key's
//! worker: merge the accumulators of every worker per key and window, and emit the
//! window's on-time pane once the frontier has passed it.
//!
//! With allowed lateness (the default trigger or `after_watermark(late=after_count(1))`,
//! end-of-window timestamps, closing behavior `FIRE_IF_NON_EMPTY`, the per-key output
//! watermark) a window lives on after its on-time pane until the watermark passes its
//! garbage-collection time: per key, the last pane's description — and, accumulating, the
//! accumulator; retracting, the value to retract. Late accumulators (the records of one
//! batch a worker received after its watermark passed the window, combined per key and
//! window) are set aside by stamp and applied stamp by stamp once the frontier passes
//! the stamp, as the reducer applies a bundle: windows the stamp's watermark closes emit
//! their on-time panes first, then each (key, window) of the stamp emits one late pane
//! (Beam: the default trigger fires for every late bundle). The reducer's bookkeeping for
//! these strategies (trigger state, timers, holds) has nothing to decide: the on-time pane
//! is never empty and never last, a late pane is always LATE and never last, and garbage
//! collection emits nothing, because every late record fired its own pane.

use super::capability::{follow_frontier, frontier_watermark};
use super::checkpoint::{passed, pending, Checkpointing};
use super::key_hash::KeyHash;
use super::on_time_local::{restore, snapshot, WindowState};
use super::open_windows::{table_hash, Bucket, OpenWindows};
use crate::combine::CombineFn;
use crate::pane::{Pane, PaneInfo, Timing};
use crate::reduce::Dropped;
use crate::strategy::Accumulation;
use crate::time::Time;
use crate::window::Window;
use hashbrown::HashTable;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::BTreeMap;
use std::hash::Hash;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::progress::Antichain;
use timely::ExchangeData;

/// What happens after a window's on-time pane: the allowed lateness and how successive
/// panes relate. With no lateness a window ends at its on-time pane.
#[derive(Clone, Copy, Debug)]
pub(super) struct AfterOnTime {
    /// The strategy's allowed lateness.
    pub(super) lateness: i64,
    /// The strategy's accumulation mode.
    pub(super) accumulation: Accumulation,
    /// Whether a watermark that leaps past a window's end and its garbage-collection time
    /// at once makes the on-time pane the last (Beam's `ReduceFnTester`, whose timers due
    /// fire together: [`OutputWatermark::Shared`](super::OutputWatermark::Shared), the
    /// conformance runner's), or the on-time pane fires at the watermark just past the
    /// window's end whatever the leap ([`OutputWatermark::PerKey`](super::OutputWatermark::PerKey),
    /// the pipelines': the same panes however the frontier moved).
    pub(super) leaps: bool,
}

/// A (key, window) whose last pane went out, kept until garbage collection.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Fired<A, O> {
    /// The last pane's description.
    info: PaneInfo,
    /// Accumulating or retracting: everything the window received.
    acc: Option<A>,
    /// Retracting: the last pane's value.
    emitted: Option<O>,
}

/// The fired windows, by `(max_timestamp, start)`, each with its keys.
type FiredWindows<K, A, O> = BTreeMap<(i64, i64), (Window, HashTable<(K, Fired<A, O>)>)>;

/// The fired windows in a checkpoint: each window with its keys.
type FiredState<K, A, O> = Vec<(Window, Vec<(K, Fired<A, O>)>)>;

/// The phase's checkpoint state: the open windows and the fired ones.
type GlobalState<K, A, O> = (Vec<WindowState<K, A>>, FiredState<K, A, O>);

/// Late accumulators by stamp, each stamp with the capability its panes go out at.
type LateStamps<K, A> = BTreeMap<Time, (Capability<Time>, Vec<(K, Window, A)>)>;

/// Merges the accumulators of [`super::on_time_local`] per key and window and emits the
/// window's panes once the frontier has passed it (and, with lateness, a late pane per
/// late stamp until garbage collection, from the `late` accumulators). The second stream
/// carries nothing; its frontier is the progress of the late stamps (the late input's
/// frontier, held at the first stamp not yet applied).
///
/// A late stamp `s` is applied once the late input's frontier has passed it and the
/// on-time input's has reached `(s.watermark(), 0)`: every on-time accumulator of a window
/// the stamp's watermark passed is in (the windows still open at a worker hold their
/// capabilities at or after their ends, so the on-time input gets there without waiting
/// for the watermark to move again).
#[allow(clippy::type_complexity)]
pub(super) fn on_time_global<'scope, K, V, C>(
    partials: Stream<'scope, Time, Vec<(K, Window, C::Acc)>>,
    late: Stream<'scope, Time, Vec<(K, Window, C::Acc)>>,
    name: &str,
    combine: C,
    after: AfterOnTime,
    ckpt: Option<Checkpointing>,
) -> (Stream<'scope, Time, Vec<Pane<K, C::Out>>>, Stream<'scope, Time, Vec<Dropped<K, V>>>)
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    let scope = partials.scope();
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let mut input = builder.new_input(partials, Exchange::new(|x: &(K, Window, C::Acc)| x.0.key_hash()));
    let mut late_input = builder.new_input(late, Exchange::new(|x: &(K, Window, C::Acc)| x.0.key_hash()));
    let (out, panes) = builder.new_output::<Vec<Pane<K, C::Out>>>();
    // The progress of the late stamps: connected to the late input only (the on-time
    // input's frontier waits at the open windows' ends).
    let (progress_out, progress) =
        builder.new_output_connection::<Vec<Dropped<K, V>>, _>([(1, Antichain::from_elem(Default::default()))]);
    let mut out = OutputBuilder::from(out);
    let _progress_out: OutputBuilder<Time, timely::container::CapacityContainerBuilder<Vec<Dropped<K, V>>>> =
        OutputBuilder::from(progress_out);
    let step = name.to_owned();
    builder.build(move |mut caps| {
        // Held at the input frontier: the progress stream's frontier follows this phase.
        let mut progress_cap: Option<Capability<Time>> = caps.pop();
        let mut state = Phase::<K, C::Acc, C::Out>::new(after);
        if let (Some(c), Some(mint)) = (ckpt.as_ref(), caps.first()) {
            for (open, fired) in c.start::<GlobalState<K, C::Acc, C::Out>>(&step) {
                restore(&mut state.open, open, c, mint, &combine);
                state.restore_fired(fired, c);
            }
        }
        drop(caps);
        // While a cut is pending: the accumulators stamped at or after it, merged once the
        // state before it is saved.
        let mut later: Vec<(Capability<Time>, Vec<(K, Window, C::Acc)>)> = Vec::new();
        let mut later_late: Vec<(Capability<Time>, Vec<(K, Window, C::Acc)>)> = Vec::new();
        let mut batch: Vec<Pane<K, C::Out>> = Vec::new();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&arrival) = cap.least() else { return };
                // Asked per batch: a batch stamped after a cut may come from a source that
                // learnt of the cut after this activation began.
                if pending(&ckpt, &step).is_some_and(|t| arrival >= t) {
                    if let Some(c) = cap.retain_least(0) {
                        later.push((c, std::mem::take(data)));
                    }
                    return;
                }
                state.receive(&combine, arrival, data, |at| cap.delayed(at, 0));
            });
            late_input.for_each(|cap, data| {
                let Some(&arrival) = cap.least() else { return };
                if pending(&ckpt, &step).is_some_and(|t| arrival >= t) {
                    if let Some(c) = cap.retain_least(0) {
                        later_late.push((c, std::mem::take(data)));
                    }
                    return;
                }
                state.receive_late(arrival, data, || cap.retain_least(0));
            });
            // Late stamps before this are complete (see above).
            let on_time = frontiers[0].frontier().iter().min().copied();
            let late = frontiers[1].frontier().iter().min().copied();
            state.input_wm = match late {
                Some(l) => l.watermark().max(frontier_watermark(&frontiers[0])),
                None => crate::time::POS_INF,
            };
            let complete = match (on_time, late) {
                (None, l) => l,
                (Some(o), None) => Some(Time::new(o.watermark(), u64::MAX)),
                (Some(o), Some(l)) => Some(l.min(Time::new(o.watermark(), u64::MAX))),
            };
            if let Some(t) = pending(&ckpt, &step).filter(|t| passed(&frontiers[0], *t) && passed(&frontiers[1], *t)) {
                // Every stamp before the cut is applied and the windows the cut's
                // watermark closes go out before the state is saved, at times before the
                // cut; then the accumulators at or after it are merged.
                state.apply_complete(Some(t), &combine, &mut batch, &mut out);
                state.advance(t.watermark(), t.watermark(), &combine, &mut batch, &mut out);
                if let Some(c) = ckpt.as_ref() {
                    c.save(&step, t, &state.snapshot());
                }
                for (c, mut data) in later.drain(..) {
                    let arrival = *c.time();
                    state.receive(&combine, arrival, &mut data, |at| c.delayed(at));
                }
                for (c, mut data) in later_late.drain(..) {
                    let arrival = *c.time();
                    state.receive_late(arrival, &mut data, || Some(c));
                }
            }
            state.apply_complete(complete, &combine, &mut batch, &mut out);
            // The late stamps set aside for a pending cut count too: they are applied once it
            // is saved, after the late input's frontier may have passed them.
            let set_aside = later_late.iter().map(|(c, _)| *c.time()).min();
            let progress = late.into_iter().chain(state.late.keys().next().copied()).chain(set_aside).min();
            // A fired window is forgotten only once no late stamp at or before its garbage
            // collection can still come.
            let wm = frontier_watermark(&frontiers[0]);
            state.advance(wm, progress.map_or(wm, |p| p.watermark().min(wm)), &combine, &mut batch, &mut out);
            follow_frontier(progress, [&mut progress_cap]);
        }
    });
    (panes, progress)
}

/// The state of the phase on one worker.
struct Phase<K, A, O> {
    /// What follows the on-time pane.
    after: AfterOnTime,
    /// The windows whose on-time pane is still to come.
    open: OpenWindows<K, A>,
    /// Windows with lateness whose first pane went out.
    fired: FiredWindows<K, A, O>,
    /// Late accumulators by stamp, applied once the frontier passes the stamp.
    late: LateStamps<K, A>,
    /// The input watermark as far as this worker knows (for [`AfterOnTime::leaps`]).
    input_wm: i64,
}

impl<K, A, O> Phase<K, A, O>
where
    K: Clone + Hash + Eq + 'static,
    A: Clone,
    O: Clone + 'static,
{
    fn new(after: AfterOnTime) -> Self {
        Phase {
            after,
            open: OpenWindows::new(),
            fired: BTreeMap::new(),
            late: BTreeMap::new(),
            input_wm: crate::time::NEG_INF,
        }
    }

    /// Merges a batch of on-time accumulators that arrived at `arrival` into the open
    /// windows (`mint` makes a new window's capability).
    #[inline(always)]
    fn receive<V, C>(
        &mut self,
        combine: &C,
        arrival: Time,
        data: &mut Vec<(K, Window, A)>,
        mint: impl Fn(&Time) -> Capability<Time>,
    ) where
        C: CombineFn<V, Acc = A, Out = O>,
    {
        for (k, w, acc) in data.drain(..) {
            let table = self.open.table(w, &arrival, &mint);
            let h = table_hash(&k);
            match table.find_mut(h, |(x, _)| *x == k) {
                Some((_, a)) => combine.merge(a, acc),
                None => {
                    table.insert_unique(h, (k, acc), |(x, _)| table_hash(x));
                }
            }
        }
    }

    /// Sets aside a batch of late accumulators that arrived at `arrival` until the stamp
    /// is complete (`retain` keeps its capability).
    fn receive_late(
        &mut self,
        arrival: Time,
        data: &mut Vec<(K, Window, A)>,
        retain: impl FnOnce() -> Option<Capability<Time>>,
    ) {
        match self.late.get_mut(&arrival) {
            Some((_, rows)) => rows.append(data),
            None => {
                if let Some(cap) = retain() {
                    self.late.insert(arrival, (cap, std::mem::take(data)));
                }
            }
        }
    }

    /// Applies, in stamp order, the late stamps the frontier has passed (before `until`,
    /// a cut or the frontier; all of them at the end of the input).
    fn apply_complete<V, C>(
        &mut self,
        until: Option<Time>,
        combine: &C,
        batch: &mut Vec<Pane<K, O>>,
        out: &mut PanesOutput<K, O>,
    ) where
        C: CombineFn<V, Acc = A, Out = O>,
    {
        while let Some((&t, _)) = self.late.first_key_value() {
            if until.is_some_and(|u| u <= t) {
                break;
            }
            let Some((_, (cap, rows))) = self.late.pop_first() else { break };
            self.advance(t.watermark(), t.watermark(), combine, batch, out);
            self.apply_late(&cap, rows, combine, batch, out);
        }
    }

    /// The watermark reached `wm`: the on-time panes of the windows it passed go out; the
    /// fired windows whose garbage-collection time `gc` passed are forgotten.
    fn advance<V, C>(&mut self, wm: i64, gc: i64, combine: &C, batch: &mut Vec<Pane<K, O>>, out: &mut PanesOutput<K, O>)
    where
        C: CombineFn<V, Acc = A, Out = O>,
    {
        while let Some(bucket) = self.open.pop_passed(wm) {
            self.emit_on_time(bucket, combine, batch, out);
        }
        let lateness = self.after.lateness;
        while let Some(entry) = self.fired.first_entry() {
            if entry.get().0.gc_time(lateness) < gc {
                entry.remove();
            } else {
                break;
            }
        }
    }

    /// Emits the on-time panes of a window the watermark has passed; with lateness, the
    /// window's keys are kept for their late panes.
    fn emit_on_time<V, C>(
        &mut self,
        bucket: Bucket<K, A>,
        combine: &C,
        batch: &mut Vec<Pane<K, O>>,
        out: &mut PanesOutput<K, O>,
    ) where
        C: CombineFn<V, Acc = A, Out = O>,
    {
        let window = bucket.window;
        let tick = bucket.cap.time().tick;
        // Fired at the watermark just past the window's end (the reducer's per-key output
        // watermark fires one timer at a time): last if that is past garbage collection;
        // or, with leaps, if the input watermark is.
        let gc = window.gc_time(self.after.lateness);
        let last = gc <= window.max_timestamp() || (self.after.leaps && gc < self.input_wm);
        let info = PaneInfo { timing: Timing::OnTime, index: 0, nonspeculative_index: 0, first: true, last };
        // With lateness the window's keys are kept for their late panes.
        let keep_acc = self.after.accumulation != Accumulation::Discarding;
        let retracting = self.after.accumulation == Accumulation::Retracting;
        let mut keys = (!last).then(|| {
            let n = bucket.table.len();
            &mut self.fired.entry(order(&window)).or_insert_with(|| (window, HashTable::with_capacity(n))).1
        });
        // In the table's order: the same for the same input at one worker (a fixed-seed
        // hash), unordered across workers as any output is.
        for (key, acc) in bucket.table {
            let value = combine.extract(&acc);
            if let Some(keys) = keys.as_mut() {
                let fired = Fired { info, acc: keep_acc.then_some(acc), emitted: retracting.then(|| value.clone()) };
                keys.insert_unique(table_hash(&key), (key.clone(), fired), |(x, _)| table_hash(x));
            }
            batch.push(Pane { value, key, window, timestamp: window.max_timestamp(), info, retraction: false, tick });
        }
        out.activate().session(&bucket.cap).give_container(batch);
        batch.clear();
    }

    /// Applies one late stamp: one late pane per (key, window) of the stamp.
    fn apply_late<V, C>(
        &mut self,
        cap: &Capability<Time>,
        rows: Vec<(K, Window, A)>,
        combine: &C,
        batch: &mut Vec<Pane<K, O>>,
        out: &mut PanesOutput<K, O>,
    ) where
        C: CombineFn<V, Acc = A, Out = O>,
    {
        // The stamp's accumulators per (key, window): several workers, several batches.
        // In the map's order: the same for the same input at one worker (a fixed-seed hash).
        let mut merged: FxHashMap<(K, Window), A> = FxHashMap::default();
        for (k, w, acc) in rows {
            match merged.entry((k, w)) {
                Entry::Occupied(mut e) => combine.merge(e.get_mut(), acc),
                Entry::Vacant(e) => {
                    e.insert(acc);
                }
            }
        }
        let tick = cap.time().tick;
        let accumulation = self.after.accumulation;
        for ((k, w), acc) in merged {
            let (_, keys) = self.fired.entry(order(&w)).or_insert_with(|| (w, HashTable::new()));
            let h = table_hash(&k);
            let timestamp = w.max_timestamp();
            let entry = keys.find_mut(h, |(x, _)| *x == k);
            let (info, value) = match entry {
                Some((_, fired)) => {
                    let prev = fired.info;
                    let info = PaneInfo {
                        timing: Timing::Late,
                        index: prev.index + 1,
                        nonspeculative_index: prev.nonspeculative_index + 1,
                        first: false,
                        last: false,
                    };
                    let value = match fired.acc.as_mut() {
                        Some(all) => {
                            combine.merge(all, acc);
                            combine.extract(all)
                        }
                        None => combine.extract(&acc),
                    };
                    if let Some(old) = fired.emitted.take() {
                        batch.push(Pane {
                            value: old,
                            key: k.clone(),
                            window: w,
                            timestamp,
                            info: prev,
                            retraction: true,
                            tick,
                        });
                    }
                    if accumulation == Accumulation::Retracting {
                        fired.emitted = Some(value.clone());
                    }
                    fired.info = info;
                    (info, value)
                }
                None => {
                    // The window's first pane: no record was on time.
                    let info =
                        PaneInfo { timing: Timing::Late, index: 0, nonspeculative_index: 0, first: true, last: false };
                    let value = combine.extract(&acc);
                    let fired = Fired {
                        info,
                        acc: (accumulation != Accumulation::Discarding).then_some(acc),
                        emitted: (accumulation == Accumulation::Retracting).then(|| value.clone()),
                    };
                    keys.insert_unique(h, (k.clone(), fired), |(x, _)| table_hash(x));
                    (info, value)
                }
            };
            batch.push(Pane { value, key: k, window: w, timestamp, info, retraction: false, tick });
        }
        if !batch.is_empty() {
            out.activate().session(cap).give_container(batch);
            batch.clear();
        }
    }

    /// The checkpoint state: open and fired windows.
    fn snapshot(&self) -> GlobalState<K, A, O> {
        let fired = self.fired.values().map(|(w, keys)| (*w, keys.iter().cloned().collect())).collect();
        (snapshot(&self.open), fired)
    }

    /// Adds restored fired windows, keeping the keys `ckpt` owns (a key is fired on one
    /// worker only: the one that owned it).
    fn restore_fired(&mut self, fired: FiredState<K, A, O>, ckpt: &Checkpointing)
    where
        K: KeyHash,
    {
        for (w, rows) in fired {
            let (_, keys) = self.fired.entry(order(&w)).or_insert_with(|| (w, HashTable::new()));
            for (k, f) in rows.into_iter().filter(|(k, _)| ckpt.owns(k)) {
                let h = table_hash(&k);
                keys.insert_unique(h, (k, f), |(x, _)| table_hash(x));
            }
        }
    }
}

/// The order of fired windows: the watermark passes them (and their garbage-collection
/// times, one lateness later) in this order.
fn order(w: &Window) -> (i64, i64) {
    (w.max_timestamp(), w.start)
}

/// The panes output of the phase.
type PanesOutput<K, O> = OutputBuilder<Time, CapacityContainerBuilder<Vec<Pane<K, O>>>>;
