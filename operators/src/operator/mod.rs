//! The timely operators that run the model.
//!
//! [`windowed_aggregate`] is the keyed windowed aggregate of DESIGN §4: records are
//! exchanged by a fixed-seed hash of their key, stashed by stamp, and applied in stamp
//! order once the frontier passes them, so the output does not depend on the number of
//! workers or on scheduling. Watermark holds are one counted capability; processing-time
//! deadlines wake the operator through `activate_after`.
//!
//! [`windowed_aggregate_precombined`] picks the cheapest plan with the same panes: the
//! on-time operators when the strategy fires exactly one pane per key and window as the
//! watermark passes it (each worker combines until its watermark passes the window; sessions
//! merge in an operator of their own), else combiner lifting per stamp, else the reducer.

mod aggregate;
mod board;
mod on_time;

pub use aggregate::{
    aggregate_plan, windowed_aggregate, windowed_aggregate_planned, windowed_aggregate_precombined, AggregateOutput,
    AggregatePlan, KeyHash,
};
pub use board::{OutputWatermark, WatermarkBoard};
