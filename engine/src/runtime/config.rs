//! Where a pipeline runs: worker threads of this process, or one process of a cluster.

use super::progress::Progress;
use std::sync::Arc;

/// Where a pipeline runs: worker threads of this process, or one process of a cluster.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Worker threads in this process (1 to [`RunConfig::MAX_WORKERS`]).
    pub workers: usize,
    /// This process's index and every process's `host:port` (empty: a single process).
    pub cluster: Option<(usize, Vec<String>)>,
    /// How long a process of a cluster waits for its peers at start-up before it fails
    /// naming the missing one (default [`RunConfig::DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: std::time::Duration,
    /// How long a process of a cluster waits without a heartbeat from a running peer
    /// before it fails the run naming it (default [`RunConfig::DEFAULT_PEER_TIMEOUT`]; see
    /// [`super::execute`]).
    pub peer_timeout: std::time::Duration,
    pub(crate) progress: Arc<Progress>,
    /// The run's checkpoints (none by default).
    pub(crate) checkpoints: Option<super::checkpoint::RunCheckpoints>,
}

impl RunConfig {
    /// The default start-up deadline of a cluster.
    pub const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
    /// The default time without a heartbeat after which a peer is declared hung.
    pub const DEFAULT_PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
    /// The shortest peer timeout (shorter ones are raised to it): several heartbeats must
    /// fit in it.
    pub const MIN_PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
    /// The most worker threads a process may run (timely's channels grow with the square
    /// of the worker count: more workers than cores only cost memory).
    pub const MAX_WORKERS: usize = 256;
    /// `n` worker threads in this process (more than [`RunConfig::MAX_WORKERS`], or 0,
    /// fails the run with a clear error).
    pub fn workers(n: usize) -> Self {
        RunConfig {
            workers: n,
            cluster: None,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            peer_timeout: Self::DEFAULT_PEER_TIMEOUT,
            progress: Arc::default(),
            checkpoints: None,
        }
    }
    /// Process `process` of a cluster whose processes listen at `addresses`, each with
    /// `workers` threads. Timely's ports are unauthenticated: bind them to loopback or a
    /// private network.
    pub fn cluster(workers: usize, process: usize, addresses: Vec<String>) -> Self {
        RunConfig { cluster: Some((process, addresses)), ..Self::workers(workers) }
    }
    /// Sets the start-up deadline of a cluster.
    pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// Sets how long a process of a cluster waits without a heartbeat from a peer (one
    /// that is stopped, frozen or cut off keeps its connections open) before the run
    /// fails with [`super::ExecutionError::PeerUnresponsive`]; at least
    /// [`RunConfig::MIN_PEER_TIMEOUT`]. A single process sends no heartbeat.
    pub fn peer_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.peer_timeout = timeout.max(Self::MIN_PEER_TIMEOUT);
        self
    }
    /// Takes checkpoints of the run, and restores the newest one at start: the sources
    /// resume at their checkpointed positions, the windowed steps from their state, and
    /// the file sinks are cut back to their checkpointed length, so a job killed and run
    /// again writes exactly the files of a run never interrupted (`docs/checkpoints.md`).
    /// One process only, for now.
    ///
    /// ```
    /// use highwater::pipeline::RunConfig;
    /// use highwater::runtime::checkpoint::{CheckpointConfig, RunCheckpoints};
    /// let config = RunConfig::workers(2)
    ///     .checkpoints(RunCheckpoints::new(CheckpointConfig::new("/var/lib/highwater/bids")));
    /// assert!(config.checkpoints_of().is_some());
    /// ```
    pub fn checkpoints(mut self, checkpoints: super::checkpoint::RunCheckpoints) -> Self {
        self.checkpoints = Some(checkpoints);
        self
    }
    /// The run's checkpoints, if it takes any.
    pub fn checkpoints_of(&self) -> Option<&super::checkpoint::RunCheckpoints> {
        self.checkpoints.as_ref()
    }
    /// The live counters of the run this configuration starts (records read, dead
    /// letters, bytes, the sources' watermark), and the handle that stops it gracefully.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }
}
