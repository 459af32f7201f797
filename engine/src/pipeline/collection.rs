//! Collections: streams of records with event times, keyed streams, windowed streams.

use super::error::BuildError;
use super::shared::Shared;
use super::windowing::Windowing;
use crate::dead_letter::{DeadLetter, DeadLetterKind, Location};
use crate::runtime::metrics::StepCell;
use highwater_operators::combine::{Collect, CombineFn, Count};
use highwater_operators::operator::{plan, windowed_aggregate_observed, KeyHash, OutputWatermark, Plan};
use highwater_operators::pane::Pane;
use highwater_operators::reduce::DropReason;
use highwater_operators::strategy::{Accumulation, WindowingStrategy};
use highwater_operators::time::Time;
use highwater_operators::trigger::Trigger;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::hash::Hash;
use std::rc::Rc;
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
    /// Assigns new event times with a function that may fail: a record for which `f`
    /// returns `Err(e)` becomes a dead letter of `name` (kind malformed, the reason `bad
    /// event time: ` and `e`'s message, the record as JSON, [`Location::Record`] with its
    /// event time and watermark until then) instead of stopping the worker. `name` names
    /// the step and must be unique in the pipeline. [`crate::format::time`] parses the
    /// usual forms (RFC 3339, seconds, milliseconds, a format string).
    ///
    /// ```
    /// use highwater::format::time;
    /// use highwater::pipeline::{run, Collector, Memory, RunConfig};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// let (good, dead) = (Collector::new(), Collector::new());
    /// let (g, d) = (good.clone(), dead.clone());
    /// run(RunConfig::workers(1), move |p| {
    ///     let lines = vec![(0, "2024-01-01T00:00:01Z".to_string()), (0, "noon".to_string())];
    ///     p.read("lines", Memory::new(vec![lines], WatermarkStrategy::Ascending))?
    ///         .try_with_event_time("parse-time", |s: &String| time::rfc3339(s))?
    ///         .write(g.clone());
    ///     p.dead_letters().write(d.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert_eq!(good.take(), [(1_704_067_201_000, "2024-01-01T00:00:01Z".to_string())]);
    /// let dead = dead.take();
    /// assert_eq!((dead[0].1.step.as_str(), dead[0].1.record.as_str()), ("parse-time", "\"noon\""));
    /// assert!(dead[0].1.reason.starts_with("bad event time: `noon` is not an RFC 3339 date-time"));
    /// ```
    pub fn try_with_event_time<E: std::fmt::Display>(
        self,
        name: &str,
        f: impl Fn(&T) -> Result<i64, E> + 'static,
    ) -> Result<Collection<'s, T>, BuildError> {
        let shared = self.shared.clone();
        let stream = self.fallible(name, move |_, x| match f(&x) {
            Ok(t) => Ok((t, x)),
            Err(e) => Err((x, format!("bad event time: {e}"))),
        })?;
        Ok(Collection { stream, shared })
    }
    /// Keys the records with a function that may fail (a missing or malformed key
    /// field): a record for which `f` returns `Err(e)` becomes a dead letter of `name`
    /// (kind malformed, the reason `no key: ` and `e`'s message, the record as JSON,
    /// [`Location::Record`]) instead of stopping the worker or being dropped. `name` names
    /// the step and must be unique in the pipeline.
    ///
    /// ```
    /// use highwater::pipeline::{run, Collector, Memory, RunConfig};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// let dead = Collector::new();
    /// let d = dead.clone();
    /// run(RunConfig::workers(1), move |p| {
    ///     let events = vec![(1, r#"{"user":"ann"}"#.to_string()), (2, "{}".to_string())];
    ///     p.read("events", Memory::new(vec![events], WatermarkStrategy::Ascending))?
    ///         .try_key_by("user", |line: &String| {
    ///             let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    ///             v["user"].as_str().map(str::to_string).ok_or_else(|| "the field `user` is missing".to_string())
    ///         })?
    ///         .into_pairs();
    ///     p.dead_letters().write(d.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// let dead = dead.take();
    /// assert_eq!(dead.len(), 1);
    /// assert_eq!(dead[0].1.reason, "no key: the field `user` is missing");
    /// ```
    pub fn try_key_by<K: Key, E: std::fmt::Display>(
        self,
        name: &str,
        f: impl Fn(&T) -> Result<K, E> + 'static,
    ) -> Result<Keyed<'s, K, T>, BuildError> {
        let shared = self.shared.clone();
        let stream = self.fallible(name, move |t, x| match f(&x) {
            Ok(k) => Ok((k, t, x)),
            Err(e) => Err((x, format!("no key: {e}"))),
        })?;
        Ok(Keyed { stream, shared })
    }
    /// A step `name` that turns each record into a `U`, or into a malformed dead letter
    /// with a reason (the record as JSON, [`Location::Record`]).
    fn fallible<U: Data>(
        self,
        name: &str,
        f: impl Fn(i64, T) -> Result<U, (T, String)> + 'static,
    ) -> Result<Stream<'s, Time, Vec<U>>, BuildError> {
        use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
        use timely::dataflow::operators::generic::OutputBuilder;
        self.shared.claim_name(name)?;
        let mut builder = OperatorBuilder::new(name.to_string(), self.shared.scope);
        let mut input = builder.new_input(self.stream, PipelinePact);
        let (out, stream) = builder.new_output::<Vec<U>>();
        let (dead_out, dead) = builder.new_output::<Vec<DeadLetter>>();
        let (mut out, mut dead_out) = (OutputBuilder::from(out), OutputBuilder::from(dead_out));
        let step = name.to_string();
        builder.build(move |_initial| {
            let (mut good, mut bad) = (Vec::new(), Vec::new());
            move |_frontiers| {
                input.for_each(|cap, data| {
                    let Some(time) = cap.least().copied() else { return };
                    for (t, x) in data.drain(..) {
                        match f(t, x) {
                            Ok(u) => good.push(u),
                            Err((x, reason)) => bad.push(DeadLetter {
                                step: step.clone(),
                                kind: DeadLetterKind::Malformed,
                                location: Location::Record { event_time: t, watermark: time.watermark() },
                                reason,
                                record: serde_json::to_string(&x).unwrap_or_default(),
                            }),
                        }
                    }
                    if !good.is_empty() {
                        out.activate().session(&cap.delayed(&time, 0)).give_iterator(good.drain(..));
                    }
                    if !bad.is_empty() {
                        dead_out.activate().session(&cap.delayed(&time, 1)).give_iterator(bad.drain(..));
                    }
                });
            }
        });
        self.shared.add_dead_letters(name, dead, false);
        Ok(stream)
    }
    /// Keys the records: the next step groups by this key.
    pub fn key_by<K: Key>(self, f: impl Fn(&T) -> K + 'static) -> Keyed<'s, K, T> {
        self.map_to_keyed(move |x| (f(&x), x))
    }
    /// Keys the records and replaces each by a value in one pass (`key_by` then
    /// `map_values` without the second pass): e.g. `|bid| (bid.auction, bid.price)`.
    pub fn map_to_keyed<K: Key, V: Data>(self, f: impl Fn(T) -> (K, V) + 'static) -> Keyed<'s, K, V> {
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
    /// Not a step: windows are per key, so a collection is keyed first
    /// ([`Collection::key_by`], [`Collection::map_to_keyed`]) and [`Keyed::window`] windows it.
    /// Calling `window` on a collection does not compile, with a message that says so:
    ///
    /// ```text
    /// error[E0277]: `window` needs a keyed collection: call `.key_by(|record| key)` or
    ///               `.map_to_keyed(|record| (key, value))` before `.window(...)`
    /// ```
    ///
    /// ```compile_fail,E0277
    /// use highwater::pipeline::{run, Memory, RunConfig, Windowing};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// run(RunConfig::workers(1), |p| {
    ///     let src = Memory::new(vec![vec![(1, 7u64)]], WatermarkStrategy::Ascending);
    ///     p.read("numbers", src)?.window(Windowing::fixed(Duration::from_millis(10))).count("n")?;
    ///     Ok(())
    /// });
    /// ```
    pub fn window(self, windowing: Windowing) -> Windowed<'s, (), T>
    where
        Self: KeyByBeforeWindow,
    {
        // Never called: no collection implements `KeyByBeforeWindow`.
        self.key_by(|_| ()).window(windowing)
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

/// What a collection would need to be windowed: a key. Nothing implements it, so
/// [`Collection::window`] does not compile and says to key the collection first.
#[diagnostic::on_unimplemented(
    message = "`window` needs a keyed collection: call `.key_by(|record| key)` or `.map_to_keyed(|record| (key, value))` before `.window(...)`",
    label = "this collection has no key yet",
    note = "windows are per key: `key_by` makes a `Keyed` collection, and `Keyed::window` windows it"
)]
pub trait KeyByBeforeWindow {}

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
    /// Aggregates each key and window with `combine`; `name` names the step (in dead
    /// letters and errors) and must be unique in the pipeline. Returns the panes;
    /// their event time is the pane timestamp, so they can be windowed again.
    pub fn aggregate<C>(self, name: &str, combine: C) -> Result<Collection<'s, Pane<K, C::Out>>, BuildError>
    where
        C: CombineFn<T>,
        C::Out: Data,
    {
        let shared = self.shared.clone();
        shared.claim_name(name)?;
        let strategy = self.windowing.strategy().map_err(|e| e.in_step(name))?;
        // The sessions operator holds its progress at its open sessions (see
        // `StepDeadLetters::held_by_windows`); the on-time windows' dead letters follow the
        // input (and the late stamps not yet applied).
        let held_by_windows = self.precombine && plan(&strategy, &OutputWatermark::PerKey) == Plan::OnTimeSessions;
        let ckpt = super::checkpointing::hooks(&shared);
        let chosen = if self.precombine { plan(&strategy, &OutputWatermark::PerKey) } else { Plan::Reducer };
        // The step's metrics: counted per batch here, its gauges set by the operator.
        let cell = shared.counters.progress.metrics().step(name, shared.worker);
        let out = windowed_aggregate_observed(
            self.stream,
            name,
            strategy,
            combine,
            shared.clock.clone(),
            OutputWatermark::PerKey,
            chosen,
            ckpt,
            Some(cell.gauges.clone()),
        );
        let step = name.to_string();
        let dropped = cell.clone();
        let dead = out.dead_letters.unary(PipelinePact, "dead-letters", move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    dropped.add_late_dropped(data.len() as u64);
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
        // Counts the panes by timing (once per batch) and follows the step's output
        // frontier: its output watermark.
        let panes = out.panes.unary_frontier(PipelinePact, "pane-times", move |_, _| {
            let mut last: Option<Option<i64>> = None;
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    let mut counts = [0u64; 3];
                    for p in data.iter().filter(|p| !p.retraction) {
                        counts[StepCell::timing_index(p.info.timing)] += 1;
                    }
                    cell.add_panes(counts);
                    output.session(&cap).give_iterator(data.drain(..).map(|p: Pane<K, C::Out>| (p.timestamp, p)));
                });
                let wm = frontier.frontier().iter().map(|t| t.watermark()).min();
                if last != Some(wm) {
                    last = Some(wm);
                    cell.set_output_watermark(wm);
                }
            }
        });
        Ok(Collection { stream: panes, shared })
    }
    /// Aggregates like [`Windowed::aggregate`] and returns the panes as a differential
    /// [`Changelog`](super::Changelog): the latest pane of each (key, window), revised by
    /// `-previous, +new` updates in accumulating or retracting mode.
    ///
    /// Discarding panes make a right changelog only when every window has at most one
    /// pane: the default trigger (or `after_watermark()` without early firings) and no
    /// allowed lateness, or a trigger that fires once over windows that never merge.
    /// Otherwise a discarding pane holds only what arrived since the previous one, and the
    /// changelog would add it to the earlier panes instead of replacing them: that is a
    /// [`BuildError::DiscardingChangelog`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use highwater::model::combine::Count;
    /// use highwater::model::trigger::Trigger;
    /// use highwater::pipeline::{run, Memory, RunConfig, Windowing};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// let early = Trigger::after_watermark().with_early(Trigger::after_count(1));
    /// let err = run(RunConfig::workers(1), move |p| {
    ///     let src = Memory::new(vec![vec![(1, 1u64)]], WatermarkStrategy::Ascending);
    ///     p.read("n", src)?
    ///         .key_by(|n: &u64| *n)
    ///         .window(Windowing::fixed(Duration::from_millis(10)).trigger(early.clone()))
    ///         .changelog("count", Count)?;
    ///     Ok(())
    /// })
    /// .unwrap_err()
    /// .to_string();
    /// assert!(err.starts_with("step `count`: a changelog of discarding panes is wrong here"), "{err}");
    /// assert!(err.ends_with("use .accumulating() or .retracting()"), "{err}");
    /// ```
    pub fn changelog<C>(self, name: &str, combine: C) -> Result<super::Changelog<'s, K, C::Out>, BuildError>
    where
        C: CombineFn<T>,
        C::Out: super::ChangeValue,
    {
        let strategy = self.windowing.strategy().map_err(|e| e.in_step(name))?;
        if let Some(why) = many_panes_per_window(&strategy) {
            return Err(BuildError::DiscardingChangelog { step: name.to_string(), why });
        }
        Ok(self.aggregate(name, combine)?.changelog_saved_as(strategy.accumulation, format!("{name}:changelog")))
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

/// Why a discarding strategy can give a window more than one pane (its changelog would
/// count the earlier panes again); `None` when it cannot, or when it does not discard.
fn many_panes_per_window(strategy: &WindowingStrategy) -> Option<String> {
    if strategy.accumulation != Accumulation::Discarding {
        return None;
    }
    // One on-time pane per window: nothing late is kept, and a merged session fires once
    // it is complete.
    let on_time_only = matches!(strategy.trigger, Trigger::Default | Trigger::AfterWatermark { early: None, .. })
        && strategy.allowed_lateness == 0;
    if on_time_only {
        return None;
    }
    if strategy.trigger.is_once() && !strategy.window_fn.is_merging() {
        return None;
    }
    Some(if strategy.window_fn.is_merging() && strategy.trigger.is_once() {
        format!("trigger `{}` fires once per window, but merging windows re-fire as they merge", strategy.trigger)
    } else if matches!(strategy.trigger, Trigger::Default) {
        format!(
            "trigger `{}` with {} ms of allowed lateness fires again for late records",
            strategy.trigger, strategy.allowed_lateness
        )
    } else {
        format!("trigger `{}` can fire more than once per window", strategy.trigger)
    })
}

/// Keys hash the same way everywhere (re-exported for custom partitioning).
pub fn key_hash<K: Hash>(k: &K) -> u64 {
    k.key_hash()
}
