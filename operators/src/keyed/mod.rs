//! Keyed processing with state and timers: user code per record of a key, with that key's
//! state and its event-time and processing-time timers (Beam's stateful `DoFn`, Flink's
//! `KeyedProcessFunction`), deterministic at any worker count.
//!
//! The nouns:
//!
//! - **Process** — a [`KeyedProcess`]: `on_record` for each record of a key, `on_timer`
//!   for each of its timers, both with a [`Context`].
//! - **State** — cells declared in a [`StateSpec`] when the pipeline is built, one per
//!   name: a [`ValueState`], a [`MapState`] or an append-only [`ListState`] of serde
//!   types, read and written per key through [`Context::state`]. A step may clear a key's
//!   state once the watermark passes its last write plus a time to live
//!   ([`ProcessSpec::state_ttl`]).
//! - **Timer** — per key, at most one per domain and tag ([`Context::timers`]): an
//!   event-time timer at `t` fires once the watermark passes `t` (the watermark is beyond
//!   `t`); a processing-time one once the pipeline's clock does. A timer behind its clock
//!   is refused ([`ProcessError::TimerInPast`]).
//! - **Output** — [`Context::emit`]`(event_time, record)`. An output's event time must not
//!   be before the call's [`Context::event_time`] — the record's event time, the
//!   event-time timer's time, or the watermark for a processing-time timer — else it
//!   becomes a dead letter ([`ProcessError::OutputBehind`]). An event-time timer's outputs
//!   go out at a stamp no later than the timer (the operator holds its output at the
//!   earliest pending timer), so they are on time downstream; a record's go out at its
//!   stamp, so a late record's outputs are as late as it.
//!
//! **The order of calls.** The operator applies its input stamp by stamp, in stamp order
//! ([`crate::operator::keyed_process`]). For each stamp, at watermark `w`:
//!
//! 1. the event-time timers before `w` fire, and the state that expired before `w` is
//!    cleared, in `(time, key, tag)` order (a key's timers at a time before its expiry at
//!    that time); a timer at `t` sees the watermark at `t + 1`, and the timers it sets
//!    before `w` fire in the same pass;
//! 2. the stamp's records are applied in the canonical order: by key, then event time,
//!    then the serialised bytes of the value (bincode). Sources hand records over without
//!    a partition and position, so this is the tie-break: it depends on the records only,
//!    never on how they were spread over workers or arrived; records equal in key, event
//!    time and bytes are interchangeable.
//!
//! Then, once per activation, the processing-time timers before the clock fire in `(time,
//! key, tag)` order. At the end of input the watermark goes to +∞ and every event-time
//! timer fires; pending processing-time timers do not. Everything but the processing-time
//! timers is the same at any worker count and scheduling — a guarantee neither Beam nor
//! Flink gives.
//!
//! [`ProcessRunner`] is all of it for the keys of one worker, without timely; its state
//! (cells by name, timers, last writes, the watermark) is what checkpoints save.

mod error;
mod key_state;
mod process;
mod runner;
mod state;
mod timer;

pub use error::ProcessError;
pub use process::{Context, Emitted, KeyedProcess, ProcessSpec, Timers};
pub use runner::{ProcessRunner, Rejected, RejectedItem};
pub use state::{ListState, MapState, State, StateHandle, StateKind, StateSpec, ValueState};
pub use timer::{TimeDomain, Timer};

#[cfg(test)]
mod tests;
