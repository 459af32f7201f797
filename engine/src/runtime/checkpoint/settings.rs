//! A run's checkpoints as the user configures them: where, how often, for which pipeline,
//! and whether to start over.

use super::config::CheckpointConfig;
use std::time::Duration;

/// Checkpoints of a run ([`crate::pipeline::RunConfig::checkpoints`]): the store
/// ([`CheckpointConfig`]: directory, checkpoints kept), how often a checkpoint is taken,
/// the pipeline's fingerprint (a rerun restores only a checkpoint of the same
/// fingerprint), and whether to discard the old checkpoints and start over.
///
/// ```
/// use highwater::runtime::checkpoint::{CheckpointConfig, RunCheckpoints};
/// use std::time::Duration;
/// let checkpoints = RunCheckpoints::new(CheckpointConfig::new("/var/lib/highwater/bids"))
///     .interval(Duration::from_secs(30))
///     .fingerprint("bids per auction, fixed(10s), v2");
/// assert_eq!(checkpoints.interval_of(), Duration::from_secs(30));
/// assert!(!checkpoints.is_fresh());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCheckpoints {
    /// The store.
    pub(crate) config: CheckpointConfig,
    /// Processing time between two checkpoints (from the end of one to the start of the
    /// next).
    pub(crate) interval: Duration,
    /// What the pipeline is: the flags of `highwater run`, or a text of your own.
    pub(crate) fingerprint: String,
    /// Discard the checkpoints of the directory and start from the beginning.
    pub(crate) fresh: bool,
    /// Say nothing on standard error (which checkpoint is restored, failed checkpoints).
    pub(crate) quiet: bool,
}

impl RunCheckpoints {
    /// The interval unless told otherwise.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

    /// Checkpoints in `config`'s directory every [`RunCheckpoints::DEFAULT_INTERVAL`].
    pub fn new(config: CheckpointConfig) -> Self {
        RunCheckpoints {
            config,
            interval: Self::DEFAULT_INTERVAL,
            fingerprint: "pipeline".into(),
            fresh: false,
            quiet: false,
        }
    }
    /// Takes a checkpoint every `interval` of processing time.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
    /// Names the pipeline: a checkpoint written under another fingerprint is refused
    /// ([`super::CheckpointError::FingerprintMismatch`]). Write one line per part
    /// (`name: value`), so that the error can name the part that differs. The steps that
    /// keep state are checked besides, by name.
    pub fn fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = fingerprint.into();
        self
    }
    /// Discards every checkpoint of the directory and starts from the beginning.
    pub fn fresh(mut self) -> Self {
        self.fresh = true;
        self
    }
    /// Says nothing on standard error.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }
    /// The interval between checkpoints.
    pub fn interval_of(&self) -> Duration {
        self.interval
    }
    /// Whether the run starts over.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }
    /// The store's configuration.
    pub fn config(&self) -> &CheckpointConfig {
        &self.config
    }
}
