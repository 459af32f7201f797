//! The cut: the coordinator of a process's checkpoints. It picks each cut (with the other
//! processes of a cluster), collects the state every stateful step of its workers saves
//! at it, and writes the checkpoint; at start it loads the checkpoint a run restores.
//!
//! Every `interval` it asks the sources for a cut. Each source, at its next activation,
//! reports the highest watermark it has stamped and waits (it reads nothing more) until
//! every source has reported; the cut is then `T = (highest + 1, 0)`: every stamp emitted
//! so far is before it. Each source goes on reading and records each
//! partition's position at the batch after which its stamps reach `T`; every operator
//! saves its state when its input frontier first passes `T`; every file sink its length.
//! When every step of every worker has saved, the checkpoint is written (one file per
//! worker: each step's state by name) by a thread of its own — no worker waits for a disk
//! — and the next interval begins. A source that has finished keeps its last report and
//! its last state ("every partition done") for every later cut.
//!
//! **A cluster.** Each process has its coordinator; process 0's picks the cut for all over
//! the control stream (`control.rs`). Process 0 begins checkpoint `id` (`Ask`: its own
//! interval passed, or another process said one is `Due`); each process's sources report
//! as above, and once all of a process's have, it sends process 0 their highest
//! (`Report`); process 0 takes the highest of all, and sends the cut (`Cut`). From there
//! each process is on its own: its steps save at the cut, it writes its workers' files and
//! its part of checkpoint `id`, and process 0 writes the manifest once every part is there.
//! Every source of every process has stopped between its report and the cut, so the cut is
//! after every stamp of every process, as in one process.

use super::control::{Control, ControlPeer, Message};
use super::error::CheckpointError;
use super::job::Job;
use super::settings::RunCheckpoints;
use super::store::CheckpointStore;
use crate::runtime::outputs::SinkState;
use highwater_operators::clock::Clock;
use highwater_operators::time::Time;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

/// The directory of the socket journals in a checkpoint directory.
pub(crate) const JOURNAL_DIR: &str = "journal";

/// The step under which process 0 keeps, in every checkpoint, the output files a restored
/// checkpoint recorded and this run does not write (another process count writes other
/// files): their rows before the cut stay, and a later restore cuts them back again.
pub(crate) const KEPT_SINKS: &str = "sinks-kept";

/// How often (at most) a process other than 0 tells process 0 that a checkpoint is due.
const DUE_EVERY_MS: i64 = 50;

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
    /// Checkpoint `id`: asking the sources for their highest watermarks.
    Asking {
        id: u64,
        /// Each local source's report.
        reports: BTreeMap<Who, i64>,
        /// Once every local source has reported: their highest (and, in a process other
        /// than 0, sent to process 0).
        local: Option<i64>,
        /// Process 0: the other processes' reports.
        remote: BTreeMap<usize, i64>,
    },
    /// Collecting each step's state at the cut of checkpoint `id`.
    Cutting { id: u64, cut: Time, pieces: BTreeMap<Who, Vec<u8>> },
    /// Writing the checkpoint.
    Writing,
}

#[derive(Debug, Default)]
struct State {
    /// Workers of this process whose pipeline is built: no cut before all are.
    built: usize,
    /// Every step of this process's workers that saves state, and whether it is a source.
    steps: BTreeMap<Who, bool>,
    /// Finished sources: their highest watermark and their state for every later cut.
    finished: BTreeMap<Who, (i64, Vec<u8>)>,
    phase: Phase,
    /// When the sources were asked for the current checkpoint's cut (processing time, ms).
    asked_at: Option<i64>,
    /// When the next cut is asked for (processing time, ms).
    next_at: Option<i64>,
    /// A process other than 0: when it last told process 0 a checkpoint was due.
    due_sent_at: Option<i64>,
    /// A process other than 0: a checkpoint process 0 began while this one was still
    /// writing the previous one.
    queued: Option<u64>,
    /// The id of the last checkpoint begun (process 0).
    last_id: u64,
    /// Process 0: the processes whose run is over (or whose control connection ended).
    peers_done: BTreeSet<usize>,
    /// No more checkpoints (the pipeline does not match its checkpoint).
    off: bool,
    /// Socket journals the sources reported read to their end at the pending cut.
    journals_at_cut: BTreeSet<std::path::PathBuf>,
    /// Socket journals read to their end, by the first checkpoint that recorded it: once
    /// no checkpoint older than that one is left, no restore reads them again.
    journals_done: BTreeMap<u64, BTreeSet<std::path::PathBuf>>,
}

/// Reports a problem that fails the run (the pipeline's counters).
type Reporter = Box<dyn Fn(String) + Send + Sync>;

/// The checkpoints of one process's run. See the module docs.
pub(crate) struct Coordinator {
    store: CheckpointStore,
    settings: RunCheckpoints,
    clock: Arc<dyn Clock>,
    /// Worker threads of this process.
    workers: usize,
    /// This process and the processes of the run (1: one process).
    process: usize,
    processes: usize,
    /// The state each step had in the checkpoint restored, one buffer per worker that
    /// wrote it.
    restored: BTreeMap<String, Vec<Vec<u8>>>,
    /// The checkpoint restored: its id and cut.
    restored_from: Option<(u64, Time)>,
    /// The output files of the restored checkpoint, by path (see [`KEPT_SINKS`]).
    restored_sinks: BTreeMap<PathBuf, SinkState>,
    state: Mutex<State>,
    /// The control stream of a cluster (see `control.rs`).
    control: OnceLock<Control>,
    /// The thread writing the current checkpoint.
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The run is over (it failed): a checkpoint being written stops waiting for parts.
    cancelled: AtomicBool,
    /// Where a problem that fails the run goes.
    reporter: OnceLock<Reporter>,
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
        f.debug_struct("Coordinator")
            .field("dir", &self.store.dir())
            .field("workers", &self.workers)
            .field("process", &self.process)
            .field("processes", &self.processes)
            .finish()
    }
}

impl Coordinator {
    /// Opens the store of `settings` for process `process` of `processes`, each of
    /// `workers` worker threads, discards its checkpoints if asked to start over (process
    /// 0; the others then restore nothing), and loads the newest intact checkpoint, saying
    /// on standard error which (and which it skipped).
    pub(crate) fn open(
        settings: RunCheckpoints,
        workers: usize,
        (process, processes): (usize, usize),
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CheckpointError> {
        let job = Job::new(settings.fingerprint.clone(), workers).cluster(processes, process);
        let store = settings.config.open(job)?;
        if settings.fresh && process == 0 {
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
        let latest = if settings.fresh { None } else { Some(store.latest()?) };
        let verbose = !settings.quiet && process == 0;
        for skipped in latest.iter().flat_map(|l| l.skipped()) {
            if verbose {
                tracing::warn!("{skipped}");
            }
        }
        let mut restored: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        let mut restored_from = None;
        if let Some(checkpoint) = latest.as_ref().and_then(|l| l.checkpoint()) {
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
            if verbose {
                tracing::info!(
                    checkpoint = checkpoint.id(),
                    dir = %store.dir().display(),
                    "resuming from checkpoint {} in `{}` (cut at watermark {} ms, written by {} worker(s){})",
                    checkpoint.id(),
                    store.dir().display(),
                    checkpoint.cut().watermark(),
                    checkpoint.workers(),
                    match checkpoint.processes() {
                        1 => String::new(),
                        p => format!(" in {p} processes"),
                    }
                );
            }
        }
        let restored_sinks = restored_sinks(&restored).map_err(|(step, reason)| CheckpointError::Unreadable {
            checkpoint: restored_from.map_or(0, |(id, _)| id),
            path: store.dir().to_path_buf(),
            reason: format!("the state of `{step}` cannot be read ({reason})"),
        })?;
        Ok(Coordinator {
            store,
            settings,
            clock,
            workers,
            process,
            processes,
            restored,
            restored_from,
            restored_sinks,
            state: Mutex::default(),
            control: OnceLock::new(),
            writer: Mutex::new(None),
            cancelled: AtomicBool::new(false),
            reporter: OnceLock::new(),
            written: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_millis: AtomicU64::new(0),
            last_bytes: AtomicU64::new(0),
        })
    }

    /// Where problems that fail the run go (the pipeline's counters).
    pub(crate) fn set_reporter(&self, report: impl Fn(String) + Send + Sync + 'static) {
        let _ = self.reporter.set(Box::new(report));
    }

    fn report(&self, problem: String) {
        match self.reporter.get() {
            Some(r) => r(problem),
            None => tracing::error!("{problem}"),
        }
    }

    /// The output files of the restored checkpoint, each with its length at the cut: a
    /// restored run cuts each back to it before any process writes (see [`KEPT_SINKS`]).
    pub(crate) fn restored_sinks(&self) -> impl Iterator<Item = &SinkState> {
        self.restored_sinks.values()
    }

    /// A cluster is connected: starts the control stream over `peers` (process 0: every
    /// other process; another: process 0) and says which checkpoint this process restored.
    pub(crate) fn connect(self: &Arc<Self>, peers: Vec<ControlPeer>) -> Result<(), String> {
        let me = Arc::downgrade(self);
        let on_message: Arc<dyn Fn(usize, Message) + Send + Sync> = Arc::new(move |from, message| {
            if let Some(me) = me.upgrade() {
                me.on_message(from, message);
            }
        });
        let control = Control::start(peers, on_message)
            .map_err(|e| format!("cannot start the checkpoints' control connections: {e}"))?;
        if self.process != 0 {
            control.send(0, &Message::Hello { restored: self.restored_from.map(|(id, _)| id) });
        }
        let _ = self.control.set(control);
        Ok(())
    }

    fn send(&self, to: usize, message: &Message) {
        if let Some(c) = self.control.get() {
            c.send(to, message);
        }
    }

    fn broadcast(&self, message: &Message) {
        if let Some(c) = self.control.get() {
            c.broadcast(message);
        }
    }

    /// A message of the control stream from process `from`.
    fn on_message(&self, from: usize, message: Message) {
        let mut state = self.state();
        match message {
            Message::Hello { restored } => {
                let mine = self.restored_from.map(|(id, _)| id);
                if restored != mine {
                    state.off = true;
                    drop(state);
                    let name =
                        |id: Option<u64>| id.map_or("no checkpoint".to_string(), |id| format!("checkpoint {id}"));
                    self.report(format!(
                        "process {from} restored {} from `{}`, process 0 {}: every process must restore the same checkpoint (was a process of the previous run still running, or is the directory not shared?); stop every process and start them all again",
                        name(restored),
                        self.store.dir().display(),
                        name(mine)
                    ));
                }
            }
            Message::Due => {
                if self.process == 0 && !state.off && state.built >= self.workers && matches!(state.phase, Phase::Idle)
                {
                    let now = self.clock.now();
                    if state.next_at.is_none_or(|at| now >= at) {
                        self.begin(&mut state);
                    }
                }
            }
            Message::Ask { id } => match state.phase {
                Phase::Idle => self.asked(&mut state, id),
                _ => state.queued = Some(id),
            },
            Message::Report { id, highest } => {
                if let Phase::Asking { id: at, remote, .. } = &mut state.phase {
                    if *at == id {
                        remote.insert(from, highest);
                    }
                }
                self.advance(&mut state);
            }
            Message::Cut { id, cut } => {
                if let Phase::Asking { id: at, .. } = &state.phase {
                    if *at == id && !state.off {
                        let pieces = finished_pieces(&state);
                        state.phase = Phase::Cutting { id, cut, pieces };
                    }
                }
            }
            Message::Done => {
                state.peers_done.insert(from);
            }
            Message::Off => {
                let was_on = !state.off;
                self.switch_off(&mut state);
                if self.process == 0 && was_on {
                    self.broadcast(&Message::Off);
                }
            }
        }
    }

    /// The sources of this process stopped before their input ended (the run failed, or
    /// was asked to stop): no more checkpoints in this run, here or in the other
    /// processes, whose sources would otherwise wait for a report that never comes.
    pub(crate) fn stop(&self) {
        let mut state = self.state();
        if state.off {
            return;
        }
        self.switch_off(&mut state);
        match self.process {
            0 => self.broadcast(&Message::Off),
            _ => self.send(0, &Message::Off),
        }
    }

    /// No more checkpoints: a cut not yet picked or not yet saved is dropped (a checkpoint
    /// being written is finished).
    fn switch_off(&self, state: &mut State) {
        state.off = true;
        if matches!(state.phase, Phase::Asking { .. } | Phase::Cutting { .. }) {
            state.phase = Phase::Idle;
        }
    }

    /// Process 0 (or a single process) begins a checkpoint: a new id, the sources asked.
    fn begin(&self, state: &mut State) {
        let id = self.store.next_id().unwrap_or(0).max(state.last_id + 1);
        state.last_id = id;
        self.broadcast(&Message::Ask { id });
        self.asked(state, id);
    }

    /// Checkpoint `id` begins here: the sources are asked.
    fn asked(&self, state: &mut State, id: u64) {
        if state.off {
            return;
        }
        state.phase = Phase::Asking { id, reports: BTreeMap::new(), local: None, remote: BTreeMap::new() };
        state.asked_at = Some(self.clock.now());
        self.advance(state);
    }

    /// Moves a checkpoint being asked for on: once every local source has reported, a
    /// process other than 0 reports to process 0; once every process has, process 0 (or a
    /// single process) picks the cut.
    fn advance(&self, state: &mut State) {
        if state.off {
            return;
        }
        let built = state.built >= self.workers;
        let sources: Vec<Who> = state.steps.iter().filter(|(_, s)| **s).map(|(w, _)| w.clone()).collect();
        let finished: Vec<(Who, i64)> = state.finished.iter().map(|(w, (top, _))| (w.clone(), *top)).collect();
        let Phase::Asking { id, reports, local, remote } = &mut state.phase else { return };
        let id = *id;
        if local.is_none() && built {
            for (w, top) in finished {
                reports.insert(w, top);
            }
            if sources.iter().all(|s| reports.contains_key(s)) {
                let highest = reports.values().copied().max().unwrap_or(i64::MIN);
                *local = Some(highest);
                if self.process != 0 {
                    self.send(0, &Message::Report { id, highest });
                }
            }
        }
        if self.process != 0 {
            return;
        }
        let Some(local) = *local else { return };
        if remote.len() + 1 < self.processes {
            return;
        }
        let highest = remote.values().copied().chain([local]).max().unwrap_or(i64::MIN);
        let cut = Time::new(highest.saturating_add(1), 0);
        let pieces = finished_pieces(state);
        state.phase = Phase::Cutting { id, cut, pieces };
        self.broadcast(&Message::Cut { id, cut });
    }

    /// The run is over: waits for the checkpoint being written (if the run failed, it
    /// stops waiting for other processes' parts), then tells process 0 so.
    pub(crate) fn finish(&self, succeeded: bool) {
        if !succeeded {
            self.cancelled.store(true, Ordering::SeqCst);
        }
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = writer {
            let _ = w.join();
        }
        if self.process != 0 {
            self.send(0, &Message::Done);
        }
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
    /// (The file sinks are not: their files are the fingerprint's, and another process
    /// count writes other files, `KEPT_SINKS`.)
    pub(crate) fn built(&self) -> Result<(), String> {
        let mut state = self.state();
        state.built += 1;
        if state.built < self.workers {
            return Ok(());
        }
        self.advance(&mut state);
        if self.restored_from.is_none() {
            return Ok(());
        }
        let kept = |s: &&str| !s.starts_with("sink:") && *s != KEPT_SINKS;
        let now: BTreeSet<String> = state.steps.keys().map(|(_, s)| s.clone()).collect();
        let now: BTreeSet<&str> = now.iter().map(String::as_str).filter(kept).collect();
        let then: BTreeSet<&str> = self.restored.keys().map(String::as_str).filter(kept).collect();
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

    /// Whether a checkpoint is due (processing time): the interval since the last one has
    /// passed. The first call starts the interval.
    fn due(&self, state: &mut State, now: i64) -> bool {
        let interval = i64::try_from(self.settings.interval.as_millis()).unwrap_or(i64::MAX);
        match state.next_at {
            None => {
                state.next_at = Some(now.saturating_add(interval));
                false
            }
            Some(at) => now >= at,
        }
    }

    /// A source's turn: whether it reads on (and owes positions at a cut) or waits while
    /// a cut is picked. `top` is the highest watermark it has stamped.
    pub(crate) fn source_turn(&self, worker: usize, step: &str, top: i64) -> Turn {
        let mut state = self.state();
        if state.off || state.built < self.workers {
            return Turn::Read(None);
        }
        if let Phase::Idle = state.phase {
            let now = self.clock.now();
            if !self.due(&mut state, now) {
                return Turn::Read(None);
            }
            if self.process != 0 {
                // Process 0 begins checkpoints; its sources may have finished.
                if state.due_sent_at.is_none_or(|at| now >= at.saturating_add(DUE_EVERY_MS)) {
                    state.due_sent_at = Some(now);
                    self.send(0, &Message::Due);
                }
                return Turn::Read(None);
            }
            self.begin(&mut state);
        }
        let who = (worker, step.to_string());
        if let Phase::Asking { reports, local: None, .. } = &mut state.phase {
            reports.insert(who.clone(), top);
            self.advance(&mut state);
        }
        match &state.phase {
            Phase::Asking { .. } => Turn::Wait,
            Phase::Cutting { cut, pieces, .. } => Turn::Read((!pieces.contains_key(&who)).then_some(*cut)),
            Phase::Idle | Phase::Writing => Turn::Read(None),
        }
    }

    /// A source has finished: `top` is its last report and `piece` its state at every
    /// later cut.
    pub(crate) fn source_finished(&self, worker: usize, step: &str, top: i64, piece: Vec<u8>) {
        let mut state = self.state();
        state.finished.insert((worker, step.to_string()), (top, piece));
        self.advance(&mut state);
    }

    /// The cut `step` of `worker` owes its state at.
    pub(crate) fn pending(&self, worker: usize, step: &str) -> Option<Time> {
        let state = self.state();
        match &state.phase {
            Phase::Cutting { cut, pieces, .. } if !pieces.contains_key(&(worker, step.to_string())) => Some(*cut),
            _ => None,
        }
    }

    /// `step` of `worker` saves its state at `cut`. Once every step of this process has,
    /// a thread of its own writes the checkpoint (a failure is a warning: the job goes
    /// on) and the next interval begins.
    pub(crate) fn save(self: &Arc<Self>, worker: usize, step: &str, cut: Time, piece: Vec<u8>) {
        let (id, pieces, journals) = {
            let mut state = self.state();
            let State { phase, steps, .. } = &mut *state;
            let Phase::Cutting { id, cut: at, pieces } = phase else { return };
            if *at != cut {
                return;
            }
            pieces.insert((worker, step.to_string()), piece);
            if !steps.keys().all(|w| pieces.contains_key(w)) {
                return;
            }
            let (id, pieces) = (*id, std::mem::take(pieces));
            state.phase = Phase::Writing;
            (id, pieces, std::mem::take(&mut state.journals_at_cut))
        };
        let me = self.clone();
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(previous) = writer.take() {
            // It has set the phase back to idle: it is ending.
            let _ = previous.join();
        }
        let spawned = std::thread::Builder::new()
            .name("highwater:checkpoint".into())
            .spawn(move || me.written_at(id, cut, pieces, journals));
        match spawned {
            Ok(handle) => *writer = Some(handle),
            Err(e) => {
                drop(writer);
                self.report(format!("cannot start the thread that writes checkpoints: {e}"));
                let mut state = self.state();
                state.off = true;
                state.phase = Phase::Idle;
            }
        }
    }

    /// Writes checkpoint `id` and begins the next interval (the writing thread).
    fn written_at(&self, id: u64, cut: Time, pieces: BTreeMap<Who, Vec<u8>>, journals: BTreeSet<PathBuf>) {
        let result = self.write(id, cut, pieces);
        let mut state = self.state();
        state.phase = Phase::Idle;
        let interval = i64::try_from(self.settings.interval.as_millis()).unwrap_or(i64::MAX);
        let now = self.clock.now();
        state.next_at = Some(now.saturating_add(interval));
        let took = state.asked_at.take().map_or(0, |at| now.saturating_sub(at).max(0) as u64);
        if let Some(next) = state.queued.take() {
            self.asked(&mut state, next);
        }
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
            Err(_) if self.cancelled.load(Ordering::SeqCst) => {}
            Err(CheckpointError::CommitTimeout { .. }) if self.peers_gone() => {
                // The run ended before every process saved at this cut: nothing is lost,
                // the previous checkpoint stands.
            }
            Err(e) => {
                if self.verbose() {
                    tracing::warn!(error = %e, "{e}; the job goes on, the next checkpoint is due in one interval");
                }
            }
        }
    }

    /// Whether every other process's run is over (process 0 then waits for no part).
    fn peers_gone(&self) -> bool {
        self.state().peers_done.len() + 1 >= self.processes
    }

    /// Writes checkpoint `id` at `cut`: each worker's file holds its steps' state by name
    /// (process 0's first also the output files kept from the restored checkpoint); then
    /// this process's part, and in process 0 the manifest once every part is there.
    fn write(&self, id: u64, cut: Time, pieces: BTreeMap<Who, Vec<u8>>) -> Result<(u64, u64), CheckpointError> {
        let first = self.process * self.workers;
        let mut files: Vec<BTreeMap<String, Vec<u8>>> = vec![BTreeMap::new(); self.workers];
        let mut written: BTreeSet<PathBuf> = BTreeSet::new();
        for ((worker, step), piece) in pieces {
            if step.starts_with("sink:") {
                if let Ok(s) = bincode::deserialize::<SinkState>(&piece) {
                    written.insert(s.path);
                }
            }
            if let Some(f) = worker.checked_sub(first).and_then(|w| files.get_mut(w)) {
                f.insert(step, piece);
            }
        }
        let serialize = |action, e: bincode::Error| CheckpointError::Write {
            checkpoint: id,
            path: self.store.dir().to_path_buf(),
            action,
            source: std::io::Error::other(e),
        };
        if self.process == 0 {
            let kept: Vec<&SinkState> = self.restored_sinks.values().filter(|s| !written.contains(&s.path)).collect();
            if !kept.is_empty() {
                let bytes = bincode::serialize(&kept).map_err(|e| serialize("serialize", e))?;
                if let Some(f) = files.first_mut() {
                    f.insert(KEPT_SINKS.to_string(), bytes);
                }
            }
        }
        // The output files hold their rows up to the cut in the operating system (the sinks
        // flushed them); on disk before the checkpoint names their lengths.
        for path in &written {
            let synced = std::fs::File::open(path).and_then(|f| f.sync_data());
            synced.map_err(|source| CheckpointError::Write {
                checkpoint: id,
                path: path.clone(),
                action: "fsync the output file",
                source,
            })?;
        }
        let pending = self.store.begin(id, cut)?;
        let mut total = 0;
        for (i, steps) in files.iter().enumerate() {
            let bytes = bincode::serialize(steps).map_err(|e| serialize("serialize", e))?;
            total += bytes.len() as u64;
            pending.write(first + i, &bytes)?;
        }
        pending.commit_until(&|| self.cancelled.load(Ordering::SeqCst) || self.peers_gone())?;
        Ok((id, total))
    }
}

/// The pieces of the finished sources, for a new cut.
fn finished_pieces(state: &State) -> BTreeMap<Who, Vec<u8>> {
    state.finished.iter().map(|(w, (_, piece))| (w.clone(), piece.clone())).collect()
}

/// The output files of a restored checkpoint: each file sink's state, and the files kept
/// from an earlier checkpoint (a file sink's own state wins: it is newer). An unreadable
/// state is the step's name and why.
fn restored_sinks(restored: &BTreeMap<String, Vec<Vec<u8>>>) -> Result<BTreeMap<PathBuf, SinkState>, (String, String)> {
    let mut sinks = BTreeMap::new();
    for piece in restored.get(KEPT_SINKS).into_iter().flatten() {
        let kept: Vec<SinkState> = bincode::deserialize(piece).map_err(|e| (KEPT_SINKS.to_string(), e.to_string()))?;
        sinks.extend(kept.into_iter().map(|s| (s.path.clone(), s)));
    }
    for (step, pieces) in restored.iter().filter(|(s, _)| s.starts_with("sink:")) {
        for piece in pieces {
            let s: SinkState = bincode::deserialize(piece).map_err(|e| (step.clone(), e.to_string()))?;
            sinks.insert(s.path.clone(), s);
        }
    }
    Ok(sinks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::checkpoint::CheckpointConfig;
    use highwater_operators::clock::VirtualClock;
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    /// Calls `f` until it returns true (the control stream is asynchronous), at most 10 s.
    fn eventually(mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < deadline, "never happened");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Two processes of one worker each, in this process, their coordinators joined by a
    /// loopback control connection: process 0 asks, both sources report (100 and 500), the
    /// cut is one past the higher for both, and one checkpoint holds both workers' state.
    /// Then process 1's sources stop early: no process takes another checkpoint.
    #[test]
    fn two_processes_cut_at_one_past_the_highest_report_of_both_into_one_checkpoint() {
        let dir = std::env::temp_dir().join(format!("hw-coordinator-two-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let clock = Arc::new(VirtualClock::new(0));
        let settings = RunCheckpoints::new(CheckpointConfig::new(&dir)).interval(Duration::from_millis(10)).quiet();
        let p0 = Arc::new(Coordinator::open(settings.clone(), 1, (0, 2), clock.clone()).expect("process 0"));
        let p1 = Arc::new(Coordinator::open(settings, 1, (1, 2), clock.clone()).expect("process 1"));
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (b, _) = l.accept().expect("accept");
        p0.connect(vec![ControlPeer { process: 1, tcp: b }]).expect("process 0 connects");
        p1.connect(vec![ControlPeer { process: 0, tcp: a }]).expect("process 1 connects");
        for (k, w) in [(&p0, 0), (&p1, 1)] {
            k.register(w, "in", true);
            k.register(w, "agg", false);
            k.built().expect("built");
        }
        // The first turns start the interval; once it has passed, process 0 asks.
        assert_eq!(p0.source_turn(0, "in", 100), Turn::Read(None));
        assert_eq!(p1.source_turn(1, "in", 500), Turn::Read(None));
        clock.set(20);
        assert_eq!(p0.source_turn(0, "in", 100), Turn::Wait);
        let cut = Time::new(501, 0);
        eventually(|| p1.source_turn(1, "in", 500) != Turn::Read(None));
        eventually(|| p1.source_turn(1, "in", 500) == Turn::Read(Some(cut)));
        eventually(|| p0.source_turn(0, "in", 100) == Turn::Read(Some(cut)));
        for (k, w) in [(&p0, 0), (&p1, 1)] {
            assert_eq!(k.pending(w, "agg"), Some(cut));
            k.save(w, "in", cut, format!("in of worker {w}").into_bytes());
            k.save(w, "agg", cut, format!("agg of worker {w}").into_bytes());
        }
        p1.finish(true);
        eventually(|| p0.written().0 == 1);
        // Process 1's sources stop before their input ends: process 0 takes no more.
        p1.stop();
        eventually(|| p0.state().off);
        clock.set(1_000);
        assert_eq!(p0.source_turn(0, "in", 900), Turn::Read(None));
        p0.finish(true);
        drop((p0, p1));

        // The control connection's threads hold the coordinators (and process 0's lock
        // on the directory) until they see the connection end.
        let mut store = None;
        eventually(|| {
            store = CheckpointConfig::new(&dir).open(Job::new("pipeline", 1)).ok();
            store.is_some()
        });
        let store = store.expect("reopened");
        let latest = store.latest().expect("latest");
        let checkpoint = latest.checkpoint().expect("one checkpoint");
        assert_eq!((checkpoint.cut(), checkpoint.workers(), checkpoint.processes()), (cut, 2, 2));
        for w in 0..2 {
            let steps: BTreeMap<String, Vec<u8>> =
                bincode::deserialize(&checkpoint.read_worker(w).expect("read")).expect("decode");
            assert_eq!(steps["agg"], format!("agg of worker {w}").into_bytes());
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
