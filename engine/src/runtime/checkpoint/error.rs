//! What can go wrong with a checkpoint directory, and what to do about it.
//!
//! Two families: errors of the *directory* ([`CheckpointError::Directory`],
//! [`CheckpointError::Locked`], [`CheckpointError::FingerprintMismatch`],
//! [`CheckpointError::UnsupportedFormat`], [`CheckpointError::InvalidJob`]) stop a job
//! before it starts; errors of *one checkpoint* (the others: a full disk, a process that did
//! not write its part) fail that checkpoint only — its files are removed, the previous
//! checkpoints are untouched — and a running job reports them as a warning and goes on
//! ([`CheckpointError::fails_only_the_checkpoint`]).

use super::invalid::InvalidReason;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// What can go wrong with a checkpoint directory, and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The checkpoint directory cannot be created, listed or locked.
    #[error("cannot use checkpoint directory `{}`: {source}", dir.display())]
    Directory {
        /// The directory (or the file in it that failed).
        dir: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Another job holds the directory: two jobs writing one directory would mix their
    /// checkpoints.
    #[error(
        "checkpoint directory `{}` is in use by another job ({holder}, holding `{}`); stop that job, or give this one another checkpoint directory",
        dir.display(),
        lock.display()
    )]
    Locked {
        /// The directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// Who holds it, as its lock file says: `pid 1234 on host`, or that it is unknown.
        holder: String,
    },
    /// The newest usable checkpoint was written by a different pipeline: restoring it
    /// would feed one job's state to another.
    #[error(
        "checkpoint {checkpoint} in `{}` was written by a different pipeline ({}); rerun with --fresh to start over (the old checkpoints are deleted), or give this job another checkpoint directory",
        dir.display(), differs(found, expected)
    )]
    FingerprintMismatch {
        /// The checkpoint directory.
        dir: PathBuf,
        /// The checkpoint.
        checkpoint: u64,
        /// Its fingerprint.
        found: String,
        /// This job's.
        expected: String,
    },
    /// A manifest of a format this version does not read (written by a newer highwater).
    #[error(
        "`{}` is checkpoint format {found}, this highwater reads format {supported}: run the version that wrote it, or start over with --fresh",
        path.display()
    )]
    UnsupportedFormat {
        /// The manifest.
        path: PathBuf,
        /// Its format.
        found: u64,
        /// The format this version reads and writes.
        supported: u64,
    },
    /// The job's shape or the configuration cannot work (no workers, a process index out
    /// of range, keeping no checkpoint).
    #[error("invalid checkpoint configuration: {0}")]
    InvalidJob(String),
    /// Writing checkpoint `checkpoint` failed (a full disk, an I/O error): the checkpoint
    /// is abandoned and its files removed; the previous ones are kept.
    #[error(
        "checkpoint {checkpoint} failed: cannot {action} `{}`: {source}; it is abandoned and the previous checkpoints are kept",
        path.display()
    )]
    Write {
        /// The checkpoint.
        checkpoint: u64,
        /// The file or directory.
        path: PathBuf,
        /// What was being done (`write`, `fsync`, `rename`, `create`).
        action: &'static str,
        /// The operating system's reason (`No space left on device`, …).
        source: io::Error,
    },
    /// The coordinator (process 0) waited for the other processes' parts of checkpoint
    /// `checkpoint` in vain.
    #[error(
        "checkpoint {checkpoint} failed: process{} {} wrote no part within {:.1} s; it is abandoned and the previous checkpoints are kept (is every process writing to the same directory?)",
        if missing.len() == 1 { "" } else { "es" },
        list(missing),
        waited.as_secs_f64()
    )]
    CommitTimeout {
        /// The checkpoint.
        checkpoint: u64,
        /// The processes whose part is missing.
        missing: Vec<usize>,
        /// How long the coordinator waited.
        waited: Duration,
    },
    /// A process's part of a checkpoint does not agree with the coordinator's (another
    /// cut, another pipeline, files of workers it does not run).
    #[error("checkpoint {checkpoint} failed: `{}` {reason}", path.display())]
    PartMismatch {
        /// The checkpoint.
        checkpoint: u64,
        /// The part.
        path: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// A process committed its part of a checkpoint before every one of its workers wrote
    /// its file.
    #[error("checkpoint {checkpoint} failed: worker{} {} wrote no file before the commit; every worker of a process writes its file (even an empty one) first", if workers.len() == 1 { "" } else { "s" }, list(workers))]
    MissingWorkers {
        /// The checkpoint.
        checkpoint: u64,
        /// The workers.
        workers: Vec<usize>,
    },
    /// A worker's file was handed to a process that does not run it.
    #[error("worker {worker} does not run in process {process} (its workers are {first} to {last}): each process writes its own workers' files")]
    NotLocalWorker {
        /// The worker.
        worker: usize,
        /// This process.
        process: usize,
        /// Its first worker.
        first: usize,
        /// Its last worker.
        last: usize,
    },
    /// A checkpoint that already failed was written to or committed again.
    #[error("checkpoint {checkpoint} already failed and was abandoned; begin a new one")]
    Abandoned {
        /// The checkpoint.
        checkpoint: u64,
    },
    /// A checkpoint with this id is already complete.
    #[error("checkpoint {checkpoint} already exists in `{}`; begin the next one (CheckpointStore::next_id)", dir.display())]
    Exists {
        /// The checkpoint.
        checkpoint: u64,
        /// The checkpoint directory.
        dir: PathBuf,
    },
    /// A worker a checkpoint has no file of (it was written by fewer workers).
    #[error("checkpoint {checkpoint} was written by {workers} workers, it has no worker {worker}")]
    NoSuchWorker {
        /// The checkpoint.
        checkpoint: u64,
        /// The worker asked for.
        worker: usize,
        /// The workers that wrote it.
        workers: usize,
    },
    /// A file of a checkpoint that was valid when found no longer is.
    #[error("checkpoint {checkpoint}: `{}` {reason} (it changed after the checkpoint was checked)", path.display())]
    Corrupt {
        /// The checkpoint.
        checkpoint: u64,
        /// The file.
        path: PathBuf,
        /// What is wrong with it now.
        reason: InvalidReason,
    },
    /// A checkpoint's file is intact but its contents cannot be read as a pipeline's
    /// state (written by another version of highwater).
    #[error("checkpoint {checkpoint}: `{}` cannot be read as a pipeline's state ({reason}); rerun with --fresh to start over", path.display())]
    Unreadable {
        /// The checkpoint.
        checkpoint: u64,
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
}

impl CheckpointError {
    /// Whether this error fails one checkpoint only: its files are gone, the previous
    /// checkpoints are intact, and a running job can report it as a warning and go on.
    /// The other errors concern the directory or the job and stop it.
    pub fn fails_only_the_checkpoint(&self) -> bool {
        matches!(
            self,
            CheckpointError::Write { .. }
                | CheckpointError::CommitTimeout { .. }
                | CheckpointError::PartMismatch { .. }
                | CheckpointError::MissingWorkers { .. }
                | CheckpointError::Abandoned { .. }
        )
    }
}

/// What differs between two fingerprints: the first line that does (a fingerprint of
/// several `name: value` lines names the part of the pipeline that changed), or both whole.
fn differs(found: &str, expected: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (found.lines().collect(), expected.lines().collect());
    if a.len() > 1 || b.len() > 1 {
        for i in 0..a.len().max(b.len()) {
            let (x, y) = (a.get(i).copied().unwrap_or("(nothing)"), b.get(i).copied().unwrap_or("(nothing)"));
            if x != y {
                return format!("it has `{x}` where this job has `{y}`");
            }
        }
    }
    format!("its fingerprint is `{found}`, this job's is `{expected}`")
}

fn list(items: &[usize]) -> String {
    items.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
}
