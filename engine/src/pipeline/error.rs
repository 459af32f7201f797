//! Why a pipeline cannot be built, or its run failed.

use crate::runtime::{ExecutionError, RunSummary};

// The wrapped errors are in the messages, not also their sources: `{:#}` (anyhow) would
// print them twice.
impl From<highwater_operators::window::WindowError> for BuildError {
    fn from(e: highwater_operators::window::WindowError) -> Self {
        BuildError::Window(e)
    }
}

impl From<highwater_operators::strategy::StrategyError> for BuildError {
    fn from(e: highwater_operators::strategy::StrategyError) -> Self {
        BuildError::Strategy(e)
    }
}

/// A pipeline that cannot be built, with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two steps share a name.
    #[error("two steps are named `{0}`: every stateful step needs a unique name")]
    DuplicateName(String),
    /// An invalid window.
    #[error("invalid window: {0}")]
    Window(highwater_operators::window::WindowError),
    /// A duration the engine cannot represent (event time is kept in whole milliseconds).
    #[error("invalid duration: {0}")]
    Duration(String),
    /// An invalid windowing strategy (trigger, lateness, window).
    #[error("invalid windowing strategy: {0}")]
    Strategy(highwater_operators::strategy::StrategyError),
    /// The same, in a named step.
    #[error("step `{step}`: {message}")]
    Step {
        /// The step.
        step: String,
        /// What is wrong.
        message: String,
    },
    /// A changelog of discarding panes where a window can have more than one pane: each
    /// later pane would be added to the earlier ones instead of replacing them.
    #[error(
        "step `{step}`: a changelog of discarding panes is wrong here ({why}): each later pane of a window would be added to the earlier ones instead of replacing them; use .accumulating() or .retracting()"
    )]
    DiscardingChangelog {
        /// The step.
        step: String,
        /// Why a window can have more than one pane.
        why: String,
    },
    /// A source could not be opened.
    #[error("source `{step}`: {message}")]
    Source {
        /// The source step.
        step: String,
        /// Why.
        message: String,
    },
}

impl BuildError {
    pub(crate) fn in_step(self, step: &str) -> BuildError {
        BuildError::Step { step: step.to_string(), message: self.to_string() }
    }
}

/// A pipeline run that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The pipeline could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Timely could not start, or a worker failed.
    #[error("the dataflow failed: {0}")]
    Dataflow(String),
    /// The workers could not start (a peer process out of reach) or did not finish (a
    /// peer process lost, a worker panicked).
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    /// Problems reported while running (an input that could not be read, an output that
    /// could not be written): the run stopped at the first; outputs hold what was written
    /// before it.
    #[error("{}", .0.join("; "))]
    Runtime(Vec<String>),
    /// The configuration cannot work (e.g. a worker count out of range).
    #[error("{0}")]
    Config(String),
    /// The checkpoint directory cannot be used, or its checkpoint cannot be restored (it
    /// belongs to another pipeline, it cannot be read).
    #[error(transparent)]
    Checkpoint(#[from] crate::runtime::checkpoint::CheckpointError),
    /// The metrics endpoint ([`crate::pipeline::RunConfig::metrics_addr`]) cannot start:
    /// the error names the address.
    #[error(transparent)]
    Metrics(#[from] crate::runtime::metrics::MetricsError),
    /// The run was asked to stop ([`crate::runtime::Progress::stop`], a signal) and did: the sources
    /// stopped reading and every open window was flushed. The outputs are complete up to
    /// where the inputs were read, no further.
    #[error("stopped before the end of the input ({} records read)", .0.records_read)]
    Stopped(RunSummary),
}
