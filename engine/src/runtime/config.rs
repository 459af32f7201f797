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
    /// Serve the run's metrics over HTTP at this address (`None`, the default: no
    /// endpoint). See [`RunConfig::metrics_addr`].
    pub metrics_addr: Option<String>,
    /// Warn on standard error when the output watermark stands still this long while data
    /// or time flows (`None`: never). See [`RunConfig::stall_warning`].
    pub stall_warning: Option<std::time::Duration>,
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
    /// How long the output watermark may stand still before the run warns.
    pub const DEFAULT_STALL_WARNING: std::time::Duration = std::time::Duration::from_secs(10);
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
            metrics_addr: None,
            stall_warning: Some(Self::DEFAULT_STALL_WARNING),
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
    /// In a cluster every process takes part in every checkpoint (process 0 picks the cut
    /// for all); the directory must be one every process sees.
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
    /// Serves the run's metrics at `http://ADDR/metrics` in the Prometheus text format,
    /// and a status page at `http://ADDR/`, while it runs (`docs/observability.md`). `ADDR`
    /// is `HOST:PORT`, or a bare port on loopback (`127.0.0.1`); port 0 picks a free one.
    /// The bound address is printed on standard error. An address that cannot be bound
    /// fails the run with [`crate::runtime::metrics::MetricsError`], naming it. Each
    /// process of a cluster serves its own workers.
    ///
    /// ```
    /// use highwater::pipeline::RunConfig;
    /// let config = RunConfig::workers(2).metrics_addr("127.0.0.1:0");
    /// assert_eq!(config.metrics_addr.as_deref(), Some("127.0.0.1:0"));
    /// ```
    pub fn metrics_addr(mut self, address: impl Into<String>) -> Self {
        self.metrics_addr = Some(address.into());
        self
    }
    /// Warns on standard error when the output watermark has not moved for `after` while
    /// records arrive (or, with a live source, while time passes), naming the partition
    /// holding it back (default [`RunConfig::DEFAULT_STALL_WARNING`]; `None`: never). The
    /// same answer is [`Progress::status`]`().holding_back()`.
    ///
    /// ```
    /// use highwater::pipeline::RunConfig;
    /// use std::time::Duration;
    /// let config = RunConfig::workers(1).stall_warning(Some(Duration::from_secs(30)));
    /// assert_eq!(config.stall_warning, Some(Duration::from_secs(30)));
    /// assert_eq!(RunConfig::workers(1).stall_warning(None).stall_warning, None);
    /// ```
    pub fn stall_warning(mut self, after: Option<std::time::Duration>) -> Self {
        self.stall_warning = after;
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
