//! The cut: the coordinator of a process's checkpoints. It picks each cut, collects the
//! state every stateful step of every worker saves at it, and writes the checkpoint; at
//! start it loads the checkpoint a run restores.
//!
//! Every `interval` it asks the sources for a cut. Each source, at its next activation,
//! reports the highest watermark it has stamped and waits (it reads nothing more) until
//! every source has reported; the cut is then `T = (highest + 1, 0)`: every stamp emitted
//! so far is before it. Each source goes on reading and records each
//! partition's position at the batch after which its stamps reach `T`; every operator
//! saves its state when its input frontier first passes `T`; every file sink its length.
//! When every step of every worker has saved, the checkpoint is written (one file per
//! worker: each step's state by name) and the next interval begins. A source that has
//! finished keeps its last report and its last state ("every partition done") for every
//! later cut.

use super::error::CheckpointError;
use super::job::Job;
use super::settings::RunCheckpoints;
use super::store::CheckpointStore;
use highwater_operators::clock::Clock;
use highwater_operators::time::Time;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The directory of the socket journals in a checkpoint directory.
pub(crate) const JOURNAL_DIR: &str = "journal";

/// What a source does at an activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Read on; record positions at this cut (if it still owes them).
    Read(Option<Time>),
    /// A cut is being picked: read nothing until every source has reported.
    Wait,
}

/// A participant: `(worker, step)`.
type Who = (usize, String);

/// Where the checkpoints of a run stand.
#[derive(Debug, Default)]
enum Phase {
    /// Between checkpoints.
    #[default]
    Idle,
    /// Asking the sources for their highest watermarks.
    Asking(BTreeMap<Who, i64>),
    /// Collecting each step's state at the cut.
    Cutting(Time, BTreeMap<Who, Vec<u8>>),
    /// Writing the checkpoint.
    Writing,
}

#[derive(Debug, Default)]
struct State {
    /// Workers whose pipeline is built: no cut before all are.
    built: usize,
    /// Every step that saves state, and whether it is a source.
    steps: BTreeMap<Who, bool>,
    /// Finished sources: their highest watermark and their state for every later cut.
    finished: BTreeMap<Who, (i64, Vec<u8>)>,
    phase: Phase,
    /// When the sources were asked for the current checkpoint's cut (processing time, ms).
    asked_at: Option<i64>,
    /// When the next cut is asked for (processing time, ms).
    next_at: Option<i64>,
    /// No more checkpoints (the pipeline does not match its checkpoint).
    off: bool,
    /// Socket journals the sources reported read to their end at the pending cut.
    journals_at_cut: BTreeSet<std::path::PathBuf>,
    /// Socket journals read to their end, by the first checkpoint that recorded it: once
    /// no checkpoint older than that one is left, no restore reads them again.
    journals_done: BTreeMap<u64, BTreeSet<std::path::PathBuf>>,
}

/// The checkpoints of one process's run. See the module docs.
pub(crate) struct Coordinator {
    store: CheckpointStore,
    settings: RunCheckpoints,
    clock: Arc<dyn Clock>,
    workers: usize,
    /// The state each step had in the checkpoint restored, one buffer per worker that
    /// wrote it.
    restored: BTreeMap<String, Vec<Vec<u8>>>,
    /// The checkpoint restored: its id and cut.
    restored_from: Option<(u64, Time)>,
    state: Mutex<State>,
    /// Checkpoints written, and their bytes.
    written: AtomicU64,
    bytes: AtomicU64,
    /// The last checkpoint written: processing time from asking for its cut to its
    /// manifest (ms), and its bytes over all workers.
    last_millis: AtomicU64,
    last_bytes: AtomicU64,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator").field("dir", &self.store.dir()).field("workers", &self.workers).finish()
    }
}

impl Coordinator {
    /// Opens the store of `settings` for a run of `workers` worker threads (one process),
    /// discards its checkpoints if asked to start over, and loads the newest intact
    /// checkpoint, saying on standard error which (and which it skipped).
    pub(crate) fn open(
        settings: RunCheckpoints,
        workers: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CheckpointError> {
        let store = settings.config.open(Job::new(settings.fingerprint.clone(), workers))?;
        if settings.fresh {
            store.discard_all()?;
            // The socket journals belong to the checkpoints: a fresh start replays none.
            let journals = store.dir().join(JOURNAL_DIR);
            match std::fs::remove_dir_all(&journals) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(CheckpointError::Directory { dir: journals, source: e })
                }
                _ => {}
            }
        }
        let latest = store.latest()?;
        for skipped in latest.skipped() {
            if !settings.quiet {
                tracing::warn!("{skipped}");
            }
        }
        let mut restored: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        let mut restored_from = None;
        if let Some(checkpoint) = latest.checkpoint() {
            for w in 0..checkpoint.workers() {
                let bytes = checkpoint.read_worker(w)?;
                let steps: BTreeMap<String, Vec<u8>> =
                    bincode::deserialize(&bytes).map_err(|e| CheckpointError::Unreadable {
                        checkpoint: checkpoint.id(),
                        path: checkpoint.path().join(format!("worker-{w}.bin")),
                        reason: e.to_string(),
                    })?;
                for (step, piece) in steps {
                    restored.entry(step).or_default().push(piece);
                }
            }
            restored_from = Some((checkpoint.id(), checkpoint.cut()));
            if !settings.quiet {
                tracing::info!(
                    checkpoint = checkpoint.id(),
                    dir = %store.dir().display(),
                    "resuming from checkpoint {} in `{}` (cut at watermark {} ms, written by {} worker(s))",
                    checkpoint.id(),
                    store.dir().display(),
                    checkpoint.cut().watermark(),
                    checkpoint.workers()
                );
            }
        }
        Ok(Coordinator {
            store,
            settings,
            clock,
            workers,
            restored,
            restored_from,
            state: Mutex::default(),
            written: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_millis: AtomicU64::new(0),
            last_bytes: AtomicU64::new(0),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Socket journals read to their end before the pending cut (`journals`) or before the
    /// restored checkpoint's (`restored`): deleted once every checkpoint left records them
    /// done.
    pub(crate) fn journals_done(&self, journals: Vec<std::path::PathBuf>, restored: bool) {
        let mut state = self.state();
        match (restored, self.restored_from) {
            (true, Some((id, _))) => state.journals_done.entry(id).or_default().extend(journals),
            (true, None) => {}
            (false, _) => state.journals_at_cut.extend(journals),
        }
    }

    /// Deletes the journals that every checkpoint present records as read to their end.
    fn prune_journals(&self, written: u64, at_cut: BTreeSet<std::path::PathBuf>) {
        let mut state = self.state();
        state.journals_done.entry(written).or_default().extend(at_cut);
        let oldest = self.store.oldest().unwrap_or(written);
        let covered: Vec<u64> = state.journals_done.range(..=oldest).map(|(id, _)| *id).collect();
        let mut doomed = BTreeSet::new();
        for id in covered {
            doomed.extend(state.journals_done.remove(&id).unwrap_or_default());
        }
        drop(state);
        for log in doomed {
            let _ = std::fs::remove_file(log.with_extension("peer"));
            if let Err(e) = std::fs::remove_file(&log) {
                if e.kind() != std::io::ErrorKind::NotFound && self.verbose() {
                    tracing::warn!(journal = %log.display(), error = %e, "cannot delete the finished socket journal `{}`: {e}", log.display());
                }
            }
        }
    }

    /// Where the sources journal what live connections send (`DIR/journal`).
    pub(crate) fn journal_dir(&self) -> std::path::PathBuf {
        self.store.dir().join(JOURNAL_DIR)
    }

    /// Whether messages go to standard error.
    pub(crate) fn verbose(&self) -> bool {
        !self.settings.quiet
    }

    /// The checkpoint this run restored: its id and cut.
    pub(crate) fn restored_from(&self) -> Option<(u64, Time)> {
        self.restored_from
    }

    /// Every step's state in the restored checkpoint.
    pub(crate) fn restored_steps(&self) -> impl Iterator<Item = (&str, &[Vec<u8>])> {
        self.restored.iter().map(|(s, p)| (s.as_str(), p.as_slice()))
    }

    /// The state `step` had in the restored checkpoint, one buffer per worker that wrote it.
    pub(crate) fn restored(&self, step: &str) -> Vec<Vec<u8>> {
        self.restored.get(step).cloned().unwrap_or_default()
    }

    /// Checkpoints written by this run, and their bytes.
    pub(crate) fn written(&self) -> (u64, u64) {
        (self.written.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }

    /// The last checkpoint written by this run: how long it took (from asking the sources
    /// for its cut to its manifest, processing time) and its bytes over all workers.
    pub(crate) fn last(&self) -> Option<(std::time::Duration, u64)> {
        (self.written.load(Ordering::Relaxed) > 0).then(|| {
            (
                std::time::Duration::from_millis(self.last_millis.load(Ordering::Relaxed)),
                self.last_bytes.load(Ordering::Relaxed),
            )
        })
    }

    /// Announces a step of `worker` that saves state at every cut.
    pub(crate) fn register(&self, worker: usize, step: &str, source: bool) {
        self.state().steps.insert((worker, step.to_string()), source);
    }

    /// `worker`'s pipeline is built. Once every worker's is, the steps are checked against
    /// the restored checkpoint's: a step of one and not the other is named in the error.
    pub(crate) fn built(&self) -> Result<(), String> {
        let mut state = self.state();
        state.built += 1;
        if state.built < self.workers || self.restored_from.is_none() {
            return Ok(());
        }
        let now: BTreeSet<String> = state.steps.keys().map(|(_, s)| s.clone()).collect();
        let now: BTreeSet<&str> = now.iter().map(String::as_str).collect();
        let then: BTreeSet<&str> = self.restored.keys().map(String::as_str).collect();
        let (id, _) = self.restored_from.unwrap_or_default();
        let dir = self.store.dir().display();
        if let Some(step) = then.difference(&now).next() {
            state.off = true;
            return Err(format!(
                "checkpoint {id} in `{dir}` holds the state of step `{step}`, which this pipeline does not have: the pipeline changed; rerun with --fresh to start over, or use another checkpoint directory"
            ));
        }
        if let Some(step) = now.difference(&then).next() {
            state.off = true;
            return Err(format!(
                "step `{step}` of this pipeline has no state in checkpoint {id} in `{dir}`: the pipeline changed; rerun with --fresh to start over, or use another checkpoint directory"
            ));
        }
        Ok(())
    }

    /// A source's turn: whether it reads on (and owes positions at a cut) or waits while
    /// a cut is picked. `top` is the highest watermark it has stamped.
    pub(crate) fn source_turn(&self, worker: usize, step: &str, top: i64) -> Turn {
        let mut state = self.state();
        if state.off || state.built < self.workers {
            return Turn::Read(None);
        }
        let who = (worker, step.to_string());
        if let Phase::Idle = state.phase {
            let now = self.clock.now();
            let interval = i64::try_from(self.settings.interval.as_millis()).unwrap_or(i64::MAX);
            match state.next_at {
                None => {
                    state.next_at = Some(now.saturating_add(interval));
                    return Turn::Read(None);
                }
                Some(at) if now < at => return Turn::Read(None),
                Some(_) => {
                    state.phase = Phase::Asking(BTreeMap::new());
                    state.asked_at = Some(self.clock.now());
                }
            }
        }
        let sources: Vec<Who> = state.steps.iter().filter(|(_, s)| **s).map(|(w, _)| w.clone()).collect();
        let finished: Vec<(Who, i64)> = state.finished.iter().map(|(w, (top, _))| (w.clone(), *top)).collect();
        match &mut state.phase {
            Phase::Asking(reports) => {
                reports.insert(who, top);
                for (w, top) in finished {
                    reports.insert(w, top);
                }
                if sources.iter().all(|s| reports.contains_key(s)) {
                    let highest = reports.values().copied().max().unwrap_or(i64::MIN);
                    let cut = Time::new(highest.saturating_add(1), 0);
                    let pieces: BTreeMap<Who, Vec<u8>> =
                        state.finished.iter().map(|(w, (_, piece))| (w.clone(), piece.clone())).collect();
                    state.phase = Phase::Cutting(cut, pieces);
                    Turn::Read(Some(cut))
                } else {
                    Turn::Wait
                }
            }
            Phase::Cutting(cut, pieces) => Turn::Read((!pieces.contains_key(&who)).then_some(*cut)),
            Phase::Idle | Phase::Writing => Turn::Read(None),
        }
    }

    /// A source has finished: `top` is its last report and `piece` its state at every
    /// later cut.
    pub(crate) fn source_finished(&self, worker: usize, step: &str, top: i64, piece: Vec<u8>) {
        self.state().finished.insert((worker, step.to_string()), (top, piece));
    }

    /// The cut `step` of `worker` owes its state at.
    pub(crate) fn pending(&self, worker: usize, step: &str) -> Option<Time> {
        let state = self.state();
        match &state.phase {
            Phase::Cutting(cut, pieces) if !pieces.contains_key(&(worker, step.to_string())) => Some(*cut),
            _ => None,
        }
    }

    /// `step` of `worker` saves its state at `cut`. The last step to save writes the
    /// checkpoint (a failure is a warning: the job goes on).
    pub(crate) fn save(&self, worker: usize, step: &str, cut: Time, piece: Vec<u8>) {
        let pieces = {
            let mut state = self.state();
            let State { phase, steps, .. } = &mut *state;
            let Phase::Cutting(at, pieces) = phase else { return };
            if *at != cut {
                return;
            }
            pieces.insert((worker, step.to_string()), piece);
            if !steps.keys().all(|w| pieces.contains_key(w)) {
                return;
            }
            let pieces = std::mem::take(pieces);
            state.phase = Phase::Writing;
            (pieces, std::mem::take(&mut state.journals_at_cut))
        };
        let (pieces, journals) = pieces;
        let result = self.write(cut, pieces);
        let mut state = self.state();
        state.phase = Phase::Idle;
        let interval = i64::try_from(self.settings.interval.as_millis()).unwrap_or(i64::MAX);
        let now = self.clock.now();
        state.next_at = Some(now.saturating_add(interval));
        let took = state.asked_at.take().map_or(0, |at| now.saturating_sub(at).max(0) as u64);
        drop(state);
        match result {
            Ok((id, bytes)) => {
                self.last_millis.store(took, Ordering::Relaxed);
                self.last_bytes.store(bytes, Ordering::Relaxed);
                self.written.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(bytes, Ordering::Relaxed);
                self.prune_journals(id, journals);
                tracing::debug!(
                    checkpoint = id,
                    cut_watermark_ms = cut.watermark(),
                    bytes,
                    millis = took,
                    "checkpoint {id} written: cut at watermark {} ms, {bytes} bytes, {took} ms",
                    cut.watermark()
                );
            }
            Err(e) => {
                if self.verbose() {
                    tracing::warn!(error = %e, "{e}; the job goes on, the next checkpoint is due in one interval");
                }
            }
        }
    }

    /// Writes the checkpoint at `cut`: each worker's file holds its steps' state by name.
    fn write(&self, cut: Time, pieces: BTreeMap<Who, Vec<u8>>) -> Result<(u64, u64), CheckpointError> {
        let mut files: Vec<BTreeMap<String, Vec<u8>>> = vec![BTreeMap::new(); self.workers];
        for ((worker, step), piece) in pieces {
            if let Some(f) = files.get_mut(worker) {
                f.insert(step, piece);
            }
        }
        let id = self.store.next_id()?;
        let pending = self.store.begin(id, cut)?;
        let mut total = 0;
        for (worker, steps) in files.iter().enumerate() {
            let bytes = bincode::serialize(steps).map_err(|e| CheckpointError::Write {
                checkpoint: id,
                path: self.store.dir().to_path_buf(),
                action: "serialize",
                source: std::io::Error::other(e),
            })?;
            total += bytes.len() as u64;
            pending.write(worker, &bytes)?;
        }
        pending.commit()?;
        Ok((id, total))
    }
}
