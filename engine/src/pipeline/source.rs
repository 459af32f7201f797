//! Sources: logical partitions read in batches, each with its own watermark.
//!
//! A [`Source`] lists its partitions; partition `p` belongs to worker `p % peers`. The
//! source operator reads each partition in batches, stamps a batch's records with the
//! partition's watermark *before* the batch (then advances it from what the batch showed),
//! and keeps the worker's capability at the minimum over its unfinished partitions.
//! Batch boundaries depend only on the partition, so stamps — and outputs — do not depend
//! on the worker count.
//!
//! **Live sources** (TCP connections) differ in three ways, all expressed here:
//!
//! - a partition may have nothing *yet*: its [`Batch`] is [`Batch::pending`], and the
//!   operator stops reading it until the partition's [`Waker`] wakes the operator (from a
//!   reader thread: the operator never blocks) or until the next tick period;
//! - partitions arrive while the pipeline runs ([`Live::arrivals`], one per accepted
//!   connection), each starting at the source's current watermark;
//! - processing time advances the stamps' `tick` every [`Live::tick_every`] even when no
//!   data comes, and a partition silent for [`Live::idle_timeout`] stops holding the
//!   watermark back.

use super::dead_letter::DeadLetter;
use highwater_operators::watermark::WatermarkStrategy;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use timely::scheduling::SyncActivator;

/// What one read of a partition produced.
#[derive(Debug)]
pub struct Batch<T> {
    /// Records with their event times.
    pub records: Vec<(i64, T)>,
    /// Lines that could not be read.
    pub dead: Vec<DeadLetter>,
    /// Watermarks carried by the data (punctuated strategies).
    pub punctuation: Option<i64>,
    /// The partition has nothing more.
    pub done: bool,
    /// The partition failed (a file that cannot be opened or read to its end): the job
    /// fails with this message, naming the partition and what to do. The partition is
    /// done.
    pub error: Option<String>,
    /// The partition has nothing more *now* but is not done (a live connection with no
    /// data queued): the operator reads it again when the partition's [`Waker`] is woken,
    /// or at the next tick period. Ignored when `done`.
    pub pending: bool,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch { records: Vec::new(), dead: Vec::new(), punctuation: None, done: false, pending: false, error: None }
    }
}

impl<T> Batch<T> {
    /// An empty batch of a partition that has nothing now but is not done.
    ///
    /// ```
    /// use highwater::pipeline::Batch;
    /// let b: Batch<u64> = Batch::pending();
    /// assert!(b.pending && !b.done && b.records.is_empty());
    /// ```
    pub fn pending() -> Self {
        Batch { pending: true, ..Batch::default() }
    }
    /// Whether the batch carries nothing at all (no record, dead letter or watermark).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.dead.is_empty() && self.punctuation.is_none()
    }
}

/// One logical partition of a source: a file, a byte range, a connection, a generator
/// slice.
pub trait Partition<T>: Send {
    /// Reads up to `max` lines (records and dead letters together: a file of bad lines is
    /// read in bounded batches too). Never blocks: a partition with nothing now returns a
    /// [`Batch::pending`] batch.
    fn read(&mut self, max: usize) -> Batch<T>;
    /// A name for errors and dead letters.
    fn name(&self) -> String;
    /// For a partition that starts in the middle of a stream (a byte range after a file's
    /// first): the event time of its first good record within `max` lines, so that its
    /// watermark starts where reading the stream from the beginning would have put it.
    /// `None` (the default): the watermark starts at −∞.
    fn first_event_time(&mut self, _max: usize) -> Option<i64> {
        None
    }
    /// Bytes consumed so far (of the decompressed data), for progress reports.
    fn position(&self) -> u64 {
        0
    }
}

/// Wakes a source operator from another thread: a reader thread wakes it after queuing
/// data, a listener after accepting a connection. Cheap to call often: only the first
/// wake after the operator last ran sends an activation (timely's thread-safe
/// [`SyncActivator`]).
#[derive(Clone, Debug)]
pub struct Waker {
    activator: Option<SyncActivator>,
    armed: Arc<AtomicBool>,
    alive: std::sync::Weak<()>,
}

impl Waker {
    pub(crate) fn new(activator: SyncActivator, alive: &Arc<()>) -> Self {
        Waker { activator: Some(activator), armed: Arc::new(AtomicBool::new(false)), alive: Arc::downgrade(alive) }
    }
    /// A waker that wakes nothing and whose operator is gone (unit tests of partitions).
    pub fn detached() -> Self {
        Waker { activator: None, armed: Arc::new(AtomicBool::new(false)), alive: std::sync::Weak::new() }
    }
    /// A waker whose operator is alive while `alive` is, and that activates nothing.
    #[cfg(test)]
    pub(crate) fn for_tests(alive: &Arc<()>) -> Self {
        Waker { activator: None, armed: Arc::new(AtomicBool::new(false)), alive: Arc::downgrade(alive) }
    }
    /// Schedules the operator. Returns `false` when the operator is gone (the pipeline
    /// ended): a reader thread then stops.
    pub fn wake(&self) -> bool {
        if !self.is_alive() {
            return false;
        }
        if !self.armed.swap(true, Ordering::AcqRel) {
            if let Some(a) = &self.activator {
                return a.activate().is_ok();
            }
        }
        true
    }
    /// Whether the operator still runs.
    pub fn is_alive(&self) -> bool {
        self.alive.strong_count() > 0
    }
    /// Called by the operator as it starts to read: the next wake activates it again.
    /// Returns whether it was woken since it last read.
    pub(crate) fn rearm(&self) -> bool {
        self.armed.swap(false, Ordering::AcqRel)
    }
}

/// What a live source adds to its fixed partitions: the partitions that arrive while the
/// pipeline runs, and how processing time moves its stamps.
pub struct Live<T> {
    /// Partitions as they arrive (accepted connections). When every sender is dropped no
    /// more will come, and the source ends once its partitions are done.
    pub arrivals: std::sync::mpsc::Receiver<Box<dyn Partition<T>>>,
    /// How often the `tick` of the stamps advances when no data comes, so that
    /// processing-time triggers and downstream consumers make progress.
    pub tick_every: Duration,
    /// After this long (processing time) without data, a partition stops holding the
    /// watermark back; it holds it again when data comes (stamped no lower than the
    /// watermark already passed, so its records may then be late).
    pub idle_timeout: Option<Duration>,
}

/// A source of records with event times.
pub trait Source<T>: Send + Sync {
    /// Opens the partitions assigned to `worker` of `peers` (partition `p` goes to
    /// `p % peers`). Errors name what could not be opened.
    fn open(&self, worker: usize, peers: usize) -> Result<Vec<Box<dyn Partition<T>>>, String>;
    /// The watermark strategy of every partition.
    fn watermark(&self) -> WatermarkStrategy;
    /// Records per batch (one watermark advance per batch).
    fn batch_size(&self) -> usize {
        10_000
    }
    /// Opens the live side of the source in `worker` (after [`Source::open`]): partitions
    /// that arrive while the pipeline runs. `waker` wakes this worker's source operator;
    /// hand it to the threads that feed the partitions. `None` (the default): the
    /// partitions of `open` are all there is.
    fn live(&self, worker: usize, peers: usize, waker: Waker) -> Result<Option<Live<T>>, String> {
        let _ = (worker, peers, waker);
        Ok(None)
    }
    /// Replay pacing: `Some(speedup)` releases each record no earlier than
    /// `(event time − first event time) / speedup` after the first record was released, by
    /// the pipeline's clock (`1.0`: the original speed). `None` (the default): as fast as
    /// possible.
    fn pacing(&self) -> Option<f64> {
        None
    }
}

/// Records held in memory, split into partitions: tests, examples, generated data.
///
/// ```
/// use highwater::pipeline::{Memory, Source};
/// use highwater::model::watermark::WatermarkStrategy;
/// let src = Memory::new(vec![vec![(1, "a"), (2, "b")], vec![(5, "c")]], WatermarkStrategy::Ascending);
/// assert_eq!(src.open(0, 2).unwrap().len(), 1);
/// ```
pub struct Memory<T> {
    partitions: Arc<Vec<Vec<(i64, T)>>>,
    strategy: WatermarkStrategy,
    batch: usize,
}

impl<T> Memory<T> {
    /// Partitions of `(event time, record)`.
    pub fn new(partitions: Vec<Vec<(i64, T)>>, strategy: WatermarkStrategy) -> Self {
        Memory { partitions: Arc::new(partitions), strategy, batch: 10_000 }
    }
    /// Records per batch.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }
}

struct MemoryPartition<T> {
    data: Arc<Vec<Vec<(i64, T)>>>,
    index: usize,
    pos: usize,
}

impl<T: Clone + Send + Sync> Partition<T> for MemoryPartition<T> {
    fn read(&mut self, max: usize) -> Batch<T> {
        let part = &self.data[self.index];
        let end = (self.pos + max).min(part.len());
        let records = part[self.pos..end].to_vec();
        self.pos = end;
        Batch { records, done: self.pos >= part.len(), ..Batch::default() }
    }
    fn name(&self) -> String {
        format!("memory[{}]", self.index)
    }
}

impl<T: Clone + Send + Sync + 'static> Source<T> for Memory<T> {
    fn open(&self, worker: usize, peers: usize) -> Result<Vec<Box<dyn Partition<T>>>, String> {
        Ok((0..self.partitions.len())
            .filter(|p| p % peers == worker)
            .map(|index| {
                Box::new(MemoryPartition { data: self.partitions.clone(), index, pos: 0 }) as Box<dyn Partition<T>>
            })
            .collect())
    }
    fn watermark(&self) -> WatermarkStrategy {
        self.strategy
    }
    fn batch_size(&self) -> usize {
        self.batch
    }
}

/// Records generated from their sequence number: `generate(n)` for `n` in `0..count`,
/// split into `partitions` contiguous slices (the Nexmark generator is one).
pub struct Generated<T> {
    count: u64,
    partitions: u64,
    generate: Arc<dyn Fn(u64) -> (i64, T) + Send + Sync>,
    strategy: WatermarkStrategy,
    batch: usize,
}

impl<T> Generated<T> {
    /// `count` records from `generate`, in `partitions` slices.
    pub fn new(
        count: u64,
        partitions: u64,
        strategy: WatermarkStrategy,
        generate: impl Fn(u64) -> (i64, T) + Send + Sync + 'static,
    ) -> Self {
        Generated { count, partitions: partitions.max(1), generate: Arc::new(generate), strategy, batch: 10_000 }
    }
    /// Records per batch.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }
}

struct GeneratedPartition<T> {
    generate: Arc<dyn Fn(u64) -> (i64, T) + Send + Sync>,
    next: u64,
    end: u64,
    index: u64,
}

impl<T: Send> Partition<T> for GeneratedPartition<T> {
    fn read(&mut self, max: usize) -> Batch<T> {
        let end = (self.next + max as u64).min(self.end);
        let records = (self.next..end).map(|n| (self.generate)(n)).collect();
        self.next = end;
        Batch { records, done: self.next >= self.end, ..Batch::default() }
    }
    fn name(&self) -> String {
        format!("generated[{}]", self.index)
    }
}

impl<T: Send + 'static> Source<T> for Generated<T> {
    fn open(&self, worker: usize, peers: usize) -> Result<Vec<Box<dyn Partition<T>>>, String> {
        let per = self.count.div_ceil(self.partitions);
        Ok((0..self.partitions)
            .filter(|p| (*p as usize) % peers == worker)
            .map(|p| {
                let start = (p * per).min(self.count);
                let end = ((p + 1) * per).min(self.count);
                Box::new(GeneratedPartition { generate: self.generate.clone(), next: start, end, index: p })
                    as Box<dyn Partition<T>>
            })
            .collect())
    }
    fn watermark(&self) -> WatermarkStrategy {
        self.strategy
    }
    fn batch_size(&self) -> usize {
        self.batch
    }
}
