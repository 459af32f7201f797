//! The windowed aggregate for strategies whose one pane per key and window fires when the
//! watermark passes the end of the window: two-phase aggregation held until the watermark.
//!
//! With non-merging windows, end-of-window timestamps, no allowed lateness and a trigger
//! without early firings (the default trigger, `after_watermark()` with or without late
//! firings — with no lateness, no record is ever late but not dropped), Beam emits exactly
//! one pane per key and window: the on-time pane of every record that was not too late,
//! when the watermark passes the end of the window. Nothing about it depends on when
//! records arrived before that, so each worker can combine its records per (key, window)
//! until its own input watermark passes the window ([`local`]), and exchange one
//! accumulator per key and window instead of one per record or per batch. The owner of
//! the key merges the accumulators of all workers ([`global`]) and emits the pane once the
//! frontier passes the window. The panes are the ones the general reducer emits (its tests
//! compare the two); the reducer's per-key bookkeeping (pane indices, trigger state,
//! holds, timers) has nothing to do here and is skipped.
//!
//! Each open window holds one capability at `max(arrival, (max_timestamp, 0))`: the
//! downstream watermark waits for the window, and no longer.

use super::aggregate::{follow_frontier, lowest, move_hold, AggregateOutput, KeyHash};
use crate::combine::CombineFn;
use crate::pane::{Pane, PaneInfo, Timing};
use crate::reduce::{DropReason, Dropped};
use crate::strategy::{TimestampCombiner, WindowingStrategy};
use crate::time::{Time, NEG_INF, POS_INF};
use crate::trigger::Trigger;
use crate::window::{Window, WindowFn, WindowSpec};
use hashbrown::HashTable;
use smallvec::SmallVec;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::{Capability, Concat};
use timely::dataflow::Stream;
use timely::ExchangeData;

/// Whether [`on_time_aggregate`] emits the panes the general reducer would: one on-time
/// pane per key and window, when the watermark passes its end.
pub(super) fn fires_once_on_time(strategy: &WindowingStrategy) -> bool {
    one_on_time_pane(strategy) && !strategy.window_fn.is_merging()
}

/// The default trigger, or `after_watermark()` with any late firings but no early ones,
/// no allowed lateness (the one pane is the on-time pane: late firings never see a record,
/// a late record is dropped) and end-of-window timestamps.
fn one_on_time_pane(strategy: &WindowingStrategy) -> bool {
    matches!(strategy.trigger, Trigger::Default | Trigger::AfterWatermark { early: None, .. })
        && strategy.allowed_lateness == 0
        && strategy.timestamp_combiner == TimestampCombiner::EndOfWindow
}

/// Records stashed by stamp until the frontier passes it: the containers as received.
type Stash<K, V> = BTreeMap<Time, Vec<Vec<(K, i64, V)>>>;

/// The open windows of one phase, in the order the watermark passes them, each with its
/// accumulators per key and the capability that holds it.
struct Open<K, A> {
    windows: VecDeque<Bucket<K, A>>,
    /// The index of the last window looked up (records come in runs of one window).
    last: usize,
    /// The number of keys of the last window passed: the capacity a new window starts with.
    size_hint: usize,
}

struct Bucket<K, A> {
    window: Window,
    /// `(key, accumulator)`, found by [`table_hash`] (computed once per record).
    table: HashTable<(K, A)>,
    cap: Capability<Time>,
}

fn order(w: &Window) -> (i64, i64) {
    (w.max_timestamp(), w.start)
}

/// The hash of a key in the per-window tables: FxHash spread over all 64 bits (the table
/// takes its control bits from the top).
#[inline]
fn table_hash<K: Hash>(k: &K) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    k.hash(&mut h);
    h.finish().wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl<K: Hash + Eq, A> Open<K, A> {
    fn new() -> Self {
        Open { windows: VecDeque::new(), last: 0, size_hint: 0 }
    }

    /// The index of `window`, if open. Records come in runs of one window, and a sliding
    /// window's record asks for its windows newest first: the last window looked up, the
    /// one before it and the newest few are tried before a binary search.
    #[inline]
    fn find(&self, window: &Window) -> Result<usize, usize> {
        let n = self.windows.len();
        for i in [self.last, self.last.wrapping_sub(1)] {
            if self.windows.get(i).is_some_and(|b| b.window == *window) {
                return Ok(i);
            }
        }
        if let Some(i) = (n.saturating_sub(4)..n).rev().find(|&i| self.windows[i].window == *window) {
            return Ok(i);
        }
        self.windows.binary_search_by(|b| order(&b.window).cmp(&order(window)))
    }

    /// The table of `window` for a record arriving at `arrival`: opened with a capability
    /// from `mint` at the earliest time its panes may be emitted at if it is new; an
    /// existing window's capability moves back if this arrival allows an earlier time.
    #[inline]
    fn table(
        &mut self,
        window: Window,
        arrival: &Time,
        mint: impl Fn(&Time) -> Capability<Time>,
    ) -> &mut HashTable<(K, A)> {
        let i = match self.find(&window) {
            Ok(i) => {
                let b = &mut self.windows[i];
                if arrival < b.cap.time() {
                    let at = hold_for(&window, arrival);
                    if at < *b.cap.time() {
                        b.cap = mint(&at);
                    }
                }
                i
            }
            Err(i) => {
                let table = HashTable::with_capacity(self.size_hint);
                self.windows.insert(i, Bucket { window, table, cap: mint(&hold_for(&window, arrival)) });
                i
            }
        };
        self.last = i;
        &mut self.windows[i].table
    }

    /// Removes and returns the first window if the watermark `wm` has passed it.
    fn pop_passed(&mut self, wm: i64) -> Option<Bucket<K, A>> {
        if self.windows.front().is_some_and(|b| b.window.max_timestamp() < wm) {
            self.last = 0;
            let b = self.windows.pop_front();
            self.size_hint = b.as_ref().map_or(0, |b| b.table.len());
            b
        } else {
            None
        }
    }
}

/// The earliest time a record arriving at `arrival` may be emitted at for `window`.
#[inline]
fn hold_for(window: &Window, arrival: &Time) -> Time {
    (*arrival).max(Time::new(window.max_timestamp(), 0))
}

/// The input watermark of a frontier (`POS_INF` once it is empty).
fn frontier_watermark(f: &timely::progress::frontier::MutableAntichain<Time>) -> i64 {
    f.frontier().iter().map(|t| t.watermark()).min().unwrap_or(POS_INF)
}

/// The aggregate for strategies with [`fires_once_on_time`]: [`local`] combining on every
/// worker, the exchange, and [`global`] merging and emitting.
pub(super) fn on_time_aggregate<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
) -> AggregateOutput<'scope, K, C::Out, V>
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    let (partials, early_dead) = local(input, &format!("{name}:local"), strategy.window_fn.clone(), combine.clone());
    let (panes, progress) = global(partials, name, combine);
    AggregateOutput { panes, dead_letters: early_dead.concat(progress) }
}

/// Phase one, on every worker before the exchange: combines the records per key and window
/// until the worker's input watermark passes the window, then sends one accumulator per
/// key and window. Records for windows the watermark has already passed are too late (no
/// allowed lateness here) and go to the dead letters.
#[allow(clippy::type_complexity)]
fn local<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    window_fn: Arc<dyn WindowFn>,
    combine: C,
) -> (Stream<'scope, Time, Vec<(K, Window, C::Acc)>>, Stream<'scope, Time, Vec<Dropped<K, V>>>)
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
{
    let scope = input.scope();
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let mut input = builder.new_input(input, Pipeline);
    let (out, partials) = builder.new_output::<Vec<(K, Window, C::Acc)>>();
    let (dead_out, dead) = builder.new_output::<Vec<Dropped<K, V>>>();
    let mut out = OutputBuilder::from(out);
    let mut dead_out = OutputBuilder::from(dead_out);
    builder.build(move |_caps| {
        let mut open: Open<K, C::Acc> = Open::new();
        let mut windows = Vec::new();
        let mut dropped = Vec::new();
        let mut batch = Vec::new();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&arrival) = cap.least() else { return };
                let wm = arrival.watermark();
                for (k, t, v) in data.drain(..) {
                    windows.clear();
                    window_fn.assign(t, &mut windows);
                    let h = table_hash(&k);
                    let n = windows.len();
                    let mut v = Some(v);
                    for (i, w) in windows.iter().enumerate() {
                        // The last window takes the value; the others get clones.
                        let value = if i + 1 == n {
                            v.take().expect("present until the last window")
                        } else {
                            v.clone().expect("present")
                        };
                        if w.max_timestamp() < wm {
                            dropped.push(Dropped {
                                key: k.clone(),
                                timestamp: t,
                                value,
                                window: *w,
                                reason: DropReason::TooLate,
                                watermark: wm,
                            });
                            continue;
                        }
                        let table = open.table(*w, &arrival, |at| cap.delayed(at, 0));
                        match table.find_mut(h, |(x, _)| *x == k) {
                            Some((_, acc)) => combine.add(acc, value),
                            None => {
                                let mut acc = combine.create();
                                combine.add(&mut acc, value);
                                table.insert_unique(h, (k.clone(), acc), |(x, _)| table_hash(x));
                            }
                        }
                    }
                }
                if !dropped.is_empty() {
                    dead_out.activate().session(&cap).give_iterator(dropped.drain(..));
                }
            });
            let wm = frontier_watermark(&frontiers[0]);
            while let Some(bucket) = open.pop_passed(wm) {
                let window = bucket.window;
                batch.extend(bucket.table.into_iter().map(|(k, acc)| (k, window, acc)));
                out.activate().session(&bucket.cap).give_container(&mut batch);
                batch.clear();
            }
        }
    });
    (partials, dead)
}

/// Phase two, on the key's worker: merges the accumulators of every worker per key and
/// window and emits the window's panes once the frontier has passed it.
/// The second stream carries nothing; its frontier is the phase's progress.
#[allow(clippy::type_complexity)]
fn global<'scope, K, V, C>(
    partials: Stream<'scope, Time, Vec<(K, Window, C::Acc)>>,
    name: &str,
    combine: C,
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
    let (out, panes) = builder.new_output::<Vec<Pane<K, C::Out>>>();
    let (progress_out, progress) = builder.new_output::<Vec<Dropped<K, V>>>();
    let mut out = OutputBuilder::from(out);
    let _progress_out: OutputBuilder<Time, timely::container::CapacityContainerBuilder<Vec<Dropped<K, V>>>> =
        OutputBuilder::from(progress_out);
    builder.build(move |mut caps| {
        // Held at the input frontier: the progress stream's frontier follows this phase.
        let mut progress_cap: Option<Capability<Time>> = caps.pop();
        drop(caps);
        let mut open: Open<K, C::Acc> = Open::new();
        let mut rows: Vec<(K, C::Acc)> = Vec::new();
        let mut batch: Vec<Pane<K, C::Out>> = Vec::new();
        move |frontiers| {
            input.for_each(|cap, data| {
                let Some(&arrival) = cap.least() else { return };
                for (k, w, acc) in data.drain(..) {
                    let table = open.table(w, &arrival, |at| cap.delayed(at, 0));
                    let h = table_hash(&k);
                    match table.find_mut(h, |(x, _)| *x == k) {
                        Some((_, a)) => combine.merge(a, acc),
                        None => {
                            table.insert_unique(h, (k, acc), |(x, _)| table_hash(x));
                        }
                    }
                }
            });
            let wm = frontier_watermark(&frontiers[0]);
            while let Some(bucket) = open.pop_passed(wm) {
                let window = bucket.window;
                let tick = bucket.cap.time().tick;
                // In the table's order: the same for the same input at one worker (a
                // fixed-seed hash), unordered across workers as any output is.
                rows.extend(bucket.table);
                let info =
                    PaneInfo { timing: Timing::OnTime, index: 0, nonspeculative_index: 0, first: true, last: true };
                batch.extend(rows.drain(..).map(|(key, acc)| Pane {
                    value: combine.extract(&acc),
                    key,
                    window,
                    timestamp: window.max_timestamp(),
                    info,
                    retraction: false,
                    tick,
                }));
                out.activate().session(&bucket.cap).give_container(&mut batch);
                batch.clear();
            }
            follow_frontier(frontiers[0].frontier().iter().min().copied(), [&mut progress_cap]);
        }
    });
    (panes, progress)
}

/// Whether [`session_aggregate`] emits the panes the general reducer would: the built-in
/// session windows under the conditions of [`fires_once_on_time`], so one on-time pane
/// per key and merged session.
pub(super) fn sessions_fire_once_on_time(strategy: &WindowingStrategy) -> bool {
    one_on_time_pane(strategy)
        && matches!(strategy.window, WindowSpec::Sessions { .. })
        && strategy.window_fn.is_merging()
}

/// One key's open sessions: disjoint, each with its accumulator and its earliest arrival
/// stamp (which gives its pane's tick, as in the other on-time operator: the tick of
/// `max(first arrival, (max_timestamp, 0))`, the same at any worker count).
type Sessions<A> = SmallVec<[(Window, A, Time); 1]>;

/// Session windows with one on-time pane per merged session ([`sessions_fire_once_on_time`]).
///
/// Records are exchanged by key and applied stamp by stamp, in stamp order, as the general
/// reducer applies them: first the watermark advances to the stamp's (closing every
/// session it passed: with no allowed lateness a session is gone the moment its pane
/// fires), then each record is dropped as too late or merged with the open sessions of its
/// key that its window intersects. Open sessions of a key never intersect, so the sessions
/// a new window touches merge into one. A heap of `(end, key)` entries — at least one per
/// key at or before its earliest session end — finds the sessions a watermark passes.
pub(super) fn session_aggregate<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
) -> AggregateOutput<'scope, K, C::Out, V>
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    let scope = input.scope();
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let mut input = builder.new_input(input, Exchange::new(|x: &(K, i64, V)| x.0.key_hash()));
    let (panes_out, panes) = builder.new_output::<Vec<Pane<K, C::Out>>>();
    let (dead_out, dead_letters) = builder.new_output::<Vec<Dropped<K, V>>>();
    let mut panes_out = OutputBuilder::from(panes_out);
    let mut dead_out = OutputBuilder::from(dead_out);
    let window_fn = strategy.window_fn.clone();
    builder.build(move |mut caps| {
        let mut dead_cap: Option<Capability<Time>> = caps.pop();
        let mut frontier_cap: Option<Capability<Time>> = caps.pop();
        let mut hold_cap: Option<Capability<Time>> = None;
        let mut stash: Stash<K, V> = BTreeMap::new();
        let mut open: rustc_hash::FxHashMap<K, Sessions<C::Acc>> = Default::default();
        let mut ends: BinaryHeap<Reverse<(i64, K)>> = BinaryHeap::new();
        let mut wm = NEG_INF;
        let mut fired: Vec<Pane<K, C::Out>> = Vec::new();
        let mut dropped: Vec<Dropped<K, V>> = Vec::new();
        let mut windows: Vec<Window> = Vec::new();
        let mut touched: SmallVec<[usize; 4]> = SmallVec::new();

        // Closes every session that ends before `to`, in (end, key) order.
        let advance = move |to: i64,
                            open: &mut rustc_hash::FxHashMap<K, Sessions<C::Acc>>,
                            ends: &mut BinaryHeap<Reverse<(i64, K)>>,
                            fired: &mut Vec<Pane<K, C::Out>>,
                            combine: &C| {
            while ends.peek().is_some_and(|Reverse((end, _))| *end < to) {
                let Some(Reverse((_, key))) = ends.pop() else { break };
                let Some(list) = open.get_mut(&key) else { continue };
                list.sort_unstable_by_key(|(w, _, _)| w.start);
                let mut i = 0;
                while i < list.len() {
                    if list[i].0.max_timestamp() < to {
                        let (window, acc, first) = list.remove(i);
                        let tick = first.max(Time::new(window.max_timestamp(), 0)).tick;
                        fired.push(Pane {
                            value: combine.extract(&acc),
                            key: key.clone(),
                            window,
                            timestamp: window.max_timestamp(),
                            info: PaneInfo {
                                timing: Timing::OnTime,
                                index: 0,
                                nonspeculative_index: 0,
                                first: true,
                                last: true,
                            },
                            retraction: false,
                            tick,
                        });
                    } else {
                        i += 1;
                    }
                }
                match list.iter().map(|(w, _, _)| w.max_timestamp()).min() {
                    Some(next) => ends.push(Reverse((next, key))),
                    None => {
                        open.remove(&key);
                    }
                }
            }
        };

        move |frontiers| {
            input.for_each(|cap, data| {
                if let Some(t) = cap.least() {
                    stash.entry(*t).or_default().push(std::mem::take(data));
                }
            });
            let frontier: Option<Time> = frontiers[0].frontier().iter().min().copied();
            // Apply every complete stamp, in order.
            while let Some((&t, _)) = stash.first_key_value() {
                if frontier.is_some_and(|f| f <= t) {
                    break;
                }
                let batches = stash.pop_first().map(|e| e.1).unwrap_or_default();
                if t.watermark() > wm {
                    advance(t.watermark(), &mut open, &mut ends, &mut fired, &combine);
                    wm = t.watermark();
                }
                for (k, ts, v) in batches.into_iter().flatten() {
                    windows.clear();
                    window_fn.assign(ts, &mut windows);
                    let Some(&w) = windows.first() else { continue };
                    if w.max_timestamp() < wm {
                        dropped.push(Dropped {
                            key: k,
                            timestamp: ts,
                            value: v,
                            window: w,
                            reason: DropReason::TooLate,
                            watermark: wm,
                        });
                        continue;
                    }
                    match open.get_mut(&k) {
                        Some(list) => {
                            touched.clear();
                            touched.extend((0..list.len()).filter(|&i| list[i].0.intersects(&w)));
                            if touched.is_empty() {
                                let mut acc = combine.create();
                                combine.add(&mut acc, v);
                                if list.iter().all(|(x, _, _)| x.max_timestamp() > w.max_timestamp()) {
                                    ends.push(Reverse((w.max_timestamp(), k.clone())));
                                }
                                list.push((w, acc, t));
                            } else {
                                // Merge every touched session into the first.
                                let first = touched[0];
                                let mut span = w;
                                let mut earliest = t;
                                for &i in touched.iter().skip(1).rev() {
                                    let (x, acc, at) = list.swap_remove(i);
                                    span = span.span(&x);
                                    earliest = earliest.min(at);
                                    combine.merge(&mut list[first].1, acc);
                                }
                                let target = &mut list[first];
                                target.0 = target.0.span(&span);
                                target.2 = target.2.min(earliest);
                                combine.add(&mut target.1, v);
                            }
                        }
                        None => {
                            let mut acc = combine.create();
                            combine.add(&mut acc, v);
                            ends.push(Reverse((w.max_timestamp(), k.clone())));
                            open.insert(k, smallvec::smallvec![(w, acc, t)]);
                        }
                    }
                }
            }
            // Advance to the frontier.
            let to = frontier.map_or(POS_INF, |f| f.watermark());
            if to > wm {
                advance(to, &mut open, &mut ends, &mut fired, &combine);
                wm = to;
            }
            // Emit: at the earliest pane timestamp, from the lowest capability held.
            if !fired.is_empty() {
                let earliest = fired.iter().map(|p| p.timestamp).min().unwrap_or(POS_INF);
                if let Some(low) = lowest(hold_cap.as_ref(), frontier_cap.as_ref()) {
                    let at = (*low.time()).max(Time::new(earliest, 0));
                    panes_out.activate().session(&low.delayed(&at)).give_container(&mut fired);
                }
                fired.clear();
            }
            if !dropped.is_empty() {
                if let Some(dc) = dead_cap.as_ref() {
                    dead_out.activate().session(dc).give_container(&mut dropped);
                }
                dropped.clear();
            }
            // Hold the output at the earliest open session end.
            move_hold(&mut hold_cap, frontier_cap.as_ref(), ends.peek().map(|Reverse((end, _))| *end));
            follow_frontier(frontier, [&mut frontier_cap, &mut dead_cap]);
        }
    });
    AggregateOutput { panes, dead_letters }
}
