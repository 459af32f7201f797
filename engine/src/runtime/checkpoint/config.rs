//! Where checkpoints go and how many are kept: what a user configures.

use super::error::CheckpointError;
use super::job::Job;
use super::store::CheckpointStore;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where checkpoints go, how many complete ones are kept, and how long the coordinator
/// waits for the other processes' files: plain data, opened into a [`CheckpointStore`]
/// for one [`Job`].
///
/// ```
/// use highwater::runtime::checkpoint::CheckpointConfig;
/// use std::time::Duration;
/// let config = CheckpointConfig::new("/var/lib/highwater/wordcount").keep(5).commit_timeout(Duration::from_secs(10));
/// assert_eq!(config.dir(), std::path::Path::new("/var/lib/highwater/wordcount"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// The checkpoint directory (created if missing; shared by the processes of a
    /// cluster, so on a shared file system for a cluster of several machines).
    dir: PathBuf,
    /// Complete checkpoints kept; older ones are deleted once a newer one is complete.
    keep: usize,
    /// How long process 0 waits for the other processes' parts of a checkpoint.
    commit_timeout: Duration,
}

impl CheckpointConfig {
    /// The complete checkpoints kept unless told otherwise.
    pub const DEFAULT_KEEP: usize = 3;
    /// How long process 0 waits for the others' files unless told otherwise.
    pub const DEFAULT_COMMIT_TIMEOUT: Duration = Duration::from_secs(60);

    /// Checkpoints in directory `dir`, keeping [`CheckpointConfig::DEFAULT_KEEP`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CheckpointConfig { dir: dir.into(), keep: Self::DEFAULT_KEEP, commit_timeout: Self::DEFAULT_COMMIT_TIMEOUT }
    }
    /// Keeps the last `n` complete checkpoints (at least 1, checked by
    /// [`CheckpointConfig::open`]).
    pub fn keep(mut self, n: usize) -> Self {
        self.keep = n;
        self
    }
    /// Sets how long process 0 of a cluster waits for the other processes' parts of a
    /// checkpoint before it abandons the checkpoint.
    pub fn commit_timeout(mut self, timeout: Duration) -> Self {
        self.commit_timeout = timeout;
        self
    }
    /// The checkpoint directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Opens the directory for `job`: checks the configuration, creates the directory if
    /// missing and locks it for this process for as long as the store lives. A directory
    /// another job holds is refused at once ([`CheckpointError::Locked`]).
    pub fn open(&self, job: Job) -> Result<CheckpointStore, CheckpointError> {
        if self.keep == 0 {
            return Err(CheckpointError::InvalidJob("keep at least one checkpoint".into()));
        }
        job.validate()?;
        CheckpointStore::open(self.dir.clone(), self.keep, self.commit_timeout, job)
    }
}
