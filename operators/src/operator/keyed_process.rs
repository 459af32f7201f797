//! The keyed process step: user code per record of a key with that key's state and timers
//! ([`crate::keyed`]), applied stamp by stamp so its output is the same at any worker
//! count.

use super::capability::{follow_frontier, lowest, move_hold, raise_to};
use super::checkpoint::{pending, Checkpointing};
use super::key_hash::KeyHash;
use super::stash::stash_at;
use crate::clock::Clock;
use crate::keyed::{Emitted, KeyedProcess, ProcessRunner, ProcessSpec, Rejected};
use crate::time::{Time, POS_INF};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::ExchangeData;

/// What a process step emits: its records with their event times, and what it refused.
pub struct ProcessOutput<'scope, K, V, O> {
    /// `(event time, record)`, stamped with the input's watermark (an event-time timer's
    /// outputs at a stamp no later than the timer).
    pub records: Stream<'scope, Time, Vec<(i64, O)>>,
    /// Records, timers and outputs refused, with the reason. The stream's frontier follows
    /// the step's input frontier: it is also the step's progress.
    pub dead_letters: Stream<'scope, Time, Vec<Rejected<K, V, O>>>,
}

/// Runs a [`KeyedProcess`] over `(key, event time, value)` records: exchanged by a
/// fixed-seed hash of the key, stashed by stamp, and applied in stamp order once the
/// frontier passes each stamp — first the stamp's watermark (event-time timers and state
/// expiry before it, in `(time, key, tag)` order), then its records in the canonical order
/// ([`crate::keyed`]); then, per activation, the frontier's watermark and the clock's
/// processing-time timers. One capability holds the output at the earliest pending
/// event-time timer, so a timer's outputs go out on time; with a real clock the operator
/// wakes up for the earliest processing-time timer. With `ckpt`, its state is saved at
/// every cut, between the last stamp before the cut and the first after it, and restored
/// from the keys that route to this worker.
///
/// ```
/// use highwater::model::clock::VirtualClock;
/// use highwater::model::keyed::{Context, KeyedProcess, ProcessError, ProcessSpec, StateSpec, Timer, ValueState};
/// use highwater::model::operator::keyed_process;
/// use highwater::model::time::Time;
/// use std::sync::{Arc, Mutex};
/// use timely::dataflow::operators::{Input, Inspect};
/// use timely::dataflow::InputHandle;
///
/// /// The first value of each key, at its event time.
/// struct First(ValueState<()>);
/// impl KeyedProcess<String, u64> for First {
///     type Out = (String, u64);
///     fn on_record(&self, ctx: &mut Context<'_, String, (String, u64)>, key: &String, v: &u64) -> Result<(), ProcessError> {
///         if ctx.state().get(&self.0)?.is_none() {
///             ctx.state().set(&self.0, &())?;
///             ctx.emit(ctx.event_time(), (key.clone(), *v));
///         }
///         Ok(())
///     }
/// }
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// timely::execute_directly(move |worker| {
///     let mut input = InputHandle::new();
///     worker.dataflow(|scope| {
///         let mut state = StateSpec::new();
///         let first = First(state.value("seen"));
///         let stream = scope.input_from(&mut input).container::<Vec<(String, i64, u64)>>();
///         let out = keyed_process(stream, "first", ProcessSpec::new(state, first), Arc::new(VirtualClock::new(0)), None, None);
///         out.records.inspect(move |r| sink.lock().unwrap().push(r.clone()));
///     });
///     input.send(("a".to_string(), 4, 2));
///     input.send(("a".to_string(), 3, 1));
///     input.advance_to(Time::new(10, 0));
/// });
/// assert_eq!(*seen.lock().unwrap(), vec![(3, ("a".to_string(), 1))]);
/// ```
pub fn keyed_process<'scope, K, V, P>(
    input: Stream<'scope, Time, Vec<(K, i64, V)>>,
    name: &str,
    spec: ProcessSpec<P>,
    clock: Arc<dyn Clock>,
    ckpt: Option<Checkpointing>,
    gauges: Option<Arc<super::gauges::StepGauges>>,
) -> ProcessOutput<'scope, K, V, P::Out>
where
    K: ExchangeData + Clone + Hash + Eq + Ord + Debug + Serialize + DeserializeOwned,
    V: ExchangeData + Clone + Serialize,
    P: KeyedProcess<K, V>,
    P::Out: Clone + 'static,
{
    let scope = input.scope();
    let mut builder = OperatorBuilder::new(name.to_owned(), scope);
    let activator = scope.activator_for(builder.operator_info().address.clone());
    let mut input = builder.new_input(input, Exchange::new(|x: &(K, i64, V)| x.0.key_hash()));
    let (records_out, records) = builder.new_output::<Vec<(i64, P::Out)>>();
    let (dead_out, dead_letters) = builder.new_output::<Vec<Rejected<K, V, P::Out>>>();
    let mut records_out = OutputBuilder::from(records_out);
    let mut dead_out = OutputBuilder::from(dead_out);
    let step = name.to_owned();
    builder.build(move |mut caps| {
        let mut dead_cap: Option<Capability<Time>> = caps.pop();
        let mut frontier_cap: Option<Capability<Time>> = caps.pop();
        let mut hold_cap: Option<Capability<Time>> = None;
        let mut runner = ProcessRunner::new(spec);
        if let Some(c) = ckpt.as_ref() {
            c.hooks.register(&step);
            for piece in c.hooks.restored(&step) {
                if let Err(e) = runner.restore_state(&piece, |k| c.owns(k)) {
                    c.hooks.fail(
                        &step,
                        format!(
                            "its checkpointed state cannot be read ({e}): was the pipeline changed? rerun with --fresh"
                        ),
                    );
                }
            }
        }
        // A restored run's input is all at or after the cut, whose watermark the state
        // holds: nothing goes out before it.
        let restored = Time::new(runner.watermark(), 0);
        raise_to(restored, [&mut frontier_cap, &mut dead_cap]);
        let mut stash: BTreeMap<Time, Vec<(K, i64, V)>> = BTreeMap::new();
        let mut emitted: Vec<Emitted<P::Out>> = Vec::new();
        let mut dead: Vec<Rejected<K, V, P::Out>> = Vec::new();

        move |frontiers| {
            input.for_each(|cap, data| {
                if let Some(t) = cap.least() {
                    stash_at(&mut stash, *t, data);
                }
            });
            let frontier: Option<Time> = frontiers[0].frontier().iter().min().copied();
            let now = clock.now();
            // Outputs of records go out at their stamp; of event-time timers at the
            // timer's time (or the lowest capability held, if later); of processing-time
            // timers at the frontier.
            macro_rules! flush {
                ($at:expr) => {{
                    let at: Option<Time> = $at;
                    runner.drain(&mut emitted, &mut dead);
                    send(&mut emitted, at, &mut records_out, hold_cap.as_ref(), frontier_cap.as_ref());
                    if !dead.is_empty() {
                        // A record's dead letters go out at its stamp.
                        if let Some(dc) = dead_cap.as_ref() {
                            let when = at.map_or(*dc.time(), |t| t.max(*dc.time()));
                            dead_out.activate().session(&dc.delayed(&when)).give_container(&mut dead);
                        }
                        dead.clear();
                    }
                }};
            }
            // A pending cut the frontier has passed: the state is saved between the last
            // stamp before it and the first after it.
            let mut cut = pending(&ckpt, &step).filter(|c| frontier.is_none_or(|f| f >= *c));
            macro_rules! take_cut {
                ($c:expr) => {{
                    let c: Time = $c;
                    if c.watermark() > runner.watermark() {
                        runner.advance_watermark(c.watermark(), now);
                        flush!(None);
                    }
                    if let Some(k) = ckpt.as_ref() {
                        k.save_encoded(&step, c, runner.save_state());
                    }
                    raise_to(c, [&mut frontier_cap, &mut dead_cap, &mut hold_cap]);
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
                let records = stash.pop_first().map(|e| e.1).unwrap_or_default();
                if t.watermark() > runner.watermark() {
                    runner.advance_watermark(t.watermark(), now);
                    flush!(None);
                }
                runner.apply(records, now);
                flush!(Some(t));
            }
            if let Some(c) = cut {
                take_cut!(c);
            }
            // Advance to the frontier, then processing time (not once the input ended:
            // pending processing-time timers do not fire then).
            let to = frontier.map_or(POS_INF, |f| f.watermark());
            if to > runner.watermark() {
                runner.advance_watermark(to, now);
                flush!(None);
            }
            if frontier.is_some() {
                runner.advance_processing_time(now);
                flush!(frontier);
            }
            move_hold(&mut hold_cap, frontier_cap.as_ref(), runner.min_hold());
            if let Some(g) = &gauges {
                g.set(runner.timers() as u64, runner.keys() as u64);
            }
            follow_frontier(frontier.map(|f| f.max(restored)), [&mut frontier_cap, &mut dead_cap]);
            if clock.is_realtime() && frontier_cap.is_some() {
                if let Some(d) = runner.next_processing_deadline() {
                    let wait = (d - clock.now() + 1).max(0) as u64;
                    activator.activate_after(std::time::Duration::from_millis(wait));
                }
            }
        }
    });
    ProcessOutput { records, dead_letters }
}

/// The records output of the process operator.
type RecordsOutput<O> = OutputBuilder<Time, CapacityContainerBuilder<Vec<(i64, O)>>>;

/// Sends the outputs: an event-time timer's at the later of its time and the lowest
/// capability held, the others at `at` (a record's stamp; the frontier for a
/// processing-time timer's) or, without one, the lowest capability.
/// Consecutive outputs at the same time share a message.
fn send<O: Clone + 'static>(
    emitted: &mut Vec<Emitted<O>>,
    at: Option<Time>,
    out: &mut RecordsOutput<O>,
    hold_cap: Option<&Capability<Time>>,
    frontier_cap: Option<&Capability<Time>>,
) {
    if emitted.is_empty() {
        return;
    }
    let Some(low) = lowest(hold_cap, frontier_cap) else {
        emitted.clear();
        return;
    };
    let mut out = out.activate();
    let mut batch: Vec<(i64, O)> = Vec::new();
    let mut batch_at: Option<Time> = None;
    for e in emitted.drain(..) {
        let time = match (e.hold, at) {
            (Some(h), _) => Time::new(h, 0).max(*low.time()),
            (None, Some(t)) => t.max(*low.time()),
            (None, None) => *low.time(),
        };
        if batch_at.is_some_and(|b| b != time) {
            if let Some(b) = batch_at {
                out.session(&low.delayed(&b)).give_container(&mut batch);
                batch.clear();
            }
        }
        batch_at = Some(time);
        batch.push((e.event_time, e.value));
    }
    if let Some(b) = batch_at {
        out.session(&low.delayed(&b)).give_container(&mut batch);
    }
}
