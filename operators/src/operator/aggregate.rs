//! The keyed windowed aggregate operator.

use super::board::OutputWatermark;
use crate::clock::Clock;
use crate::combine::CombineFn;
use crate::pane::Pane;
use crate::reduce::{DropReason, Dropped, OutputWatermarkMode, WindowedReducer};
use crate::strategy::WindowingStrategy;
use crate::time::{Time, POS_INF};
use crate::window::Window;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::ExchangeData;

/// The fixed-seed hash that routes a key to its worker: the same in every process and
/// every run.
pub trait KeyHash {
    /// The routing hash.
    fn key_hash(&self) -> u64;
}

impl<T: Hash + ?Sized> KeyHash for T {
    fn key_hash(&self) -> u64 {
        // FxHash has no random seed: the same in every process and run. Its low bits are
        // weak, so mix them before timely takes the hash modulo the worker count.
        let mut h = rustc_hash::FxHasher::default();
        self.hash(&mut h);
        let x = h.finish();
        (x ^ (x >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16
    }
}

/// The lower of the hold capability and the frontier capability.
pub(super) fn lowest<'a>(
    hold_cap: Option<&'a Capability<Time>>,
    frontier_cap: Option<&'a Capability<Time>>,
) -> Option<&'a Capability<Time>> {
    [hold_cap, frontier_cap].into_iter().flatten().min_by_key(|c| *c.time())
}

/// Moves the hold capability to `(hold, 0)` — or as close as the capabilities held allow —
/// or drops it when nothing is held.
pub(super) fn move_hold(
    hold_cap: &mut Option<Capability<Time>>,
    frontier_cap: Option<&Capability<Time>>,
    hold: Option<i64>,
) {
    let Some(h) = hold else {
        *hold_cap = None;
        return;
    };
    let target = Time::new(h, 0);
    if let Some(low) = lowest(hold_cap.as_ref(), frontier_cap) {
        let at = if low.time() <= &target { target } else { *low.time() };
        *hold_cap = Some(low.delayed(&at));
    }
}

/// Downgrades capabilities that follow the input frontier to it; drops them once it is
/// empty.
pub(super) fn follow_frontier<const N: usize>(frontier: Option<Time>, caps: [&mut Option<Capability<Time>>; N]) {
    for cap in caps {
        match frontier {
            Some(f) => {
                if let Some(c) = cap.as_mut() {
                    c.downgrade(&f);
                }
            }
            None => *cap = None,
        }
    }
}

/// The two outputs of [`windowed_aggregate`].
pub struct AggregateOutput<'scope, K, O, V> {
    /// Panes (and retractions), each stamped no later than the input watermark at which it
    /// was emitted.
    pub panes: Stream<'scope, Time, Vec<Pane<K, O>>>,
    /// Elements dropped as too late or for a closed window. Its frontier is the
    /// operator's progress: every stamp before it has been fully applied.
    pub dead_letters: Stream<'scope, Time, Vec<Dropped<K, V>>>,
}

/// The keyed windowed aggregate: `(key, event time, value)` records in, panes out.
///
/// ```
/// use highwater_operators::combine::Count;
/// use highwater_operators::operator::{windowed_aggregate, OutputWatermark};
/// use highwater_operators::clock::VirtualClock;
/// use highwater_operators::strategy::WindowingStrategy;
/// use highwater_operators::time::Time;
/// use highwater_operators::window::WindowSpec;
/// use std::sync::{Arc, Mutex};
/// use timely::dataflow::operators::{Input, Inspect};
/// use timely::dataflow::InputHandle;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// timely::execute_directly(move |worker| {
///     let mut input = InputHandle::new();
///     worker.dataflow(|scope| {
///         let strategy = WindowingStrategy::new(WindowSpec::fixed(10)).build().unwrap();
///         let stream = scope.input_from(&mut input).container::<Vec<(String, i64, u64)>>();
///         let out = windowed_aggregate(stream, "count", strategy, Count, Arc::new(VirtualClock::new(0)), OutputWatermark::Local);
///         out.panes.inspect(move |p| sink.lock().unwrap().push((p.window.start, p.value)));
///     });
///     input.send(("a".to_string(), 3, 1));
///     input.send(("a".to_string(), 4, 1));
///     input.advance_to(Time::new(20, 0));
/// });
/// assert_eq!(*seen.lock().unwrap(), vec![(0, 2)]);
/// ```
pub fn windowed_aggregate<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
    clock: Arc<dyn Clock>,
    output_watermark: OutputWatermark,
) -> AggregateOutput<'scope, K, C::Out, V>
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    aggregate_core(
        input,
        name,
        strategy,
        combine,
        clock,
        output_watermark,
        |x: &(K, i64, V)| x.0.key_hash(),
        |r, data, now| r.process_bundle(data, now),
    )
}

/// [`windowed_aggregate`] with the cheapest plan the strategy allows; the panes and dead
/// letters are the same.
///
/// - One on-time pane per key and window (the default trigger or `after_watermark()`
///   without early firings, no allowed lateness, end-of-window timestamps): for
///   non-merging windows each worker combines its records per (key, window) until its
///   input watermark passes the window and exchanges one accumulator per key and window;
///   for sessions a dedicated operator merges sessions per key without the reducer's
///   trigger machinery. Neither applies with an [`OutputWatermark::Shared`] board.
/// - Otherwise, Beam's combiner lifting where [`WindowingStrategy::can_precombine`] allows
///   it: each worker combines its records per (key, window) and stamp, drops the too-late
///   ones to the dead letters, and exchanges one accumulator per (key, window) instead of
///   every record.
/// - Otherwise [`windowed_aggregate`].
///
/// ```
/// use highwater_operators::combine::Count;
/// use highwater_operators::operator::{windowed_aggregate_precombined, OutputWatermark};
/// use highwater_operators::clock::VirtualClock;
/// use highwater_operators::strategy::WindowingStrategy;
/// use highwater_operators::time::Time;
/// use highwater_operators::window::WindowSpec;
/// use std::sync::{Arc, Mutex};
/// use timely::dataflow::operators::{Input, Inspect};
/// use timely::dataflow::InputHandle;
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// timely::execute_directly(move |worker| {
///     let mut input = InputHandle::new();
///     worker.dataflow(|scope| {
///         let strategy = WindowingStrategy::new(WindowSpec::sessions(10)).build().unwrap();
///         let stream = scope.input_from(&mut input).container::<Vec<(String, i64, u64)>>();
///         let out = windowed_aggregate_precombined(stream, "sessions", strategy, Count, Arc::new(VirtualClock::new(0)), OutputWatermark::PerKey);
///         out.panes.inspect(move |p| sink.lock().unwrap().push((p.key.clone(), p.window.start, p.window.end, p.value)));
///     });
///     input.send(("a".to_string(), 3, 1));
///     input.send(("a".to_string(), 9, 1)); // merges with the session at 3: [3, 19)
///     input.send(("b".to_string(), 40, 1));
///     input.advance_to(Time::new(100, 0));
/// });
/// let mut seen = seen.lock().unwrap().clone();
/// seen.sort();
/// assert_eq!(seen, vec![("a".to_string(), 3, 19, 2), ("b".to_string(), 40, 50, 1)]);
/// ```
pub fn windowed_aggregate_precombined<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
    clock: Arc<dyn Clock>,
    output_watermark: OutputWatermark,
) -> AggregateOutput<'scope, K, C::Out, V>
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    let plan = aggregate_plan(&strategy, &output_watermark);
    windowed_aggregate_planned(input, name, strategy, combine, clock, output_watermark, plan)
}

/// The operator that runs a windowed aggregate: the planner's one decision (DESIGN §9),
/// made by [`aggregate_plan`] and carried out by [`windowed_aggregate_planned`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AggregatePlan {
    /// One on-time pane per key and non-merging window: per-worker combining until the
    /// watermark passes the window, one accumulator per key and window exchanged.
    OnTime,
    /// One on-time pane per key and session: the session operator, no trigger machinery.
    OnTimeSessions,
    /// The reducer fed with per-stamp partial aggregates (Beam's combiner lifting).
    Precombined,
    /// The general reducer, record by record.
    Reducer,
}

/// Which operator [`windowed_aggregate_precombined`] runs for `strategy`: the on-time
/// operators where they cannot change a pane (never with an [`OutputWatermark::Shared`]
/// board, which they do not publish to), else combiner lifting where
/// [`WindowingStrategy::can_precombine`] allows it, else the reducer. The conformance
/// runner asks the same question, so the scenarios run what pipelines run.
///
/// ```
/// use highwater_operators::operator::{aggregate_plan, AggregatePlan, OutputWatermark};
/// use highwater_operators::strategy::WindowingStrategy;
/// use highwater_operators::window::WindowSpec;
/// let s = WindowingStrategy::new(WindowSpec::fixed(10)).build().unwrap();
/// assert_eq!(aggregate_plan(&s, &OutputWatermark::PerKey), AggregatePlan::OnTime);
/// ```
pub fn aggregate_plan(strategy: &WindowingStrategy, output_watermark: &OutputWatermark) -> AggregatePlan {
    let shared = matches!(output_watermark, OutputWatermark::Shared(_));
    if !shared && super::on_time::fires_once_on_time(strategy) {
        AggregatePlan::OnTime
    } else if !shared && super::on_time::sessions_fire_once_on_time(strategy) {
        AggregatePlan::OnTimeSessions
    } else if strategy.can_precombine() {
        AggregatePlan::Precombined
    } else {
        AggregatePlan::Reducer
    }
}

/// The windowed aggregate with the operator `plan` names (see [`aggregate_plan`]). The
/// on-time plans take no output watermark (their one pane is ON_TIME by construction);
/// the others use `output_watermark`. A plan must fit the strategy: [`aggregate_plan`]
/// gives one that does, [`AggregatePlan::Reducer`] always fits.
pub fn windowed_aggregate_planned<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
    clock: Arc<dyn Clock>,
    output_watermark: OutputWatermark,
    plan: AggregatePlan,
) -> AggregateOutput<'scope, K, C::Out, V>
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    match plan {
        AggregatePlan::OnTime => return super::on_time::on_time_aggregate(input, name, strategy, combine),
        AggregatePlan::OnTimeSessions => return super::on_time::session_aggregate(input, name, strategy, combine),
        AggregatePlan::Reducer => return windowed_aggregate(input, name, strategy, combine, clock, output_watermark),
        AggregatePlan::Precombined => {}
    }
    let (partials, early_dead) = precombine(input, &format!("{name}:precombine"), &strategy, combine.clone());
    let out = aggregate_core(
        partials,
        name,
        strategy,
        combine,
        clock,
        output_watermark,
        |x: &(K, Window, C::Acc, u64)| x.0.key_hash(),
        |r, data, now| r.process_partials(data, now),
    );
    use timely::dataflow::operators::Concat;
    AggregateOutput { panes: out.panes, dead_letters: out.dead_letters.concat(early_dead) }
}

/// Combines records per (key, window) within each message, dropping too-late records.
#[allow(clippy::type_complexity)]
fn precombine<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: &WindowingStrategy,
    combine: C,
) -> (Stream<'scope, Time, Vec<(K, Window, C::Acc, u64)>>, Stream<'scope, Time, Vec<Dropped<K, V>>>)
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
{
    let scope = input.scope();
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let mut input = builder.new_input(input, timely::dataflow::channels::pact::Pipeline);
    let (out, partials) = builder.new_output::<Vec<(K, Window, C::Acc, u64)>>();
    let (dead_out, dead) = builder.new_output::<Vec<Dropped<K, V>>>();
    let mut out = OutputBuilder::from(out);
    let mut dead_out = OutputBuilder::from(dead_out);
    let window_fn = strategy.window_fn.clone();
    let lateness = strategy.allowed_lateness;
    builder.build(move |_caps| {
        let mut table: rustc_hash::FxHashMap<(K, Window), (C::Acc, u64)> = Default::default();
        let mut windows = Vec::new();
        let mut dropped = Vec::new();
        move |_frontiers| {
            input.for_each(|cap, data| {
                let wm = cap.least().map_or(i64::MIN, |t| t.watermark());
                for (k, t, v) in data.drain(..) {
                    windows.clear();
                    window_fn.assign(t, &mut windows);
                    let n = windows.len();
                    let mut v = Some(v);
                    for (i, w) in windows.iter().enumerate() {
                        // The last window takes the value; the others get clones.
                        let value = if i + 1 == n {
                            v.take().expect("present until the last window")
                        } else {
                            v.clone().expect("present")
                        };
                        if w.gc_time(lateness) < wm {
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
                        let e = table.entry((k.clone(), *w)).or_insert_with(|| (combine.create(), 0));
                        combine.add(&mut e.0, value);
                        e.1 += 1;
                    }
                }
                if !table.is_empty() {
                    out.activate().session(&cap).give_iterator(table.drain().map(|((k, w), (acc, n))| (k, w, acc, n)));
                }
                if !dropped.is_empty() {
                    dead_out.activate().session(&cap).give_iterator(dropped.drain(..));
                }
            });
        }
    });
    (partials, dead)
}

/// The operator shared by both entry points: `D` records, routed by `route`, applied per
/// complete stamp by `apply`.
#[allow(clippy::too_many_arguments)]
fn aggregate_core<'scope, K, V, C, D>(
    input: Stream<'scope, Time, Vec<D>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
    clock: Arc<dyn Clock>,
    output_watermark: OutputWatermark,
    route: impl Fn(&D) -> u64 + 'static,
    mut apply: impl FnMut(&mut WindowedReducer<K, V, C>, Vec<D>, i64) + 'static,
) -> AggregateOutput<'scope, K, C::Out, V>
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
    D: ExchangeData,
{
    let scope = input.scope();
    let worker = scope.index();
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let info = builder.operator_info();
    let activator = scope.activator_for(info.address.clone());
    let mut input = builder.new_input(input, Exchange::new(move |x: &D| route(x)));
    let (panes_out, panes) = builder.new_output::<Vec<Pane<K, C::Out>>>();
    let (dead_out, dead_letters) = builder.new_output::<Vec<Dropped<K, V>>>();
    let mut panes_out = OutputBuilder::from(panes_out);
    let mut dead_out = OutputBuilder::from(dead_out);

    builder.build(move |mut caps| {
        let mut dead_cap: Option<Capability<Time>> = caps.pop();
        let mut frontier_cap: Option<Capability<Time>> = caps.pop();
        let mut hold_cap: Option<Capability<Time>> = None;
        let per_key = matches!(output_watermark, OutputWatermark::PerKey);
        let mut reducer: WindowedReducer<K, V, C> =
            WindowedReducer::new(strategy, combine).with_output_watermark_mode(if per_key {
                OutputWatermarkMode::PerKey
            } else {
                OutputWatermarkMode::Global
            });
        let mut stash: BTreeMap<Time, Vec<D>> = BTreeMap::new();
        let mut cur_tick: u64 = 0;
        let mut step_panes: Vec<Pane<K, C::Out>> = Vec::new();
        let mut tagged: Vec<(Time, Pane<K, C::Out>)> = Vec::new();
        let mut dead_buf: Vec<Dropped<K, V>> = Vec::new();
        let shared = match &output_watermark {
            OutputWatermark::Shared(b) => Some(b.clone()),
            OutputWatermark::Local | OutputWatermark::PerKey => None,
        };
        // Local recomputes the global value from this worker's holds after each advance.
        let refresh = matches!(output_watermark, OutputWatermark::Local);

        move |frontiers| {
            input.for_each_stamp(|cap, data| {
                if let Some(t) = cap.least() {
                    let entry = stash.entry(*t).or_default();
                    for d in data {
                        entry.append(d);
                    }
                }
            });
            let Some(fcap) = frontier_cap.as_ref() else { return };
            let frontier: Option<Time> = frontiers[0].frontier().iter().min().copied();
            let now = clock.now();
            if let Some(b) = &shared {
                reducer.set_output_watermark(b.get());
            }
            let before = *fcap.time();
            // Panes are tagged with the stamp they were produced at: a bundle's panes with
            // its stamp; a watermark advance's panes with the stamp processed before it (the
            // frontier the invocation started at, for the first), so that successive
            // refinements reach differential consumers at successive times.
            let mut base = before;
            // Apply every complete stamp, in order.
            while let Some((&t, _)) = stash.first_key_value() {
                if frontier.is_some_and(|f| f <= t) {
                    break;
                }
                let data = stash.pop_first().map(|e| e.1).unwrap_or_default();
                if t.watermark() > reducer.input_watermark() {
                    reducer.set_tick(cur_tick);
                    reducer.advance_watermark(t.watermark(), now);
                    if refresh {
                        reducer.refresh_output_watermark();
                    }
                    reducer.drain_into(&mut step_panes, &mut dead_buf);
                    tagged.extend(step_panes.drain(..).map(|p| (base, p)));
                }
                reducer.set_tick(t.tick);
                apply(&mut reducer, data, now);
                reducer.drain_into(&mut step_panes, &mut dead_buf);
                tagged.extend(step_panes.drain(..).map(|p| (t, p)));
                base = t;
                cur_tick = t.tick;
            }
            // Advance to the frontier.
            reducer.set_tick(cur_tick);
            let wm = frontier.map_or(POS_INF, |f| f.watermark());
            if wm > reducer.input_watermark() {
                reducer.advance_watermark(wm, now);
                if refresh {
                    reducer.refresh_output_watermark();
                }
            }
            reducer.advance_processing_time(now);
            if let Some(f) = frontier {
                cur_tick = f.tick;
            }
            reducer.drain_into(&mut step_panes, &mut dead_buf);
            tagged.extend(step_panes.drain(..).map(|p| (base, p)));
            // Emit. A pane goes out at `min(its timestamp, the stamp's watermark)` (never
            // later than its timestamp, as Beam's holds guarantee for downstream windows);
            // retractions go out with the pane that replaces them, at the later of their
            // times, so a differential consumer never sees a pane before its retraction.
            if !tagged.is_empty() {
                let mut out = panes_out.activate();
                let mut group: Vec<Pane<K, C::Out>> = Vec::new();
                // Consecutive panes going out at the same time share one message.
                let mut batch: Vec<Pane<K, C::Out>> = Vec::new();
                let mut batch_at: Option<Time> = None;
                // The capability to send at `at`: the hold if it allows, else the frontier's.
                let cap_for = |at: &Time| match hold_cap.as_ref() {
                    Some(h) if h.time() <= at => h,
                    _ => frontier_cap.as_ref().expect("present while running"),
                };
                for (stamp, p) in tagged.drain(..) {
                    let desired = |q: &Pane<K, C::Out>| Time::new(q.timestamp.min(stamp.watermark()), stamp.tick);
                    if p.retraction {
                        group.push(p);
                        continue;
                    }
                    let mut at = desired(&p);
                    for r in &group {
                        at = at.max(desired(r));
                    }
                    let cap = cap_for(&at);
                    if cap.time() > &at {
                        at = *cap.time();
                    }
                    if batch_at.is_some_and(|b| b != at) {
                        let b = batch_at.take().expect("checked");
                        out.session(&cap_for(&b).delayed(&b)).give_container(&mut batch);
                        batch.clear();
                    }
                    batch_at = Some(at);
                    batch.append(&mut group);
                    batch.push(p);
                }
                if let Some(b) = batch_at {
                    out.session(&cap_for(&b).delayed(&b)).give_container(&mut batch);
                }
            }
            if !dead_buf.is_empty() {
                if let Some(dc) = dead_cap.as_ref() {
                    dead_out.activate().session(dc).give_iterator(dead_buf.drain(..));
                }
                dead_buf.clear();
            }
            // Holds: one capability at the earliest hold (clamped to what can be minted).
            move_hold(&mut hold_cap, frontier_cap.as_ref(), reducer.min_hold());
            // Progress.
            follow_frontier(frontier, [&mut frontier_cap, &mut dead_cap]);
            if let Some(b) = &shared {
                b.publish(worker, reducer.min_hold());
            }
            if clock.is_realtime() {
                if let Some(d) = reducer.next_processing_deadline() {
                    let wait = (d - clock.now() + 1).max(0) as u64;
                    activator.activate_after(std::time::Duration::from_millis(wait));
                }
            }
        }
    });

    AggregateOutput { panes, dead_letters }
}
