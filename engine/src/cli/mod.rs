//! The command line's jobs as library functions, so tests and programs run them without
//! spawning the binary.
//!
//! - [`run`]: `highwater run`, a keyed windowed aggregation over files.
//! - [`aggregates`]: several aggregates of named fields as one combiner.

pub mod aggregates;
pub mod run;
