//! Collections: streams of records with event times, keyed streams, windowed streams.

use super::error::BuildError;
use super::shared::Shared;
use crate::dead_letter::{DeadLetter, DeadLetterKind, Location};
use highwater_operators::combine::{Collect, CombineFn, Count};
use highwater_operators::operator::{
    plan, windowed_aggregate, windowed_aggregate_precombined, KeyHash, OutputWatermark, Plan,
};
use highwater_operators::pane::Pane;
use highwater_operators::reduce::DropReason;
use highwater_operators::strategy::{Accumulation, TimestampCombiner, WindowingStrategy};
use highwater_operators::time::Time;
use highwater_operators::trigger::Trigger;
use highwater_operators::window::{WindowFn, WindowSpec};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::hash::Hash;
use std::rc::Rc;
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline as PipelinePact;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

/// What records must be to travel between workers and processes.
pub trait Data: Clone + Send + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Serialize + DeserializeOwned + 'static> Data for T {}

/// What keys must be.
pub trait Key: Data + Hash + Eq + Ord + Debug {}
impl<T: Data + Hash + Eq + Ord + Debug> Key for T {}

/// Something a collection can be written to. A sink is built inside every worker.
pub trait Sink<T> {
    /// Attaches the sink to the collection's stream.
    fn attach(self, collection: Collection<'_, T>);
}

/// A stream of records, each with its event time.
pub struct Collection<'s, T> {
    pub(crate) stream: Stream<'s, Time, Vec<(i64, T)>>,
    pub(crate) shared: Rc<Shared<'s>>,
}

impl<'s, T: Clone + 'static> Clone for Collection<'s, T> {
    fn clone(&self) -> Self {
        Collection { stream: self.stream.clone(), shared: self.shared.clone() }
    }
}

impl<'s, T: Data> Collection<'s, T> {
    /// The underlying timely stream of `(event time, record)`, stamped with watermarks.
    pub fn stream(&self) -> Stream<'s, Time, Vec<(i64, T)>> {
        self.stream.clone()
    }

    fn unary_map<U: Data>(
        self,
        name: &str,
        mut f: impl FnMut(i64, T, &mut Vec<(i64, U)>) + 'static,
    ) -> Collection<'s, U> {
        let stream = self.stream.unary(PipelinePact, name, move |_, _| {
            let mut buf = Vec::new();
            move |input, output| {
                input.for_each(|cap, data| {
                    for (t, x) in data.drain(..) {
                        f(t, x, &mut buf);
                    }
                    output.session(&cap).give_iterator(buf.drain(..));
                });
            }
        });
        Collection { stream, shared: self.shared }
    }

    /// Transforms each record; the event time stays.
    pub fn map<U: Data>(self, f: impl Fn(T) -> U + 'static) -> Collection<'s, U> {
        self.unary_map("map", move |t, x, out| out.push((t, f(x))))
    }
    /// Keeps the records for which `f` is true.
    pub fn filter(self, f: impl Fn(&T) -> bool + 'static) -> Collection<'s, T> {
        self.unary_map("filter", move |t, x, out| {
            if f(&x) {
                out.push((t, x))
            }
        })
    }
    /// Replaces each record by zero or more; they keep its event time.
    pub fn flat_map<U: Data, I: IntoIterator<Item = U>>(self, f: impl Fn(T) -> I + 'static) -> Collection<'s, U> {
        self.unary_map("flat_map", move |t, x, out| out.extend(f(x).into_iter().map(|u| (t, u))))
    }
    /// Assigns new event times. Records whose new time is behind the watermark they were
    /// stamped with are late from here on.
    pub fn with_event_time(self, f: impl Fn(&T) -> i64 + 'static) -> Collection<'s, T> {
        self.unary_map("with_event_time", move |_, x, out| out.push((f(&x), x)))
    }
    /// Keys the records: the next step groups by this key.
    pub fn key_by<K: Key>(self, f: impl Fn(&T) -> K + 'static) -> Keyed<'s, K, T> {
        self.key_map(move |x| (f(&x), x))
    }
    /// Keys the records and replaces each by a value in one pass (`key_by` then
    /// `map_values` without the second pass): e.g. `|bid| (bid.auction, bid.price)`.
    pub fn key_map<K: Key, V: Data>(self, f: impl Fn(T) -> (K, V) + 'static) -> Keyed<'s, K, V> {
        let stream = self.stream.unary(PipelinePact, "key_by", move |_, _| {
            let mut buf = Vec::new();
            move |input, output| {
                input.for_each(|cap, data| {
                    buf.extend(data.drain(..).map(|(t, x)| {
                        let (k, v) = f(x);
                        (k, t, v)
                    }));
                    output.session(&cap).give_iterator(buf.drain(..));
                });
            }
        });
        Keyed { stream, shared: self.shared }
    }
    /// Writes the records to a sink.
    pub fn write(self, sink: impl Sink<T>) {
        sink.attach(self);
    }
    /// Merges two collections of the same type.
    pub fn concat(self, other: Collection<'s, T>) -> Collection<'s, T> {
        use timely::dataflow::operators::Concat;
        Collection { stream: self.stream.concat(other.stream), shared: self.shared }
    }
}

/// A keyed collection: records grouped by `K` in the next step.
pub struct Keyed<'s, K, T> {
    pub(crate) stream: Stream<'s, Time, Vec<(K, i64, T)>>,
    pub(crate) shared: Rc<Shared<'s>>,
}

impl<'s, K: Key, T: Data> Keyed<'s, K, T> {
    /// Windows the keyed records.
    pub fn window(self, window: Windowing) -> Windowed<'s, K, T> {
        Windowed { stream: self.stream, shared: self.shared, windowing: window, precombine: true }
    }
    /// The keyed records as `(key, record)` pairs.
    pub fn into_pairs(self) -> Collection<'s, (K, T)> {
        let stream = self.stream.unary(PipelinePact, "into_pairs", |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    output.session(&cap).give_iterator(data.drain(..).map(|(k, t, v)| (t, (k, v))));
                });
            }
        });
        Collection { stream, shared: self.shared }
    }
    /// Transforms the values, keeping the keys (e.g. a bid into its price before a `Sum`).
    pub fn map_values<U: Data>(self, f: impl Fn(T) -> U + 'static) -> Keyed<'s, K, U> {
        let stream = self.stream.unary(PipelinePact, "map_values", move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    output.session(&cap).give_iterator(data.drain(..).map(|(k, t, v)| (k, t, f(v))));
                });
            }
        });
        Keyed { stream, shared: self.shared }
    }
}

/// How to window and trigger: a window function, a trigger, allowed lateness, an
/// accumulation mode and a timestamp combiner — Beam's `Window.into(...)`.
///
/// ```
/// use highwater::pipeline::Windowing;
/// use highwater::model::trigger::Trigger;
/// let w = Windowing::sliding(10_000, 2_000)
///     .trigger(Trigger::after_watermark().with_early(Trigger::after_processing_time(1_000)))
///     .allowed_lateness(60_000)
///     .accumulating();
/// assert!(w.strategy().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct Windowing {
    window: WindowSpec,
    custom: Option<Arc<dyn WindowFn>>,
    trigger: Trigger,
    allowed_lateness: i64,
    accumulation: Accumulation,
    timestamp_combiner: TimestampCombiner,
}

impl Windowing {
    /// Windows of a built-in function, with Beam's defaults (default trigger, no lateness,
    /// discarding, end-of-window timestamps).
    pub fn new(window: WindowSpec) -> Self {
        Windowing {
            window,
            custom: None,
            trigger: Trigger::Default,
            allowed_lateness: 0,
            accumulation: Accumulation::Discarding,
            timestamp_combiner: TimestampCombiner::EndOfWindow,
        }
    }
    /// Tumbling windows of `size` ticks.
    pub fn fixed(size: i64) -> Self {
        Windowing::new(WindowSpec::fixed(size))
    }
    /// Windows of `size` every `period`.
    pub fn sliding(size: i64, period: i64) -> Self {
        Windowing::new(WindowSpec::sliding(size, period))
    }
    /// Sessions with a `gap`.
    pub fn sessions(gap: i64) -> Self {
        Windowing::new(WindowSpec::sessions(gap))
    }
    /// The global window.
    pub fn global() -> Self {
        Windowing::new(WindowSpec::Global)
    }
    /// A window function of your own.
    pub fn custom(window_fn: Arc<dyn WindowFn>) -> Self {
        let mut w = Windowing::new(WindowSpec::Global);
        w.custom = Some(window_fn);
        w
    }
    /// The trigger.
    pub fn trigger(mut self, t: Trigger) -> Self {
        self.trigger = t;
        self
    }
    /// Allowed lateness in ticks.
    pub fn allowed_lateness(mut self, l: i64) -> Self {
        self.allowed_lateness = l;
        self
    }
    /// Discarding panes (the default).
    pub fn discarding(mut self) -> Self {
        self.accumulation = Accumulation::Discarding;
        self
    }
    /// Accumulating panes.
    pub fn accumulating(mut self) -> Self {
        self.accumulation = Accumulation::Accumulating;
        self
    }
    /// Accumulating-and-retracting panes.
    pub fn retracting(mut self) -> Self {
        self.accumulation = Accumulation::Retracting;
        self
    }
    /// Any accumulation mode.
    pub fn accumulation(mut self, a: Accumulation) -> Self {
        self.accumulation = a;
        self
    }
    /// The timestamp combiner.
    pub fn timestamp_combiner(mut self, c: TimestampCombiner) -> Self {
        self.timestamp_combiner = c;
        self
    }
    /// The validated strategy.
    pub fn strategy(&self) -> Result<WindowingStrategy, BuildError> {
        let b = match &self.custom {
            Some(f) => WindowingStrategy::custom(f.clone()),
            None => WindowingStrategy::new(self.window.clone().validate().map_err(BuildError::Window)?),
        };
        b.trigger(self.trigger.clone())
            .allowed_lateness(self.allowed_lateness)
            .accumulation(self.accumulation)
            .timestamp_combiner(self.timestamp_combiner)
            .build()
            .map_err(BuildError::Strategy)
    }
}

/// A keyed, windowed collection, ready to aggregate.
pub struct Windowed<'s, K, T> {
    stream: Stream<'s, Time, Vec<(K, i64, T)>>,
    shared: Rc<Shared<'s>>,
    windowing: Windowing,
    precombine: bool,
}

impl<'s, K: Key, T: Data> Windowed<'s, K, T> {
    /// Sends every record through the exchange instead of pre-combining them per (key,
    /// window) first. Pre-combining (Beam's combiner lifting) is on by default wherever it
    /// cannot change a pane: non-merging windows, end-of-window timestamps, and a trigger
    /// that never closes its window.
    pub fn without_precombining(mut self) -> Self {
        self.precombine = false;
        self
    }
    /// Aggregates each key and window with `combine`; `name` names the step (metrics,
    /// dead letters, checkpoints) and must be unique in the pipeline. Returns the panes;
    /// their event time is the pane timestamp, so they can be windowed again.
    pub fn aggregate<C>(self, name: &str, combine: C) -> Result<Collection<'s, Pane<K, C::Out>>, BuildError>
    where
        C: CombineFn<T>,
        C::Out: Data,
    {
        let shared = self.shared.clone();
        shared.claim_name(name)?;
        let strategy = self.windowing.strategy().map_err(|e| e.in_step(name))?;
        // The on-time operators hold their progress at their open windows (see
        // `StepDeadLetters::held_by_windows`).
        let held_by_windows = self.precombine
            && matches!(plan(&strategy, &OutputWatermark::PerKey), Plan::OnTimeWindows | Plan::OnTimeSessions);
        let out = if self.precombine {
            windowed_aggregate_precombined(
                self.stream,
                name,
                strategy,
                combine,
                shared.clock.clone(),
                OutputWatermark::PerKey,
            )
        } else {
            windowed_aggregate(self.stream, name, strategy, combine, shared.clock.clone(), OutputWatermark::PerKey)
        };
        let step = name.to_string();
        let dead = out.dead_letters.unary(PipelinePact, "dead-letters", move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    output.session(&cap).give_iterator(data.drain(..).map(|d| {
                        DeadLetter {
                            step: step.clone(),
                            kind: match d.reason {
                                DropReason::TooLate => DeadLetterKind::TooLate,
                                DropReason::WindowClosed => DeadLetterKind::WindowClosed,
                            },
                            location: Location::Window {
                                key: serde_json::to_string(&d.key)
                                    .unwrap_or_else(|_| format!("{:?}", format!("{:?}", d.key))),
                                timestamp: d.timestamp,
                                window: (d.window.start, d.window.end),
                                watermark: d.watermark,
                            },
                            reason: d.reason.to_string(),
                            record: serde_json::to_string(&d.value).unwrap_or_default(),
                        }
                    }));
                });
            }
        });
        shared.add_dead_letters(name, dead, held_by_windows);
        let panes = out.panes.unary(PipelinePact, "pane-times", |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    output.session(&cap).give_iterator(data.drain(..).map(|p: Pane<K, C::Out>| (p.timestamp, p)));
                });
            }
        });
        Ok(Collection { stream: panes, shared })
    }
    /// Aggregates like [`Windowed::aggregate`] and returns the panes as a differential
    /// [`Changelog`](super::Changelog): the latest pane of each (key, window), revised by
    /// `-previous, +new` updates in whatever accumulation mode the windowing uses.
    pub fn changelog<C>(self, name: &str, combine: C) -> Result<super::Changelog<'s, K, C::Out>, BuildError>
    where
        C: CombineFn<T>,
        C::Out: super::ChangeValue,
    {
        let mode = self.windowing.accumulation;
        Ok(self.aggregate(name, combine)?.changelog(mode))
    }
    /// Counts the records of each key and window.
    pub fn count(self, name: &str) -> Result<Collection<'s, Pane<K, u64>>, BuildError> {
        self.aggregate(name, Count)
    }
    /// Groups the records of each key and window into a list (Beam's `GroupByKey`).
    pub fn group(self, name: &str) -> Result<Collection<'s, Pane<K, Vec<T>>>, BuildError>
    where
        T: Debug,
    {
        self.aggregate(name, Collect)
    }
}

/// Keys hash the same way everywhere (re-exported for custom partitioning).
pub fn key_hash<K: Hash>(k: &K) -> u64 {
    k.key_hash()
}
