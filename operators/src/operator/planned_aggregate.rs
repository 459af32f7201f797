//! [`windowed_aggregate_precombined`]: the keyed windowed aggregate on the operators
//! [`plan`] picks.

use super::checkpoint::Checkpointing;
use super::gauges::StepGauges;
use super::key_hash::KeyHash;
use super::on_time_global::{on_time_global, AfterOnTime};
use super::on_time_local::on_time_local;
use super::on_time_sessions::on_time_sessions;
use super::output::AggregateOutput;
use super::output_watermark::OutputWatermark;
use super::plan::{plan, Plan};
use super::precombine::precombine;
use super::windowed_aggregate::reducer_aggregate;
use crate::clock::Clock;
use crate::combine::CombineFn;
use crate::strategy::WindowingStrategy;
use crate::time::Time;
use crate::window::Window;
use std::hash::Hash;
use std::sync::Arc;
use timely::dataflow::operators::Concat;
use timely::dataflow::Stream;
use timely::ExchangeData;

/// [`windowed_aggregate`](super::windowed_aggregate) on the cheapest operators the strategy allows ([`plan`]); the
/// panes and dead letters are the same.
///
/// - [`Plan::OnTimeWindows`]: one on-time pane per key and window (the default trigger or
///   `after_watermark()` without early firings, no allowed lateness, end-of-window
///   timestamps) and non-merging windows: each worker combines its records per (key,
///   window) until its input watermark passes the window and exchanges one accumulator per
///   key and window.
/// - [`Plan::OnTimeSessions`]: the same for sessions: a dedicated operator merges sessions
///   per key without the reducer's trigger machinery. Neither on-time plan applies with an
///   [`OutputWatermark::Shared`] board.
/// - [`Plan::Precombined`]: Beam's combiner lifting where
///   [`WindowingStrategy::can_precombine`] allows it: each worker combines its records per
///   (key, window) and stamp, drops the too-late ones to the dead letters, and exchanges
///   one accumulator per (key, window) instead of every record.
/// - [`Plan::Reducer`]: the reducer on every record, as in
///   [`windowed_aggregate`](super::windowed_aggregate).
///
/// ```
/// use highwater::model::combine::Count;
/// use highwater::model::operator::{windowed_aggregate_precombined, OutputWatermark};
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
    let plan = plan(&strategy, &output_watermark);
    windowed_aggregate_planned(input, name, strategy, combine, clock, output_watermark, plan)
}

/// The windowed aggregate on the operators `plan` names (see [`plan`]): the conformance
/// runner forces [`Plan::Reducer`] with it (`--operator reducer`). The on-time plans take no
/// output watermark (their one pane is ON_TIME by construction); the others use
/// `output_watermark`. A plan must fit the strategy: [`plan`] gives one that does,
/// [`Plan::Reducer`] always fits.
pub fn windowed_aggregate_planned<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
    clock: Arc<dyn Clock>,
    output_watermark: OutputWatermark,
    plan: Plan,
) -> AggregateOutput<'scope, K, C::Out, V>
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    windowed_aggregate_checkpointed(input, name, strategy, combine, clock, output_watermark, plan, None)
}

/// [`windowed_aggregate_planned`] taking part in checkpoints: with `ckpt`, every plan's
/// stateful operator (the on-time phases, the sessions operator, the reducer) starts from
/// the state `ckpt` restores and saves its state at every cut it announces (see
/// [`CutHooks`](super::CutHooks)).
///
/// ```
/// use highwater::model::combine::Count;
/// use highwater::model::operator::{plan, windowed_aggregate_checkpointed, OutputWatermark, Plan};
/// use highwater::model::clock::VirtualClock;
/// use highwater::model::strategy::WindowingStrategy;
/// use highwater::model::time::Time;
/// use highwater::model::window::WindowSpec;
/// use std::sync::Arc;
/// use timely::dataflow::operators::Input;
/// use timely::dataflow::InputHandle;
///
/// timely::execute_directly(move |worker| {
///     let mut input = InputHandle::new();
///     worker.dataflow(|scope| {
///         let strategy = WindowingStrategy::new(WindowSpec::fixed(10)).build().unwrap();
///         assert_eq!(plan(&strategy, &OutputWatermark::PerKey), Plan::OnTimeWindows);
///         let stream = scope.input_from(&mut input).container::<Vec<(String, i64, u64)>>();
///         // No checkpoints: the same as windowed_aggregate_planned.
///         windowed_aggregate_checkpointed(stream, "counts", strategy, Count,
///             Arc::new(VirtualClock::new(0)), OutputWatermark::PerKey, Plan::OnTimeWindows, None);
///     });
///     input.send(("a".to_string(), 3, 1));
///     input.advance_to(Time::new(100, 0));
/// });
/// ```
#[allow(clippy::too_many_arguments)]
pub fn windowed_aggregate_checkpointed<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
    clock: Arc<dyn Clock>,
    output_watermark: OutputWatermark,
    plan: Plan,
    ckpt: Option<Checkpointing>,
) -> AggregateOutput<'scope, K, C::Out, V>
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    windowed_aggregate_observed(input, name, strategy, combine, clock, output_watermark, plan, ckpt, None)
}

/// [`windowed_aggregate_checkpointed`] reporting its state: with `gauges`, the stateful
/// operator of the plan stores its open windows and keys with state there once per
/// activation (see [`StepGauges`]; the engine's metrics read them).
///
/// ```
/// use highwater::model::combine::Count;
/// use highwater::model::operator::{windowed_aggregate_observed, OutputWatermark, Plan, StepGauges};
/// use highwater::model::clock::VirtualClock;
/// use highwater::model::strategy::WindowingStrategy;
/// use highwater::model::time::Time;
/// use highwater::model::window::WindowSpec;
/// use std::sync::Arc;
/// use timely::dataflow::operators::{Input, Probe};
/// use timely::dataflow::InputHandle;
///
/// let gauges = Arc::new(StepGauges::default());
/// let g = gauges.clone();
/// timely::execute_directly(move |worker| {
///     let mut input = InputHandle::new();
///     let g2 = g.clone();
///     let probe = worker.dataflow(|scope| {
///         let strategy = WindowingStrategy::new(WindowSpec::fixed(10)).build().unwrap();
///         let stream = scope.input_from(&mut input).container::<Vec<(String, i64, u64)>>();
///         let out = windowed_aggregate_observed(stream, "counts", strategy, Count,
///             Arc::new(VirtualClock::new(0)), OutputWatermark::PerKey, Plan::OnTimeWindows, None, Some(g2));
///         out.panes.probe().0
///     });
///     input.send(("a".to_string(), 3, 1));
///     input.send(("b".to_string(), 4, 1));
///     input.send(("a".to_string(), 13, 1));
///     input.advance_to(Time::new(5, 0));
///     while probe.less_than(&Time::new(5, 0)) {
///         worker.step();
///     }
///     // The windows [0, 10) and [10, 20) are open, with three (key, window) accumulators.
///     assert_eq!((g.open_windows(), g.state_keys()), (2, 3));
/// });
/// // The input ended: every window closed.
/// assert_eq!((gauges.open_windows(), gauges.state_keys()), (0, 0));
/// ```
#[allow(clippy::too_many_arguments)]
pub fn windowed_aggregate_observed<'scope, K, V, C>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    strategy: WindowingStrategy,
    combine: C,
    clock: Arc<dyn Clock>,
    output_watermark: OutputWatermark,
    plan: Plan,
    ckpt: Option<Checkpointing>,
    gauges: Option<Arc<StepGauges>>,
) -> AggregateOutput<'scope, K, C::Out, V>
where
    K: ExchangeData + Clone + Hash + Eq + Ord,
    V: ExchangeData + Clone,
    C: CombineFn<V>,
    C::Out: 'static,
{
    match plan {
        Plan::OnTimeWindows => {
            let (partials, late, early_dead) = on_time_local(
                input,
                &format!("{name}:local"),
                strategy.window_fn.clone(),
                strategy.allowed_lateness,
                combine.clone(),
                ckpt.clone(),
                gauges,
            );
            let after = AfterOnTime {
                lateness: strategy.allowed_lateness,
                accumulation: strategy.accumulation,
                leaps: !matches!(output_watermark, OutputWatermark::PerKey),
            };
            let (panes, progress) = on_time_global(partials, late, name, combine, after, ckpt);
            AggregateOutput { panes, dead_letters: early_dead.concat(progress) }
        }
        Plan::OnTimeSessions => on_time_sessions(input, name, strategy, combine, ckpt, gauges),
        Plan::Precombined => {
            let (partials, early_dead) = precombine(input, &format!("{name}:precombine"), &strategy, combine.clone());
            let out = reducer_aggregate(
                partials,
                name,
                strategy,
                combine,
                clock,
                output_watermark,
                |x: &(K, Window, C::Acc, u64)| x.0.key_hash(),
                |r, data, now| r.process_partials(data, now),
                ckpt,
                gauges,
            );
            AggregateOutput { panes: out.panes, dead_letters: out.dead_letters.concat(early_dead) }
        }
        Plan::Reducer => reducer_aggregate(
            input,
            name,
            strategy,
            combine,
            clock,
            output_watermark,
            |x: &(K, i64, V)| x.0.key_hash(),
            |r, data, now| r.process_bundle(data, now),
            ckpt,
            gauges,
        ),
    }
}
