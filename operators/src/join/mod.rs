//! Joins of two keyed streams, built on the keyed process step ([`crate::keyed`]): the two
//! collections are brought together as one keyed stream of [`Side`] records (`Keyed::connect`
//! in the DSL), and each join is a library [`KeyedProcess`](crate::keyed::KeyedProcess)
//! over it. So a join is one keyed stateful operator like any process step: its state is
//! ordinary cells and event-time timers, applied stamp by stamp in the canonical order (the
//! same rows at any worker count), saved in checkpoints and restored at another worker
//! count.
//!
//! The nouns:
//!
//! - **Side** — a record of the left or the right collection ([`Side`]).
//! - **Window join** — [`WindowJoin`]: per key and window (fixed, sliding or global), the
//!   pairs of its left and right records when the watermark passes the end of the window,
//!   and a late record's new pairs as it comes; inner, left, right or full outer
//!   ([`JoinKind`]). Beam's `CoGroupByKey` per window followed by a join, Flink's window
//!   join. Rows are [`WindowJoined`].
//! - **Co-group** — [`CoGroup`]: per key and window, the values of each side
//!   ([`CoGrouped`]), as a combiner of the windowed aggregate: every trigger, allowed
//!   lateness and accumulation mode (retracting too), and window functions including
//!   sessions; [`CoGrouped::join`] gives a pane's inner or outer join rows. Beam's
//!   `CoGroupByKey`.
//! - **Interval join** — [`IntervalJoin`]: per key, each left record at `a` with each
//!   right record at `b ∈ [a + lower, a + upper]`, as soon as both are there; state freed
//!   as the watermark passes. Flink's interval join. Rows are [`IntervalJoined`].
//! - **Temporal join** — [`TemporalJoin`]: each record of a stream (left) with the value
//!   of a versioned table (right: a changelog of upserts and deletes) as of the record's
//!   event time, once the watermark says the table is complete up to it. Flink's
//!   event-time temporal join. Rows are [`TemporalJoined`].
//!
//! Records too late for a join (their window collected, or behind the watermark where
//! their partners are already dropped) become dead letters of kind `too_late`, with the
//! reason.

mod co_group;
mod interval_join;
mod side;
mod temporal_join;
mod window_join;

pub use co_group::{CoGroup, CoGroupAll, CoGrouped, CoGroupedAll};
pub use interval_join::{IntervalJoin, IntervalJoinProcess, IntervalJoined};
pub use side::Side;
pub use temporal_join::{TemporalJoin, TemporalJoinProcess, TemporalJoined};
pub use window_join::{JoinKind, WindowJoin, WindowJoinProcess, WindowJoined};

#[cfg(test)]
mod tests;
