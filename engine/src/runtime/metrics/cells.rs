//! The per-worker cells the steps write, and [`Metrics`], which lists them for a reader.

use highwater_operators::clock::{Clock, SystemClock};
use highwater_operators::operator::StepGauges;
use highwater_operators::pane::Timing;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How often a source refreshes its report (processing time): the metrics and the status
/// are this stale at most, while a source is read.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);

/// The output watermark of a step that has emitted nothing and passed nothing yet.
const NONE: i64 = i64::MIN;

/// One windowed step in one worker: written by that worker's operators only (relaxed
/// atomics, once per batch or activation), read by [`Metrics`].
#[derive(Debug, Default)]
pub(crate) struct StepCell {
    /// Panes emitted (retractions not counted), by timing: early, on time, late.
    panes: [AtomicU64; 3],
    /// Records dropped as too late or for a closed window.
    late_dropped: AtomicU64,
    /// The watermark of the step's output frontier (`NONE` before it moved).
    output_watermark: AtomicI64,
    /// The step's output frontier is empty: it has emitted everything.
    finished: AtomicBool,
    /// Open windows and keys with state, set by the windowed operator.
    pub(crate) gauges: Arc<StepGauges>,
}

impl StepCell {
    /// Adds the panes of one batch, counted by timing (`[early, on_time, late]`).
    pub(crate) fn add_panes(&self, counts: [u64; 3]) {
        for (cell, n) in self.panes.iter().zip(counts) {
            if n > 0 {
                cell.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
    /// The index of `timing` in [`StepCell::add_panes`]'s counts.
    pub(crate) fn timing_index(timing: Timing) -> usize {
        match timing {
            Timing::Early => 0,
            Timing::OnTime => 1,
            Timing::Late => 2,
        }
    }
    /// Adds `n` records dropped as too late or for a closed window.
    pub(crate) fn add_late_dropped(&self, n: u64) {
        self.late_dropped.fetch_add(n, Ordering::Relaxed);
    }
    /// Sets the step's output watermark (`None`: its output frontier is empty).
    pub(crate) fn set_output_watermark(&self, wm: Option<i64>) {
        match wm {
            Some(w) => self.output_watermark.store(w, Ordering::Relaxed),
            None => self.finished.store(true, Ordering::Relaxed),
        }
    }
}

/// One partition as its source reported it.
#[derive(Clone, Debug, Default)]
pub(crate) struct PartitionReport {
    /// What it is: file and byte range, or connection peer.
    pub(crate) name: String,
    /// Its watermark (`i64::MIN` before its first record).
    pub(crate) watermark: i64,
    /// Processing time of its last batch that carried something (ms).
    pub(crate) last_active: i64,
    /// It no longer holds the watermark back (silent past the idle timeout).
    pub(crate) idle: bool,
    /// Records and dead letters read from it.
    pub(crate) records: u64,
    pub(crate) dead: u64,
}

/// One source in one worker: its open partitions and what the finished ones read.
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceReport {
    pub(crate) partitions: Vec<PartitionReport>,
    /// Partitions finished, and the records and dead letters they read.
    pub(crate) done: u64,
    pub(crate) done_records: u64,
    pub(crate) done_dead: u64,
    /// The source's capability in this worker (`None`: done, or nothing to read).
    pub(crate) frontier: Option<i64>,
    /// The highest watermark it reached (what the end summary shows).
    pub(crate) last_watermark: Option<i64>,
}

/// One source in one worker: its report, refreshed every [`PUBLISH_EVERY`].
#[derive(Debug, Default)]
pub(crate) struct SourceCell {
    /// A live source (sockets): its lag is processing time minus its watermark.
    pub(crate) live: bool,
    pub(crate) report: Mutex<SourceReport>,
}

impl SourceCell {
    pub(crate) fn report(&self) -> MutexGuard<'_, SourceReport> {
        self.report.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The cells of every step and source of the run in this process, by name and worker;
/// the clock their times are read against. Held by [`crate::pipeline::Progress`]; read it
/// through [`crate::pipeline::Progress::status`].
#[derive(Default)]
pub struct Metrics {
    steps: Mutex<Vec<(String, usize, Arc<StepCell>)>>,
    sources: Mutex<Vec<(String, usize, Arc<SourceCell>)>>,
    clock: Mutex<Option<Arc<dyn Clock>>>,
    checkpoints: Mutex<Option<Arc<crate::runtime::checkpoint::coordinator::Coordinator>>>,
    /// Where the run's metrics endpoint listens.
    address: Mutex<Option<std::net::SocketAddr>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("steps", &lock(&self.steps).len())
            .field("sources", &lock(&self.sources).len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    /// The cell of step `name` in `worker` (made when the step is built).
    pub(crate) fn step(&self, name: &str, worker: usize) -> Arc<StepCell> {
        let cell = Arc::new(StepCell { output_watermark: AtomicI64::new(NONE), ..StepCell::default() });
        lock(&self.steps).push((name.to_string(), worker, cell.clone()));
        cell
    }
    /// The cell of source `name` in `worker` (made when the source is built).
    pub(crate) fn source(&self, name: &str, worker: usize, live: bool) -> Arc<SourceCell> {
        let cell = Arc::new(SourceCell { live, ..SourceCell::default() });
        lock(&self.sources).push((name.to_string(), worker, cell.clone()));
        cell
    }
    /// The run's clock (processing time), set when it starts.
    pub(crate) fn set_clock(&self, clock: Arc<dyn Clock>) {
        *lock(&self.clock) = Some(clock);
    }
    /// The run's checkpoints, for their duration and size.
    pub(crate) fn set_checkpoints(&self, c: Arc<crate::runtime::checkpoint::coordinator::Coordinator>) {
        *lock(&self.checkpoints) = Some(c);
    }
    /// Where the run's metrics endpoint listens (`None`: it has none, or it ended).
    pub(crate) fn set_address(&self, address: Option<std::net::SocketAddr>) {
        *lock(&self.address) = address;
    }
    pub(crate) fn address(&self) -> Option<std::net::SocketAddr> {
        *lock(&self.address)
    }
    /// Forgets the cells of a previous run with the same configuration.
    pub(crate) fn clear(&self) {
        lock(&self.steps).clear();
        lock(&self.sources).clear();
        *lock(&self.checkpoints) = None;
    }
    /// Processing time now, by the run's clock (the system clock before a run).
    pub(crate) fn now(&self) -> i64 {
        match lock(&self.clock).as_ref() {
            Some(c) => c.now(),
            None => SystemClock.now(),
        }
    }
    /// The last checkpoint's duration and bytes.
    pub(crate) fn last_checkpoint(&self) -> Option<(Duration, u64)> {
        lock(&self.checkpoints).as_ref().and_then(|c| c.last())
    }
    /// Every step's cells, by name, in the order the steps were built.
    pub(crate) fn steps(&self) -> Vec<(String, Vec<Arc<StepCell>>)> {
        group(&lock(&self.steps))
    }
    /// Every source's cells, by name, in the order the sources were built.
    pub(crate) fn sources(&self) -> Vec<(String, Vec<Arc<SourceCell>>)> {
        group(&lock(&self.sources))
    }
}

/// Read by a reader (not the hot path).
impl StepCell {
    pub(crate) fn panes(&self) -> [u64; 3] {
        [0, 1, 2].map(|i| self.panes[i].load(Ordering::Relaxed))
    }
    pub(crate) fn late_dropped(&self) -> u64 {
        self.late_dropped.load(Ordering::Relaxed)
    }
    /// `None` before the output frontier moved; `Some(i64::MAX)` once it is empty.
    pub(crate) fn output_watermark(&self) -> Option<i64> {
        if self.finished.load(Ordering::Relaxed) {
            return Some(i64::MAX);
        }
        Some(self.output_watermark.load(Ordering::Relaxed)).filter(|w| *w != NONE)
    }
}

fn group<C>(cells: &[(String, usize, Arc<C>)]) -> Vec<(String, Vec<Arc<C>>)> {
    let mut out: Vec<(String, Vec<Arc<C>>)> = Vec::new();
    for (name, _, cell) in cells {
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => v.push(cell.clone()),
            None => out.push((name.clone(), vec![cell.clone()])),
        }
    }
    out
}
