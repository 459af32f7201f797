//! Who writes a checkpoint directory: the pipeline's fingerprint and the job's scale.

use super::error::CheckpointError;
use std::ops::Range;

/// The job a [`super::CheckpointStore`] writes for: the pipeline's fingerprint, the worker
/// threads per process, and (for a cluster) the processes and this one's index. Worker `w`
/// (counted over all processes) runs in process `w / workers`, as in timely.
///
/// ```
/// use highwater::runtime::checkpoint::Job;
/// let job = Job::new("wordcount v3", 2).cluster(3, 1);
/// assert_eq!((job.total_workers(), job.local_workers()), (6, 2..4));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The pipeline's fingerprint (`highwater run`: the flags that shape the job, one line each).
    fingerprint: String,
    /// Worker threads per process.
    workers: usize,
    /// Processes of the cluster (1: a single process).
    processes: usize,
    /// This process's index.
    process: usize,
}

impl Job {
    /// A single process of `workers` worker threads running the pipeline whose
    /// fingerprint is `fingerprint`.
    pub fn new(fingerprint: impl Into<String>, workers: usize) -> Self {
        Job { fingerprint: fingerprint.into(), workers, processes: 1, process: 0 }
    }
    /// Process `process` of a cluster of `processes`, each with the same worker count.
    pub fn cluster(mut self, processes: usize, process: usize) -> Self {
        self.processes = processes;
        self.process = process;
        self
    }
    /// The pipeline's fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
    /// Worker threads per process.
    pub fn workers(&self) -> usize {
        self.workers
    }
    /// The processes of the cluster.
    pub fn processes(&self) -> usize {
        self.processes
    }
    /// This process's index.
    pub fn process(&self) -> usize {
        self.process
    }
    /// The workers of all processes.
    pub fn total_workers(&self) -> usize {
        self.workers * self.processes
    }
    /// The workers this process runs (and writes the files of).
    pub fn local_workers(&self) -> Range<usize> {
        self.process * self.workers..(self.process + 1) * self.workers
    }
    /// The workers process `process` runs.
    pub(super) fn workers_of(&self, process: usize) -> Range<usize> {
        process * self.workers..(process + 1) * self.workers
    }
    /// Whether this process completes the checkpoints (writes the manifests, deletes the
    /// old ones): process 0.
    pub(super) fn is_coordinator(&self) -> bool {
        self.process == 0
    }
    pub(super) fn validate(&self) -> Result<(), CheckpointError> {
        if self.workers == 0 || self.processes == 0 {
            return Err(CheckpointError::InvalidJob(format!(
                "{} workers in {} processes: a job has at least one of each",
                self.workers, self.processes
            )));
        }
        if self.process >= self.processes {
            return Err(CheckpointError::InvalidJob(format!(
                "process {} is out of range for a cluster of {} processes",
                self.process, self.processes
            )));
        }
        if self.fingerprint.is_empty() {
            return Err(CheckpointError::InvalidJob("the pipeline's fingerprint is empty".into()));
        }
        Ok(())
    }
}
