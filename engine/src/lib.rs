//! # highwater
//!
//! A Beam-model stream processor on timely-dataflow. This crate holds what users touch:
//! the pipeline DSL ([`pipeline`]), file sources ([`source`]), the `highwater run` job
//! ([`cli::run`]), the deterministic [`nexmark`] event generator, the conformance runner
//! that checks the engine against Beam's semantics ([`conformance`]), the test harness for
//! pipelines ([`testing`]: scripted streams, asserted panes), and the CLI.
//! The model itself — event time, windows, triggers, panes, accumulation, combiners —
//! lives in [`highwater_operators`], re-exported here as [`model`].

#![forbid(missing_docs)]

pub mod cli;
pub mod conformance;
pub mod dead_letter;
pub mod format;
pub mod nexmark;
pub mod pipeline;
pub mod runtime;
pub mod source;
pub mod testing;

pub use highwater_operators as model;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The book's chapters: every code block compiles and runs.
#[cfg(doctest)]
pub mod book {
    /// `docs/retractions.md`.
    #[doc = include_str!("../../docs/retractions.md")]
    pub struct Retractions;
    /// `docs/testing.md`.
    #[doc = include_str!("../../docs/testing.md")]
    pub struct Testing;
}
