//! Where a job runs: worker threads, and optionally one process of a timely cluster.
//!
//! Engine flags have long names; timely's own short flags (`-w`, `-n`, `-p`, `-h`) are not
//! used, so they never collide (DESIGN §7).

use crate::pipeline::RunConfig;
use highwater_operators::duration::parse_ticks;
use std::path::PathBuf;
use std::time::Duration;

/// Flags that place a job: `--workers N`, and `--processes P --process I --hostfile FILE`
/// (with `--connect-timeout D`). `highwater cluster` sets the last three for a local
/// cluster (see [`super::local_cluster`]).
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct ClusterArgs {
    /// Worker threads in this process.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Number of processes of the cluster (1: this process alone).
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// This process's index in the cluster, 0-based.
    #[arg(long, default_value_t = 0)]
    pub process: usize,
    /// File with one `host:port` per process, in process order. Timely's ports are
    /// unauthenticated: use loopback or a private network.
    #[arg(long, value_name = "FILE")]
    pub hostfile: Option<PathBuf>,
    /// How long a process waits for the others at start-up before failing with the name
    /// of the missing one (e.g. 30s, 500ms).
    #[arg(long, default_value = "30s", value_parser = parse_timeout, value_name = "DURATION")]
    pub connect_timeout: Duration,
    /// How long a process of a cluster waits without a heartbeat from a peer before the
    /// run fails naming it (e.g. 30s). Processes send one every second from a thread of
    /// their own, so busy workers do not delay it; silence means the peer is stopped
    /// (SIGSTOP, a debugger), frozen, or cut off. Raise it to debug a process.
    #[arg(long, default_value = "30s", value_parser = parse_peer_timeout, value_name = "DURATION")]
    pub peer_timeout: Duration,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let ms = parse_ticks(text)?;
    u64::try_from(ms).map(Duration::from_millis).map_err(|_| format!("`{text}` is negative"))
}

fn parse_peer_timeout(text: &str) -> Result<Duration, String> {
    match parse_timeout(text)? {
        d if d < RunConfig::MIN_PEER_TIMEOUT => {
            Err(format!("`{text}` is too short: a peer timeout is at least {:?}", RunConfig::MIN_PEER_TIMEOUT))
        }
        d => Ok(d),
    }
}

impl Default for ClusterArgs {
    fn default() -> Self {
        ClusterArgs {
            workers: 1,
            processes: 1,
            process: 0,
            hostfile: None,
            connect_timeout: RunConfig::DEFAULT_CONNECT_TIMEOUT,
            peer_timeout: RunConfig::DEFAULT_PEER_TIMEOUT,
        }
    }
}

/// A cluster setting that cannot work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Zero workers or processes.
    #[error("--workers and --processes must be at least 1")]
    Zero,
    /// `--process` out of range.
    #[error("--process {process} is out of range for --processes {processes} (use 0..{processes})")]
    ProcessOutOfRange {
        /// The index given.
        process: usize,
        /// The number of processes.
        processes: usize,
    },
    /// More than one process but no host file.
    #[error("--processes {0} needs --hostfile FILE with one host:port per process")]
    NoHostfile(usize),
    /// The host file cannot be read or has the wrong number of lines.
    #[error("hostfile {path}: {reason}")]
    Hostfile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl ClusterArgs {
    /// The run configuration these flags describe.
    pub fn config(&self) -> Result<RunConfig, ClusterError> {
        if self.workers == 0 || self.processes == 0 {
            return Err(ClusterError::Zero);
        }
        if self.process >= self.processes {
            return Err(ClusterError::ProcessOutOfRange { process: self.process, processes: self.processes });
        }
        if self.processes == 1 {
            return Ok(RunConfig::workers(self.workers).connect_timeout(self.connect_timeout));
        }
        let path = self.hostfile.clone().ok_or(ClusterError::NoHostfile(self.processes))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ClusterError::Hostfile { path: path.clone(), reason: e.to_string() })?;
        let hosts: Vec<String> =
            text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect();
        if hosts.len() != self.processes {
            return Err(ClusterError::Hostfile {
                path,
                reason: format!("has {} hosts but --processes is {}", hosts.len(), self.processes),
            });
        }
        Ok(RunConfig::cluster(self.workers, self.process, hosts)
            .connect_timeout(self.connect_timeout)
            .peer_timeout(self.peer_timeout))
    }
    /// The file this process writes when the user asked for `path`: `path` itself in a
    /// single process, `path.p<I>` in process `I` of a cluster (every process writes the
    /// results of its own workers, and processes may share a disk). `-` stays standard
    /// output: `highwater cluster` merges the processes' standard outputs line by line.
    ///
    /// ```
    /// use highwater::cli::cluster::ClusterArgs;
    /// let one = ClusterArgs::default();
    /// assert_eq!(one.output_path("panes.jsonl"), "panes.jsonl");
    /// let p1 = ClusterArgs { processes: 2, process: 1, ..ClusterArgs::default() };
    /// assert_eq!(p1.output_path("panes.jsonl"), "panes.jsonl.p1");
    /// assert_eq!(p1.output_path("-"), "-");
    /// ```
    pub fn output_path(&self, path: &str) -> String {
        if self.processes <= 1 || path == "-" {
            path.to_string()
        } else {
            format!("{path}.p{}", self.process)
        }
    }
    /// Whether this is process 0 (which prints the run's summary first). Every process
    /// writes the results its own workers produced (see [`ClusterArgs::output_path`]).
    pub fn is_leader(&self) -> bool {
        self.process == 0
    }
}
