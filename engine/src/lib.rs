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
pub mod logging;
pub mod nexmark;
pub mod pipeline;
pub mod row;
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
    /// `docs/getting-started.md`.
    #[doc = include_str!("../../docs/getting-started.md")]
    pub struct GettingStarted;
    /// `docs/windows-and-triggers.md`.
    #[doc = include_str!("../../docs/windows-and-triggers.md")]
    pub struct WindowsAndTriggers;
    /// `docs/late-data.md`.
    #[doc = include_str!("../../docs/late-data.md")]
    pub struct LateData;
    /// `docs/cli.md`.
    #[doc = include_str!("../../docs/cli.md")]
    pub struct Cli;
    /// `docs/scaling.md`.
    #[doc = include_str!("../../docs/scaling.md")]
    pub struct Scaling;
    /// `docs/retractions.md`.
    #[doc = include_str!("../../docs/retractions.md")]
    pub struct Retractions;
    /// `docs/output-format.md`.
    #[doc = include_str!("../../docs/output-format.md")]
    pub struct OutputFormat;
    /// `docs/testing.md`.
    #[doc = include_str!("../../docs/testing.md")]
    pub struct Testing;
    /// `docs/event-sourcing.md`.
    #[doc = include_str!("../../docs/event-sourcing.md")]
    pub struct EventSourcing;
    /// `docs/checkpoints.md`.
    #[doc = include_str!("../../docs/checkpoints.md")]
    pub struct Checkpoints;
    /// `docs/state-and-timers.md`.
    #[doc = include_str!("../../docs/state-and-timers.md")]
    pub struct StateAndTimers;
    /// `docs/joins.md`.
    #[doc = include_str!("../../docs/joins.md")]
    pub struct Joins;
    /// `docs/observability.md`.
    #[doc = include_str!("../../docs/observability.md")]
    pub struct Observability;
    /// `docs/kafka.md`.
    #[doc = include_str!("../../docs/kafka.md")]
    pub struct Kafka;
}
