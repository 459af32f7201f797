//! The keyed process step: user code per record of a key, with that key's state and
//! timers ([`highwater_operators::keyed`]; `docs/state-and-timers.md`).

use super::collection::{Collection, Data, Key, Keyed};
use super::error::BuildError;
use crate::dead_letter::{DeadLetter, DeadLetterKind, Location};
use highwater_operators::keyed::{KeyedProcess, ProcessSpec, RejectedItem};
use highwater_operators::operator::keyed_process;
use timely::dataflow::channels::pact::Pipeline as PipelinePact;
use timely::dataflow::operators::generic::Operator;

impl<'s, K: Key, T: Data> Keyed<'s, K, T> {
    /// Runs `process` on every record of each key, with the key's state and timers;
    /// `name` names the step (in dead letters, errors and checkpoints) and must be unique
    /// in the pipeline. Returns the records it emits, with their event times.
    ///
    /// Deterministic: within a stamp the records of a key are applied by event time, then
    /// by their serialised bytes; event-time timers fire in `(time, key, tag)` order as the
    /// watermark passes them, before the records of the stamp that moved it. The output is
    /// the same at any worker count (processing-time timers aside). An output's event time
    /// must not be before its call's [`Context::event_time`](crate::model::keyed::Context::event_time);
    /// a timer's outputs are held so they are on time downstream. State and pending timers
    /// are part of checkpoints and restore at another worker count.
    ///
    /// Refused records, timers and outputs become dead letters (kind
    /// [`DeadLetterKind::Refused`], or [`DeadLetterKind::TooLate`] for a record refused
    /// with [`ProcessError::TooLate`](crate::model::keyed::ProcessError::TooLate);
    /// [`Location::Key`], the reason). A state spec with two
    /// cells of one name or an invalid time to live is a [`BuildError`] naming the step.
    ///
    /// ```
    /// use highwater::model::keyed::{Context, KeyedProcess, ProcessError, ProcessSpec, StateSpec, Timer, ValueState};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// use highwater::pipeline::{run, Collector, Memory, RunConfig};
    /// use std::time::Duration;
    ///
    /// /// The first click of each user, forgotten after an hour of event time.
    /// struct FirstClick {
    ///     seen: ValueState<()>,
    /// }
    /// impl KeyedProcess<String, String> for FirstClick {
    ///     type Out = (String, String);
    ///     fn on_record(&self, ctx: &mut Context<'_, String, Self::Out>, user: &String, page: &String) -> Result<(), ProcessError> {
    ///         if ctx.state().get(&self.seen)?.is_none() {
    ///             ctx.state().set(&self.seen, &())?;
    ///             ctx.emit(ctx.event_time(), (user.clone(), page.clone()));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let out = Collector::new();
    /// let sink = out.clone();
    /// run(RunConfig::workers(2), move |p| {
    ///     let clicks = vec![(1_000, ("ann", "/a")), (2_000, ("ann", "/b")), (3_000, ("bob", "/c"))];
    ///     let clicks = clicks.into_iter().map(|(t, (u, p))| (t, (u.to_string(), p.to_string()))).collect();
    ///     let mut state = StateSpec::new();
    ///     let seen = state.value("seen");
    ///     let step = ProcessSpec::new(state, FirstClick { seen }).state_ttl(Duration::from_secs(3600));
    ///     p.read_keyed("clicks", Memory::new(vec![clicks], WatermarkStrategy::Ascending))?
    ///         .process("first-click", step)?
    ///         .write(sink.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// let mut firsts = out.take();
    /// firsts.sort();
    /// assert_eq!(firsts, [(1_000, ("ann".into(), "/a".into())), (3_000, ("bob".into(), "/c".into()))]);
    /// ```
    pub fn process<P>(self, name: &str, spec: ProcessSpec<P>) -> Result<Collection<'s, P::Out>, BuildError>
    where
        P: KeyedProcess<K, T>,
        P::Out: Data,
    {
        let shared = self.shared.clone();
        shared.claim_name(name)?;
        spec.check().map_err(|message| BuildError::Step { step: name.to_string(), message })?;
        let ckpt = super::checkpointing::hooks(&shared);
        // The step's metrics: its gauges (timers, keys) set by the operator, its output
        // watermark followed below.
        let cell = shared.counters.progress.metrics().step(name, shared.worker);
        let out = keyed_process(self.stream, name, spec, shared.clock.clone(), ckpt, Some(cell.gauges.clone()));
        let step = name.to_string();
        let dead = out.dead_letters.unary(PipelinePact, "dead-letters", move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    output.session(&cap).give_iterator(data.drain(..).map(|r| {
                        let (what, record) = match &r.item {
                            RejectedItem::Record(v) => ("record", serde_json::to_string(v)),
                            RejectedItem::Timer(t) => ("timer", serde_json::to_string(t)),
                            RejectedItem::Output(o) => ("output", serde_json::to_string(o)),
                        };
                        let (kind, reason) = if r.too_late {
                            (DeadLetterKind::TooLate, r.reason)
                        } else {
                            (DeadLetterKind::Refused, format!("{what} refused: {}", r.reason))
                        };
                        DeadLetter {
                            step: step.clone(),
                            kind,
                            location: Location::Key {
                                key: serde_json::to_string(&r.key).unwrap_or_else(|_| format!("{:?}", r.key)),
                                event_time: r.event_time,
                                watermark: r.watermark,
                            },
                            reason,
                            record: record.unwrap_or_default(),
                        }
                    }));
                });
            }
        });
        shared.add_dead_letters(name, dead, false);
        let records = out.records.unary_frontier(PipelinePact, "output-watermark", move |_, _| {
            let mut last: Option<Option<i64>> = None;
            move |(input, frontier), output| {
                input.for_each(|cap, data| output.session(&cap).give_container(data));
                let wm = frontier.frontier().iter().map(|t| t.watermark()).min();
                if last != Some(wm) {
                    last = Some(wm);
                    cell.set_output_watermark(wm);
                }
            }
        });
        Ok(Collection { stream: records, shared })
    }
}
