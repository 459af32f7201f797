//! Where a job runs: worker threads, and optionally one process of a timely cluster.
//!
//! Engine flags have long names; timely's own short flags (`-w`, `-n`, `-p`, `-h`) are not
//! used, so they never collide (DESIGN §7).

use crate::pipeline::RunConfig;
use std::path::PathBuf;

/// Flags that place a job: `--workers N`, and `--processes P --process I --hostfile FILE`.
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
}

impl Default for ClusterArgs {
    fn default() -> Self {
        ClusterArgs { workers: 1, processes: 1, process: 0, hostfile: None }
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
            return Ok(RunConfig::workers(self.workers));
        }
        let path = self.hostfile.clone().ok_or(ClusterError::NoHostfile(self.processes))?;
        let text = std::fs::read_to_string(&path).map_err(|e| ClusterError::Hostfile { path: path.clone(), reason: e.to_string() })?;
        let hosts: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect();
        if hosts.len() != self.processes {
            return Err(ClusterError::Hostfile { path, reason: format!("has {} hosts but --processes is {}", hosts.len(), self.processes) });
        }
        Ok(RunConfig::cluster(self.workers, self.process, hosts))
    }
    /// Whether this process prints results (process 0 of a cluster, or a single process).
    pub fn is_leader(&self) -> bool {
        self.process == 0
    }
}
