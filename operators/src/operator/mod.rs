//! The timely operators that run the model, one operator per file.
//!
//! [`windowed_aggregate`] is the keyed windowed aggregate of DESIGN §4: records are
//! exchanged by a fixed-seed hash of their key ([`KeyHash`]), stashed by stamp, and applied
//! to the reducer ([`crate::reduce`]) in stamp order once the frontier passes them, so the
//! output does not depend on the number of workers or on scheduling. Watermark holds are
//! one counted capability; processing-time deadlines wake the operator through
//! `activate_after`.
//!
//! [`windowed_aggregate_precombined`] runs the cheapest operators with the same panes, as
//! [`plan`] decides (the one place that decides it):
//!
//! | [`Plan`] | operators (file) |
//! |---|---|
//! | [`Plan::OnTimeWindows`] | `on_time_local.rs` (combine per worker until the watermark passes the window), exchange, `on_time_global.rs` (merge, emit) |
//! | [`Plan::OnTimeSessions`] | `on_time_sessions.rs` (sessions merged per key, one on-time pane each) |
//! | [`Plan::Precombined`] | `precombine.rs` (combiner lifting per stamp), exchange, `windowed_aggregate.rs` (the reducer on accumulators) |
//! | [`Plan::Reducer`] | `windowed_aggregate.rs` (the reducer on every record) |
//!
//! Shared by the operators: `assign.rs` (window assignment and the too-late filter before
//! the exchange), `open_windows.rs` (the on-time phases' open windows), `capability.rs`
//! (the frontier and hold capabilities), `gauges.rs` ([`StepGauges`]: open windows and keys), `output.rs` ([`AggregateOutput`]),
//! `output_watermark.rs` ([`OutputWatermark`], [`WatermarkBoard`]).
//!
//! [`keyed_process`] (`keyed_process.rs`) runs user code per key with state and timers
//! ([`crate::keyed`]), exchanged and stamp-ordered the same way.

mod assign;
mod capability;
mod checkpoint;
mod gauges;
mod key_hash;
mod keyed_process;
mod on_time_global;
mod on_time_local;
mod on_time_sessions;
mod open_slices;
mod open_windows;
mod output;
mod output_watermark;
mod plan;
mod planned_aggregate;
mod precombine;
mod stash;
mod windowed_aggregate;

pub use checkpoint::{decode, encode, Checkpointing, CutHooks};
pub use gauges::StepGauges;
pub use key_hash::KeyHash;
pub use keyed_process::{keyed_process, ProcessOutput};
pub use output::AggregateOutput;
pub use output_watermark::{OutputWatermark, WatermarkBoard};
pub use plan::{plan, Plan};
pub use planned_aggregate::{
    windowed_aggregate_checkpointed, windowed_aggregate_observed, windowed_aggregate_planned,
    windowed_aggregate_precombined,
};
pub use windowed_aggregate::windowed_aggregate;
