//! Writing one checkpoint: each worker's file, then this process's part, then (process 0)
//! the manifest; or, on any failure, nothing at all.

use super::commit::complete;
use super::durable::{sync_dir, write_file};
use super::error::CheckpointError;
use super::layout::{checkpoint_dir, part_file, temp_name, worker_file, MANIFEST};
use super::manifest::{FileEntry, Manifest, Part, FORMAT};
use super::retention::{prune, remove_checkpoint};
use super::store::CheckpointStore;
use highwater_operators::time::Time;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// A checkpoint being written by this process: each of its workers hands its bytes to
/// [`PendingCheckpoint::write`], then one call to [`PendingCheckpoint::commit`] seals the
/// process's part and, in process 0, completes the checkpoint.
///
/// If any write or the commit fails (a full disk), the checkpoint is abandoned: this
/// process's files are removed (in process 0, the checkpoint's whole directory), the
/// previous checkpoints are untouched, and the error says so
/// ([`CheckpointError::fails_only_the_checkpoint`]). Dropping it uncommitted abandons it
/// too.
///
/// It is `Sync`: the worker threads of a process can write through one `&PendingCheckpoint`;
/// their writes go one at a time.
#[derive(Debug)]
#[must_use = "a checkpoint is abandoned unless committed"]
pub struct PendingCheckpoint<'s> {
    /// The store (and its lock) the checkpoint is written under.
    store: &'s CheckpointStore,
    /// The checkpoint's id.
    id: u64,
    /// Its cut.
    cut: Time,
    /// Its directory.
    path: PathBuf,
    /// The files written so far; whether it failed or was committed.
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// This process's workers' files written so far, by worker.
    written: BTreeMap<usize, FileEntry>,
    /// Abandoned after a failure: its files are gone.
    abandoned: bool,
    /// Committed: nothing to clean up.
    committed: bool,
}

/// What [`PendingCheckpoint::commit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Commit {
    /// Process 0: every process's part was there, the manifest is written, the checkpoint
    /// is complete, and checkpoints beyond the last N are deleted.
    Complete(Manifest),
    /// Another process: its part is written; process 0 completes the checkpoint.
    PartWritten {
        /// The checkpoint.
        checkpoint: u64,
    },
}

impl CheckpointStore {
    /// Begins checkpoint `id` (every process of the job the same id, usually
    /// [`CheckpointStore::next_id`] of process 0) cut at `cut`: creates its directory if
    /// no other process has yet.
    pub fn begin(&self, id: u64, cut: Time) -> Result<PendingCheckpoint<'_>, CheckpointError> {
        let path = self.root.join(checkpoint_dir(id));
        if path.join(MANIFEST).exists() {
            return Err(CheckpointError::Exists { checkpoint: id, dir: self.root.clone() });
        }
        match std::fs::create_dir(&path) {
            Ok(()) => {
                if let Err(e) = sync_dir(id, &self.root) {
                    let _ = std::fs::remove_dir(&path);
                    return Err(e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(CheckpointError::Write { checkpoint: id, path, action: "create the directory", source })
            }
        }
        Ok(PendingCheckpoint { store: self, id, cut, path, state: Mutex::default() })
    }
}

impl PendingCheckpoint<'_> {
    /// The checkpoint's id.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Its cut.
    pub fn cut(&self) -> Time {
        self.cut
    }
    /// Writes worker `worker`'s bytes (`worker` counted over all processes, one of this
    /// process's) durably: to a temporary name, fsynced, renamed, the directory fsynced.
    /// A failure abandons the checkpoint.
    pub fn write(&self, worker: usize, bytes: &[u8]) -> Result<(), CheckpointError> {
        let job = &self.store.job;
        let local = job.local_workers();
        if !local.contains(&worker) {
            return Err(CheckpointError::NotLocalWorker {
                worker,
                process: job.process(),
                first: local.start,
                last: local.end - 1,
            });
        }
        let mut state = self.state();
        if state.abandoned {
            return Err(CheckpointError::Abandoned { checkpoint: self.id });
        }
        let name = worker_file(worker);
        let entry = FileEntry::of(name.clone(), bytes);
        match write_file(self.id, &self.path, &name, bytes) {
            Ok(()) => {
                state.written.insert(worker, entry);
                Ok(())
            }
            Err(e) => {
                self.abandon(&mut state);
                Err(e)
            }
        }
    }
    /// Seals this process's part of the checkpoint (every one of its workers must have
    /// written its file). In process 0 it then waits for every other process's part (up to
    /// [`super::CheckpointConfig::commit_timeout`]), writes the manifest — the checkpoint
    /// is complete — and deletes the checkpoints beyond the last N. A failure abandons the
    /// checkpoint.
    pub fn commit(self) -> Result<Commit, CheckpointError> {
        self.commit_until(&|| false)
    }
    /// [`PendingCheckpoint::commit`], except that process 0 stops waiting for the other
    /// processes' parts once `give_up` returns true (their runs are over: the parts still
    /// missing will not come), and abandons the checkpoint.
    pub(crate) fn commit_until(self, give_up: &dyn Fn() -> bool) -> Result<Commit, CheckpointError> {
        let mut state = self.state();
        if state.abandoned {
            return Err(CheckpointError::Abandoned { checkpoint: self.id });
        }
        match self.seal(&state, give_up) {
            Ok(commit) => {
                state.committed = true;
                Ok(commit)
            }
            Err(e) => {
                self.abandon(&mut state);
                Err(e)
            }
        }
    }
    fn seal(&self, state: &State, give_up: &dyn Fn() -> bool) -> Result<Commit, CheckpointError> {
        let store = self.store;
        let job = &store.job;
        let missing: Vec<usize> = job.local_workers().filter(|w| !state.written.contains_key(w)).collect();
        if !missing.is_empty() {
            return Err(CheckpointError::MissingWorkers { checkpoint: self.id, workers: missing });
        }
        let part = Part {
            format: FORMAT,
            checkpoint: self.id,
            cut: self.cut,
            fingerprint: job.fingerprint().to_string(),
            process: job.process(),
            files: state.written.values().cloned().collect(),
        };
        let name = part_file(job.process());
        let bytes = serde_json::to_vec_pretty(&part).map_err(|e| CheckpointError::Write {
            checkpoint: self.id,
            path: self.path.join(&name),
            action: "serialize",
            source: io::Error::other(e),
        })?;
        write_file(self.id, &self.path, &name, &bytes)?;
        if !job.is_coordinator() {
            return Ok(Commit::PartWritten { checkpoint: self.id });
        }
        let manifest = complete(store, self.id, self.cut, &self.path, give_up)?;
        store.bad().remove(&self.id);
        prune(&store.root, self.id, store.keep, &store.bad());
        Ok(Commit::Complete(manifest))
    }
    /// Removes what this process wrote of the checkpoint (process 0: the whole directory,
    /// manifest first); what cannot be removed now goes after the next complete checkpoint.
    fn abandon(&self, state: &mut State) {
        state.abandoned = true;
        let job = &self.store.job;
        if job.is_coordinator() {
            let _ = remove_checkpoint(&self.path);
        } else {
            let names = job.local_workers().map(worker_file).chain([part_file(job.process())]);
            for name in names {
                remove_file(&self.path, &temp_name(&name));
                remove_file(&self.path, &name);
            }
        }
    }
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for PendingCheckpoint<'_> {
    fn drop(&mut self) {
        let mut state = self.state();
        if !state.committed && !state.abandoned {
            self.abandon(&mut state);
        }
    }
}

fn remove_file(dir: &Path, name: &str) {
    let _ = std::fs::remove_file(dir.join(name));
}
