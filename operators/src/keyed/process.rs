//! What a user writes ([`KeyedProcess`]), what each call sees ([`Context`]), and the step's
//! description ([`ProcessSpec`]).

use super::error::ProcessError;
use super::key_state::KeyState;
use super::state::{State, StateSpec};
use super::timer::TimeDomain;
use std::collections::BTreeSet;
use std::time::Duration;

/// Per-key user code: called for each record of a key, and for each of the key's timers
/// when it fires, with the key's state and timers in the [`Context`].
///
/// Calls are deterministic: within one stamp the records of a key come in a canonical
/// order, and timers fire in `(time, key, tag)` order as the watermark passes them (see
/// [`super`]). Keep everything a call needs in the key's state, not in `self`: a process
/// is built in every worker and sees only the keys routed to it.
///
/// A call that returns an error sends its record (or timer) to the step's dead letters
/// with the error as the reason; what it did before the error (state written, timers set,
/// records emitted) stays.
pub trait KeyedProcess<K, V>: 'static {
    /// What the step emits.
    type Out;
    /// Called for each record of `key`, with its value; `ctx.event_time()` is its event
    /// time.
    fn on_record(&self, ctx: &mut Context<'_, K, Self::Out>, key: &K, value: &V) -> Result<(), ProcessError>;
    /// Called when a timer of `key` fires (by default: nothing). `ctx.event_time()` is
    /// the timer's time for an event-time timer, the input watermark for a
    /// processing-time timer.
    fn on_timer(&self, ctx: &mut Context<'_, K, Self::Out>, key: &K, timer: &super::Timer) -> Result<(), ProcessError> {
        let _ = (ctx, key, timer);
        Ok(())
    }
}

/// An output of a call: its event time, the record, and for an event-time timer's output
/// the timer's time (the output goes out at a stamp no later than it, held back by the
/// operator so it is on time downstream).
#[derive(Clone, Debug, PartialEq)]
pub struct Emitted<O> {
    /// The output's event time.
    pub event_time: i64,
    /// The record.
    pub value: O,
    /// The event-time timer's time whose firing emitted it, if that is where it came from.
    pub hold: Option<i64>,
}

/// What one call of a [`KeyedProcess`] sees: the key's state and timers, the clocks, and
/// where its outputs go.
pub struct Context<'a, K, O> {
    pub(crate) key: &'a K,
    pub(crate) spec: &'a StateSpec,
    pub(crate) ks: &'a mut KeyState,
    pub(crate) written: bool,
    pub(crate) event_time: i64,
    pub(crate) earliest: (i64, &'static str),
    pub(crate) watermark: i64,
    pub(crate) now: i64,
    pub(crate) event_timers: &'a mut BTreeSet<(i64, K, String)>,
    pub(crate) processing_timers: &'a mut BTreeSet<(i64, K, String)>,
    pub(crate) hold: Option<i64>,
    pub(crate) out: &'a mut Vec<Emitted<O>>,
    pub(crate) refused: &'a mut Vec<(i64, O, ProcessError)>,
    pub(crate) dead: Option<String>,
}

impl<K: Clone + Ord, O> Context<'_, K, O> {
    /// The key.
    pub fn key(&self) -> &K {
        self.key
    }
    /// The record's event time; the timer's time for an event-time timer; the input
    /// watermark for a processing-time timer.
    pub fn event_time(&self) -> i64 {
        self.event_time
    }
    /// The input watermark as this call sees it: the stamp's for a record; for an
    /// event-time timer at `t`, `t + 1` (the watermark has just passed it).
    pub fn watermark(&self) -> i64 {
        self.watermark
    }
    /// Processing time (the pipeline's clock) at this activation.
    pub fn processing_time(&self) -> i64 {
        self.now
    }
    /// The key's state cells.
    pub fn state(&mut self) -> State<'_> {
        State { spec: self.spec, cells: &mut self.ks.cells, written: &mut self.written }
    }
    /// The key's timers.
    pub fn timers(&mut self) -> Timers<'_, K> {
        Timers {
            key: self.key,
            ks: &mut *self.ks,
            watermark: self.watermark,
            now: self.now,
            event: &mut *self.event_timers,
            processing: &mut *self.processing_timers,
        }
    }
    /// Emits `value` at `event_time`, which must not be before [`Context::event_time`]
    /// (for a processing-time timer: the watermark). An output before it is not emitted:
    /// it becomes a dead letter with the reason ([`ProcessError::OutputBehind`]).
    pub fn emit(&mut self, event_time: i64, value: O) {
        let (earliest, why) = self.earliest;
        if event_time < earliest {
            self.refused.push((event_time, value, ProcessError::OutputBehind { event_time, earliest, why }));
        } else {
            self.out.push(Emitted { event_time, value, hold: self.hold });
        }
    }
    /// Sends this call's record (or timer) to the step's dead letters with `reason`,
    /// and goes on (returning an error from the call does the same and stops it).
    pub fn dead_letter(&mut self, reason: impl Into<String>) {
        self.dead = Some(reason.into());
    }
}

/// The timers of the current key ([`Context::timers`]): at most one per domain and tag;
/// setting a tag again moves its timer.
pub struct Timers<'a, K> {
    key: &'a K,
    ks: &'a mut KeyState,
    watermark: i64,
    now: i64,
    event: &'a mut BTreeSet<(i64, K, String)>,
    processing: &'a mut BTreeSet<(i64, K, String)>,
}

impl<K: Clone + Ord> Timers<'_, K> {
    /// Sets (or moves) the event-time timer `tag` to `time`: it fires once the watermark
    /// passes `time`. A time behind the watermark is refused
    /// ([`ProcessError::TimerInPast`]).
    pub fn set_event_time(&mut self, time: i64, tag: &str) -> Result<(), ProcessError> {
        self.set(TimeDomain::EventTime, time, tag)
    }
    /// Sets (or moves) the processing-time timer `tag` to `time`: it fires once the
    /// pipeline's clock passes `time`. A time behind the clock is refused.
    pub fn set_processing_time(&mut self, time: i64, tag: &str) -> Result<(), ProcessError> {
        self.set(TimeDomain::ProcessingTime, time, tag)
    }
    /// The time the timer `tag` of `domain` is set at, if it is.
    pub fn get(&self, domain: TimeDomain, tag: &str) -> Option<i64> {
        self.ks.timers(domain).get(tag).copied()
    }
    /// Deletes the timer `tag` of `domain`, if it is set.
    pub fn delete(&mut self, domain: TimeDomain, tag: &str) {
        if let Some(old) = self.ks.timers_mut(domain).remove(tag) {
            let set = if domain == TimeDomain::EventTime { &mut *self.event } else { &mut *self.processing };
            set.remove(&(old, self.key.clone(), tag.to_string()));
        }
    }

    fn set(&mut self, domain: TimeDomain, time: i64, tag: &str) -> Result<(), ProcessError> {
        let now = if domain == TimeDomain::EventTime { self.watermark } else { self.now };
        if time < now {
            return Err(ProcessError::TimerInPast { domain, tag: tag.to_string(), time, now });
        }
        self.delete(domain, tag);
        self.ks.timers_mut(domain).insert(tag.to_string(), time);
        let set = if domain == TimeDomain::EventTime { &mut *self.event } else { &mut *self.processing };
        set.insert((time, self.key.clone(), tag.to_string()));
        Ok(())
    }
}

/// A process step: the state it declares, the process, and the options (a time to live
/// for state).
///
/// ```
/// use highwater::model::keyed::{Context, KeyedProcess, ProcessError, ProcessSpec, StateSpec};
/// use std::time::Duration;
/// struct Echo;
/// impl KeyedProcess<String, u64> for Echo {
///     type Out = u64;
///     fn on_record(&self, ctx: &mut Context<'_, String, u64>, _: &String, v: &u64) -> Result<(), ProcessError> {
///         ctx.emit(ctx.event_time(), *v);
///         Ok(())
///     }
/// }
/// let spec = ProcessSpec::new(StateSpec::new(), Echo).state_ttl(Duration::from_secs(3600));
/// assert_eq!(spec.ttl(), Some(3_600_000));
/// assert!(spec.check().is_ok());
/// ```
pub struct ProcessSpec<P> {
    pub(crate) state: StateSpec,
    pub(crate) process: P,
    pub(crate) ttl: Result<Option<i64>, String>,
}

impl<P> ProcessSpec<P> {
    /// A step running `process` over the cells `state` declares.
    pub fn new(state: StateSpec, process: P) -> Self {
        ProcessSpec { state, process, ttl: Ok(None) }
    }
    /// Clears a key's state once the watermark passes the event time of its last write
    /// plus `ttl` (a write: `set`, `map_insert`, `map_remove`, `push`, `clear`; its event
    /// time: the record's, or the timer's). Reads do not extend it; timers stay.
    pub fn state_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = match crate::duration::millis(ttl) {
            Some(ms) if ms > 0 => Ok(Some(ms)),
            _ => Err(format!("a state time to live of {ttl:?}: use a positive whole number of milliseconds")),
        };
        self
    }
    /// The time to live in milliseconds, if one is set (and valid).
    pub fn ttl(&self) -> Option<i64> {
        self.ttl.clone().ok().flatten()
    }
    /// Whether the step can be built: the state declarations and the options are sound.
    pub fn check(&self) -> Result<(), String> {
        self.state.check()?;
        self.ttl.clone().map(|_| ())
    }
}

impl<P> From<P> for ProcessSpec<P> {
    /// A step without state cells.
    fn from(process: P) -> Self {
        ProcessSpec::new(StateSpec::new(), process)
    }
}
