//! The live counters of a run: records read, dead letters by kind, bytes, partitions
//! done, the sources' watermark — what a progress bar or a summary shows while the
//! pipeline runs.

use crate::dead_letter::DeadLetterKind;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Counters shared by every worker of a run in this process. Get it from
/// [`crate::pipeline::RunConfig::progress`] before the run, read it while it runs (from
/// another thread) or after.
///
/// ```
/// use highwater::pipeline::{run, Memory, RunConfig};
/// use highwater::model::watermark::WatermarkStrategy;
/// let config = RunConfig::workers(2);
/// let progress = config.progress();
/// run(config, |p| {
///     p.read("numbers", Memory::new(vec![vec![(1, 1u64), (2, 2)], vec![(3, 3)]], WatermarkStrategy::Ascending))?;
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!((progress.records(), progress.partitions_done()), (3, 2));
/// ```
#[derive(Debug, Default)]
pub struct Progress {
    records: AtomicU64,
    dead: [AtomicU64; KINDS],
    bytes: AtomicU64,
    partitions_done: AtomicU64,
    /// Each worker's least stamp still to come from its sources, while it reads.
    watermarks: Mutex<BTreeMap<usize, i64>>,
    /// The run failed (a source that cannot be read, an output that cannot be written):
    /// sources stop reading and sinks stop writing.
    failed: AtomicBool,
    /// Asked to stop (a signal): sources stop reading, what was read is flushed.
    stopping: AtomicBool,
    /// The cells of the run's steps and sources (`runtime::metrics`).
    metrics: super::metrics::Metrics,
}

const KINDS: usize = 6;

fn kind_index(kind: DeadLetterKind) -> usize {
    match kind {
        DeadLetterKind::Malformed => 0,
        DeadLetterKind::TooLong => 1,
        DeadLetterKind::Disconnect => 2,
        DeadLetterKind::TooLate => 3,
        DeadLetterKind::WindowClosed => 4,
        DeadLetterKind::Refused => 5,
    }
}

impl Progress {
    /// Records read by the sources so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }
    /// Dead letters of every kind so far.
    pub fn dead_letters(&self) -> u64 {
        self.dead.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
    /// Dead letters of one kind so far.
    pub fn dead_letters_of(&self, kind: DeadLetterKind) -> u64 {
        self.dead[kind_index(kind)].load(Ordering::Relaxed)
    }
    /// Dead letters of the sources (malformed, over-long, cut by a disconnect).
    pub fn bad_input(&self) -> u64 {
        [DeadLetterKind::Malformed, DeadLetterKind::TooLong, DeadLetterKind::Disconnect]
            .into_iter()
            .map(|k| self.dead_letters_of(k))
            .sum()
    }
    /// Dead letters of the windowed steps (too late, closed window).
    pub fn late(&self) -> u64 {
        self.dead_letters_of(DeadLetterKind::TooLate) + self.dead_letters_of(DeadLetterKind::WindowClosed)
    }
    /// Bytes read by the file sources (decompressed).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// Partitions (files, byte ranges, connections) read to their end.
    pub fn partitions_done(&self) -> u64 {
        self.partitions_done.load(Ordering::Relaxed)
    }
    /// The sources' watermark: the least over the workers still reading (`None` before
    /// any has read, or once all are done).
    pub fn watermark(&self) -> Option<i64> {
        self.watermarks.lock().unwrap_or_else(|e| e.into_inner()).values().min().copied()
    }
    /// What the run is doing now: each source with its open partitions (watermark,
    /// silence, records, dead letters), each windowed step (panes, dropped records, output
    /// watermark, open windows, keys), the last checkpoint — and, through
    /// [`Status::holding_back`](super::metrics::Status::holding_back), the partition that
    /// holds the watermark back. Cheap enough to call every second from another thread.
    ///
    /// ```
    /// use highwater::model::combine::Count;
    /// use highwater::pipeline::{run, Memory, RunConfig, Windowing};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// use std::time::Duration;
    /// let config = RunConfig::workers(2);
    /// let progress = config.progress();
    /// run(config, |p| {
    ///     let src = Memory::new(vec![vec![(1, 1u64), (2, 1), (15, 2)]], WatermarkStrategy::Ascending);
    ///     p.read("numbers", src)?
    ///         .key_by(|n: &u64| *n)
    ///         .window(Windowing::fixed(Duration::from_millis(10)))
    ///         .count("counts")?;
    ///     Ok(())
    /// })
    /// .unwrap();
    /// let status = progress.status();
    /// let (source, step) = (&status.sources[0], &status.steps[0]);
    /// assert_eq!((source.name.as_str(), source.records, source.last_watermark), ("numbers", 3, Some(14)));
    /// assert_eq!((step.name.as_str(), step.panes_on_time, step.output_watermark), ("counts", 2, Some(i64::MAX)));
    /// ```
    pub fn status(&self) -> super::metrics::Status {
        super::metrics::Status::of(self, &self.metrics)
    }
    /// Where the run's metrics endpoint listens, while it runs
    /// ([`crate::pipeline::RunConfig::metrics_addr`]; with port 0, the port picked).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.address()
    }
    pub(crate) fn metrics(&self) -> &super::metrics::Metrics {
        &self.metrics
    }
    /// Whether the run has failed.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
    /// Asks the sources to stop reading: the pipeline then ends as if its inputs ended
    /// there (every open window fires), and [`crate::pipeline::run`] reports that it was
    /// stopped. Call it from a signal handler's thread, or a test.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }
    /// Whether [`Progress::stop`] was called.
    pub fn stopped(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub(crate) fn add_records(&self, n: u64) {
        self.records.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_dead(&self, kind: DeadLetterKind) {
        self.dead[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn partition_done(&self) {
        self.partitions_done.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn fail(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }
    /// Sources stop reading: the run failed or was asked to stop.
    pub(crate) fn halted(&self) -> bool {
        self.failed() || self.stopped()
    }
    pub(crate) fn publish_watermark(&self, worker: usize, watermark: Option<i64>) {
        let mut w = self.watermarks.lock().unwrap_or_else(|e| e.into_inner());
        match watermark {
            Some(wm) => w.insert(worker, wm),
            None => w.remove(&worker),
        };
    }
}

/// Counters of a run, summed over the workers of this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Records read by the sources.
    pub records_read: u64,
    /// Dead letters (malformed input, too-late or closed-window elements).
    pub dead_letters: u64,
    /// Checkpoints written (with [`crate::pipeline::RunConfig::checkpoints`]).
    pub checkpoints: u64,
    /// Their bytes, over all workers and checkpoints.
    pub checkpoint_bytes: u64,
    /// The checkpoint the run restored at start, if any.
    pub restored_from: Option<u64>,
}
