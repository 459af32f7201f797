//! The keyed windowed aggregate driven by the general reducer ([`crate::reduce`]): every
//! strategy, every trigger ([`super::Plan::Reducer`], and the second half of
//! [`super::Plan::Precombined`]).

use super::capability::{follow_frontier, move_hold, raise_to};
use super::checkpoint::{pending, Checkpointing};
use super::gauges::StepGauges;
use super::key_hash::KeyHash;
use super::output::AggregateOutput;
use super::output_watermark::OutputWatermark;
use super::stash::stash_at;
use crate::clock::Clock;
use crate::combine::CombineFn;
use crate::pane::Pane;
use crate::reduce::{Dropped, OutputWatermarkMode, WindowedReducer};
use crate::strategy::WindowingStrategy;
use crate::time::{Time, POS_INF};
use std::collections::BTreeMap;
use std::hash::Hash;
use std::sync::Arc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::ExchangeData;

/// The keyed windowed aggregate: `(key, event time, value)` records in, panes out.
///
/// ```
/// use highwater::model::combine::Count;
/// use highwater::model::operator::{windowed_aggregate, OutputWatermark};
/// use highwater::model::clock::VirtualClock;
/// use highwater::model::strategy::WindowingStrategy;
/// use highwater::model::time::Time;
/// use highwater::model::window::WindowSpec;
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
    reducer_aggregate(
        input,
        name,
        strategy,
        combine,
        clock,
        output_watermark,
        |x: &(K, i64, V)| x.0.key_hash(),
        |r, data, now| r.process_bundle(data, now),
        None,
        None,
    )
}

/// The reducer-driven operator: `D` records (elements, or the accumulators of
/// [`super::precombine`]), exchanged by `route`, applied to the reducer per complete stamp
/// by `apply`.
#[allow(clippy::too_many_arguments)]
pub(super) fn reducer_aggregate<'scope, K, V, C, D>(
    input: Stream<'scope, Time, Vec<D>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
    clock: Arc<dyn Clock>,
    output_watermark: OutputWatermark,
    route: impl Fn(&D) -> u64 + 'static,
    mut apply: impl FnMut(&mut WindowedReducer<K, V, C>, Vec<D>, i64) + 'static,
    ckpt: Option<Checkpointing>,
    gauges: Option<Arc<StepGauges>>,
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
    let step = name.to_owned();
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
        if let Some(c) = ckpt.as_ref() {
            c.hooks.register(&step);
            for piece in c.hooks.restored(&step) {
                if let Err(e) = reducer.restore_state(&piece, |k| c.owns(k)) {
                    c.hooks.fail(
                        &step,
                        format!(
                            "its checkpointed state cannot be read ({e}): was the pipeline changed? rerun with --fresh"
                        ),
                    );
                }
            }
        }
        // A restored run sends nothing before the cut: its late and early panes of
        // windows before it go out at the cut, as they did in the run that took it.
        let restored = ckpt.as_ref().and_then(Checkpointing::restored_cut);
        if let Some(r) = restored {
            raise_to(r, [&mut frontier_cap, &mut dead_cap]);
        }
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
                    for d in data {
                        stash_at(&mut stash, *t, d);
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
            // A pending cut the frontier has passed: the state is saved between the last
            // stamp before it and the first after it.
            let mut cut = pending(&ckpt, &step).filter(|c| frontier.is_none_or(|f| f >= *c));
            // At the cut: the watermark moves to the cut's, the panes and dead letters so
            // far go out (at times before it), the state is saved, and the capabilities
            // move to the cut, so that nothing after it goes out before it.
            macro_rules! take_cut {
                ($c:expr) => {{
                    let c: Time = $c;
                    if c.watermark() > reducer.input_watermark() {
                        reducer.set_tick(cur_tick);
                        reducer.advance_watermark(c.watermark(), now);
                        if refresh {
                            reducer.refresh_output_watermark();
                        }
                        reducer.drain_into(&mut step_panes, &mut dead_buf);
                        tagged.extend(step_panes.drain(..).map(|p| (base, p)));
                    }
                    emit(&mut tagged, &mut panes_out, hold_cap.as_ref(), frontier_cap.as_ref());
                    if !dead_buf.is_empty() {
                        if let Some(dc) = dead_cap.as_ref() {
                            dead_out.activate().session(dc).give_iterator(dead_buf.drain(..));
                        }
                        dead_buf.clear();
                    }
                    if let Some(k) = ckpt.as_ref() {
                        k.save_encoded(&step, c, reducer.save_state());
                    }
                    raise_to(c, [&mut frontier_cap, &mut dead_cap, &mut hold_cap]);
                    base = c;
                }};
            }
            // Apply every complete stamp, in order.
            while let Some((&t, _)) = stash.first_key_value() {
                if frontier.is_some_and(|f| f <= t) {
                    break;
                }
                if let Some(c) = cut.filter(|c| t >= *c) {
                    take_cut!(c);
                    cut = None;
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
            if let Some(c) = cut {
                take_cut!(c);
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
            emit(&mut tagged, &mut panes_out, hold_cap.as_ref(), frontier_cap.as_ref());
            if !dead_buf.is_empty() {
                if let Some(dc) = dead_cap.as_ref() {
                    dead_out.activate().session(dc).give_iterator(dead_buf.drain(..));
                }
                dead_buf.clear();
            }
            // Holds: one capability at the earliest hold (clamped to what can be minted).
            move_hold(&mut hold_cap, frontier_cap.as_ref(), reducer.min_hold());
            // Progress.
            follow_frontier(frontier.map(|f| restored.map_or(f, |r| f.max(r))), [&mut frontier_cap, &mut dead_cap]);
            if let Some(b) = &shared {
                b.publish(worker, reducer.min_hold());
            }
            if let Some(g) = &gauges {
                g.set(reducer.window_count() as u64, reducer.key_count() as u64);
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

/// The panes output of the reducer-driven operator.
type PanesOutput<K, O> = OutputBuilder<Time, CapacityContainerBuilder<Vec<Pane<K, O>>>>;

/// Emits the panes produced so far, each tagged with the stamp it was produced at.
fn emit<K, O: 'static>(
    tagged: &mut Vec<(Time, Pane<K, O>)>,
    panes_out: &mut PanesOutput<K, O>,
    hold_cap: Option<&Capability<Time>>,
    frontier_cap: Option<&Capability<Time>>,
) where
    K: Clone + 'static,
{
    let Some(fcap) = frontier_cap else { return };
    // Emit. A pane goes out at `min(its timestamp, the stamp's watermark)` (never
    // later than its timestamp, as Beam's holds guarantee for downstream windows);
    // retractions go out with the pane that replaces them, at the later of their
    // times, so a differential consumer never sees a pane before its retraction.
    if !tagged.is_empty() {
        let mut out = panes_out.activate();
        let mut group: Vec<Pane<K, O>> = Vec::new();
        // Consecutive panes going out at the same time share one message.
        let mut batch: Vec<Pane<K, O>> = Vec::new();
        let mut batch_at: Option<Time> = None;
        // The capability to send at `at`: the hold if it allows, else the frontier's.
        let cap_for = |at: &Time| match hold_cap {
            Some(h) if h.time() <= at => h,
            _ => fcap,
        };
        for (stamp, p) in tagged.drain(..) {
            let desired = |q: &Pane<K, O>| Time::new(q.timestamp.min(stamp.watermark()), stamp.tick);
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
}
