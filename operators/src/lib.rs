//! # highwater-operators: the Beam model, and the timely operators that run it
//!
//! The nouns, in the order they meet an element:
//!
//! - **Event time** — when something happened, carried in each record ([`time`]).
//! - **Watermark** — how far event time is known to be complete. In highwater it *is*
//!   timely's frontier: the root timestamp is [`time::Time`] `{ wm, tick }`.
//! - **Window** — a piece of event time, `[start, end)`: global, fixed, sliding or
//!   session ([`window`]).
//! - **Trigger** — when a (key, window) pane is emitted: early, on time, late
//!   ([`trigger`]).
//! - **Pane** — what a firing emits, with its timing, index and timestamp ([`pane`]).
//! - **Accumulation** — discarding, accumulating, or accumulating-and-retracting
//!   ([`strategy`]).
//! - **Combiner** — how a pane's elements become its value ([`combine`]).
//!
//! [`reduce::WindowedReducer`] runs all of it for many keys with Beam Java's semantics, as
//! plain Rust; [`operator`] puts it on timely.

#![forbid(missing_docs)]

pub mod clock;
pub mod combine;
pub mod duration;
pub mod join;
pub mod keyed;
pub mod operator;
pub mod pane;
pub mod reduce;
pub mod strategy;
pub mod time;
pub mod trigger;
pub mod watermark;
pub mod window;
