//! Sources: where records come from — logical partitions read in batches, each with its
//! own watermark.
//!
//! - [`Files`] (CSV, JSON lines, gzip, directories, globs, standard input) and [`Tcp`]
//!   (live connections) decode lines with a [`crate::format::Decoder`];
//! - [`Kafka`] reads topics: each topic-partition a partition, decoded by the same
//!   decoders;
//! - [`Memory`] and [`Generated`] hold or make records (tests, examples, Nexmark);
//! - a source of your own implements [`Source`] and [`Partition`].
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
//!   watermark back;
//! - with checkpoints, a live source is opened with [`Source::live_journaled`]: it journals
//!   what it accepts before it is read, gives its partitions stable numbers
//!   ([`Partition::checkpoint_index`]) and replays what a restored checkpoint has not
//!   covered ([`Journal`]).

mod files;
mod generated;
mod inputs;
pub mod kafka;
mod memory;
pub mod tcp;

pub use files::{Files, MAX_LINE};
pub use generated::Generated;
pub use inputs::{expand_inputs, expand_inputs_with, is_gzip, is_stdin, Format, InputError, STDIN};
pub use kafka::{Kafka, StartAt};
pub use memory::Memory;
pub use tcp::{socket_addresses, StopHandle, Tcp, TcpError};

use crate::dead_letter::DeadLetter;
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
    /// What the partition is, for a person looking at metrics or a stall warning: the
    /// file and byte range, the connection's peer. By default its [`Partition::name`].
    fn describe(&self) -> String {
        self.name()
    }
    /// For a partition that starts in the middle of a stream (a byte range after a file's
    /// first): the event time of its first good record within `max` lines, so that its
    /// watermark starts where reading the stream from the beginning would have put it.
    /// `None` (the default): the watermark starts at −∞.
    fn first_event_time(&mut self, _max: usize) -> Option<i64> {
        None
    }
    /// Bytes consumed so far (of the decompressed data), for progress reports and
    /// checkpoints.
    fn position(&self) -> u64 {
        0
    }
    /// Lines consumed so far (0 when the partition does not count them): where a
    /// checkpoint says the partition stands, with [`Partition::position`].
    fn line(&self) -> u64 {
        0
    }
    /// Moves a partition just opened to where `reads` reads of `max` lines left it, which
    /// was `bytes` bytes ([`Partition::position`]) and `line` lines ([`Partition::line`])
    /// in: a restored checkpoint's position. The default reads those batches again and
    /// drops them ([`replay_reads`]); an uncompressed file seeks instead.
    fn resume(&mut self, reads: u64, max: usize, bytes: u64, line: u64) -> Result<(), String> {
        let _ = (bytes, line);
        replay_reads(self, reads, max)
    }
    /// The partition's number in checkpoints when it is not its place among the source's
    /// partitions (`worker + j * peers` for the `j`-th [`Source::open`] gave `worker`): a
    /// journaled connection's number in accept order. `None` (the default): its place.
    fn checkpoint_index(&self) -> Option<usize> {
        None
    }
    /// Makes what the partition has read so far durable before a checkpoint records its
    /// position (a journaled connection fsyncs its journal). An error fails the job.
    fn sync(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// Where a live source journals what it accepts when the run takes checkpoints
/// ([`Source::live_journaled`]): its directory, and where the restored checkpoint left
/// each partition the source had (by [`Partition::checkpoint_index`]).
#[derive(Clone, Debug)]
pub struct Journal {
    /// The source's own directory, inside the checkpoint directory.
    pub dir: std::path::PathBuf,
    /// The restored positions, by partition number (empty when the run starts afresh or
    /// no checkpoint was written yet).
    pub positions: std::collections::BTreeMap<usize, JournalPosition>,
}

/// Where a checkpoint left one partition of a live source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalPosition {
    /// It had ended before the cut: nothing of it is read again.
    Done,
    /// It resumes at this byte offset of its journal, after this many lines.
    At {
        /// The byte offset.
        bytes: u64,
        /// Lines before it.
        line: u64,
    },
}

/// Reads `reads` batches of `max` lines from `partition` and drops them: how a partition
/// that cannot seek returns to a checkpointed position (reads are deterministic).
///
/// ```
/// use highwater::source::{replay_reads, Partition};
/// use highwater::pipeline::{Memory, Source};
/// use highwater::model::watermark::WatermarkStrategy;
/// let source = Memory::new(vec![vec![(1, 'a'), (2, 'b'), (3, 'c')]], WatermarkStrategy::Ascending);
/// let mut part = source.open(0, 1).unwrap().remove(0);
/// replay_reads(part.as_mut(), 1, 2).unwrap();
/// assert_eq!(part.read(10).records, vec![(3, 'c')]);
/// ```
pub fn replay_reads<T, P: Partition<T> + ?Sized>(partition: &mut P, reads: u64, max: usize) -> Result<(), String> {
    for _ in 0..reads {
        let batch = partition.read(max);
        if let Some(e) = batch.error {
            return Err(e);
        }
        if batch.done {
            break;
        }
    }
    Ok(())
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
    /// [`Source::live`] when the run takes checkpoints: what the live side accepts must be
    /// journaled in `journal.dir` before it is read, and the partitions journaled before a
    /// restart are replayed first — each from its position in `journal.positions` (from
    /// the start when it has none; not at all when [`JournalPosition::Done`]) — as
    /// partitions of `live` numbered by [`Partition::checkpoint_index`]. The default (a
    /// source with no live side) is [`Source::live`]; a live source that cannot journal
    /// must refuse, saying what to do.
    fn live_journaled(
        &self,
        worker: usize,
        peers: usize,
        waker: Waker,
        journal: Journal,
    ) -> Result<Option<Live<T>>, String> {
        let _ = journal;
        match self.live(worker, peers, waker)? {
            None => Ok(None),
            Some(_) => Err(
                "this live source cannot journal what it reads, so a resumed run could not replay it: run it without a checkpoint directory"
                    .into(),
            ),
        }
    }
    /// Replay pacing: `Some(speedup)` releases each record no earlier than
    /// `(event time − first event time) / speedup` after the first record was released, by
    /// the pipeline's clock (`1.0`: the original speed). `None` (the default): as fast as
    /// possible.
    fn pacing(&self) -> Option<f64> {
        None
    }
}
