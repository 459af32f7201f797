//! The checkpoint directory of one job, locked for its life: the checkpoints it holds, the
//! newest usable one, the next id.

use super::error::CheckpointError;
use super::invalid::{Invalid, InvalidReason};
use super::job::Job;
use super::layout::{list, lock_file};
use super::lock::DirLock;
use super::manifest::{load, Loaded};
use super::restore::Checkpoint;
use super::retention::remove_checkpoint;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The checkpoint directory of one job, opened by [`super::CheckpointConfig::open`] and
/// locked for as long as this value lives: it finds the newest usable checkpoint
/// ([`CheckpointStore::latest`]) and writes new ones ([`CheckpointStore::begin`]).
///
/// It is `Send + Sync`: the worker threads of a process share one store.
#[derive(Debug)]
pub struct CheckpointStore {
    /// The checkpoint directory.
    pub(super) root: PathBuf,
    /// Complete checkpoints kept.
    pub(super) keep: usize,
    /// How long process 0 waits for the other processes' parts.
    pub(super) commit_timeout: Duration,
    /// The job writing here.
    pub(super) job: Job,
    /// The lock on `root` for this process, released when the store is dropped.
    _lock: DirLock,
    /// Checkpoints found complete but damaged by [`CheckpointStore::latest`]: they do not
    /// count among the ones kept, and go once a newer checkpoint is complete.
    bad: Mutex<BTreeSet<u64>>,
}

/// What [`CheckpointStore::latest`] found: the newest usable checkpoint, if any, and the
/// newer ones it skipped, each naming the file that made it unusable — print them as
/// warnings.
#[derive(Debug)]
pub struct Latest {
    checkpoint: Option<Checkpoint>,
    skipped: Vec<Invalid>,
}

impl Latest {
    /// The newest complete checkpoint whose files are intact, if there is one.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoint.as_ref()
    }
    /// The same, by value.
    pub fn into_checkpoint(self) -> Option<Checkpoint> {
        self.checkpoint
    }
    /// The newer checkpoints that were skipped (newest first): incomplete (a crash while
    /// writing), torn or damaged. Their `Display` is the warning.
    pub fn skipped(&self) -> &[Invalid] {
        &self.skipped
    }
}

impl CheckpointStore {
    /// Creates `root` if missing and locks it for process `job.process()`.
    pub(super) fn open(
        root: PathBuf,
        keep: usize,
        commit_timeout: Duration,
        job: Job,
    ) -> Result<Self, CheckpointError> {
        std::fs::create_dir_all(&root).map_err(|source| CheckpointError::Directory { dir: root.clone(), source })?;
        let lock = DirLock::acquire(&root, &lock_file(job.process()))?;
        Ok(CheckpointStore { root, keep, commit_timeout, job, _lock: lock, bad: Mutex::default() })
    }
    /// The checkpoint directory.
    pub fn dir(&self) -> &Path {
        &self.root
    }
    /// The job this store writes for.
    pub fn job(&self) -> &Job {
        &self.job
    }
    /// The newest complete checkpoint whose manifest and files are intact, skipping newer
    /// ones that are incomplete, torn or damaged ([`Latest::skipped`] names the bad file of
    /// each). Each file is read through once to check its length and checksum.
    ///
    /// A usable checkpoint of another pipeline (another fingerprint) is an error, not
    /// skipped: [`CheckpointError::FingerprintMismatch`] names both fingerprints.
    pub fn latest(&self) -> Result<Latest, CheckpointError> {
        let mut skipped = Vec::new();
        let mut found = None;
        for (id, path) in self.list()?.into_iter().rev() {
            let manifest = match load(&path, id)? {
                Loaded::Manifest(m) => m,
                Loaded::Invalid(invalid) => {
                    skipped.push(invalid);
                    continue;
                }
            };
            if manifest.fingerprint != self.job.fingerprint() {
                return Err(CheckpointError::FingerprintMismatch {
                    dir: self.root.clone(),
                    checkpoint: id,
                    found: manifest.fingerprint,
                    expected: self.job.fingerprint().to_string(),
                });
            }
            match Checkpoint::check(path, manifest) {
                Ok(checkpoint) => {
                    found = Some(checkpoint);
                    break;
                }
                Err(invalid) => skipped.push(invalid),
            }
        }
        // Incomplete ones never count among the kept (no manifest); damaged ones must not.
        let damaged = skipped.iter().filter(|i| i.reason != InvalidReason::Incomplete);
        self.bad().extend(damaged.map(|i| i.checkpoint));
        Ok(Latest { checkpoint: found, skipped })
    }
    /// The id the next checkpoint takes: one more than any checkpoint directory present,
    /// complete or not (1 in an empty directory), so that a new checkpoint never meets the
    /// files of an older attempt.
    pub fn next_id(&self) -> Result<u64, CheckpointError> {
        Ok(self.list()?.last().map_or(1, |(id, _)| id + 1))
    }
    /// The id of the oldest checkpoint directory present, complete or not (`None`: none):
    /// no restore can fall back further than it.
    pub(crate) fn oldest(&self) -> Option<u64> {
        self.list().ok()?.first().map(|(id, _)| *id)
    }
    /// Deletes every checkpoint in the directory, complete or not: what `--fresh` does
    /// when a job starts over. Only process 0 may (the others would race its writes).
    pub fn discard_all(&self) -> Result<(), CheckpointError> {
        if !self.job.is_coordinator() {
            return Err(CheckpointError::InvalidJob(format!(
                "process {} cannot discard the checkpoints: process 0 does",
                self.job.process()
            )));
        }
        for (_, path) in self.list()? {
            remove_checkpoint(&path).map_err(|source| CheckpointError::Directory { dir: path.clone(), source })?;
        }
        self.bad().clear();
        Ok(())
    }
    /// The checkpoints found damaged, which retention does not count.
    pub(super) fn bad(&self) -> MutexGuard<'_, BTreeSet<u64>> {
        self.bad.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn list(&self) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
        list(&self.root).map_err(|source| CheckpointError::Directory { dir: self.root.clone(), source })
    }
}
