//! Sources: logical partitions read in batches, each with its own watermark.
//!
//! A [`Source`] lists its partitions; partition `p` belongs to worker `p % peers`. The
//! source operator reads each partition in batches, stamps a batch's records with the
//! partition's watermark *before* the batch (then advances it from what the batch showed),
//! and keeps the worker's capability at the minimum over its unfinished partitions.
//! Batch boundaries depend only on the partition, so stamps — and outputs — do not depend
//! on the worker count.

use super::dead_letter::DeadLetter;
use highwater_operators::time::Time;
use highwater_operators::watermark::{PartitionWatermark, WatermarkStrategy};
use std::sync::Arc;

/// What one read of a partition produced.
#[derive(Debug, Default)]
pub struct Batch<T> {
    /// Records with their event times.
    pub records: Vec<(i64, T)>,
    /// Lines that could not be read.
    pub dead: Vec<DeadLetter>,
    /// Watermarks carried by the data (punctuated strategies).
    pub punctuation: Option<i64>,
    /// The partition has nothing more.
    pub done: bool,
}

/// One logical partition of a source: a file, a byte range, a connection, a generator
/// slice.
pub trait Partition<T>: Send {
    /// Reads up to `max` records.
    fn read(&mut self, max: usize) -> Batch<T>;
    /// A name for errors and dead letters.
    fn name(&self) -> String;
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
}

/// Records held in memory, split into partitions: tests, examples, generated data.
///
/// ```
/// use highwater::pipeline::{Memory, Source};
/// use highwater_operators::watermark::WatermarkStrategy;
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
        Batch { records, dead: Vec::new(), punctuation: None, done: self.pos >= part.len() }
    }
    fn name(&self) -> String {
        format!("memory[{}]", self.index)
    }
}

impl<T: Clone + Send + Sync + 'static> Source<T> for Memory<T> {
    fn open(&self, worker: usize, peers: usize) -> Result<Vec<Box<dyn Partition<T>>>, String> {
        Ok((0..self.partitions.len())
            .filter(|p| p % peers == worker)
            .map(|index| Box::new(MemoryPartition { data: self.partitions.clone(), index, pos: 0 }) as Box<dyn Partition<T>>)
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
    pub fn new(count: u64, partitions: u64, strategy: WatermarkStrategy, generate: impl Fn(u64) -> (i64, T) + Send + Sync + 'static) -> Self {
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
        Batch { records, dead: Vec::new(), punctuation: None, done: self.next >= self.end }
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
                Box::new(GeneratedPartition { generate: self.generate.clone(), next: start, end, index: p }) as Box<dyn Partition<T>>
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

/// The per-worker state of a source operator: its partitions, their watermarks and ticks.
pub(crate) struct Reader<T> {
    parts: Vec<(Box<dyn Partition<T>>, PartitionWatermark, u64, bool)>,
    batch: usize,
    next: usize,
}

impl<T> Reader<T> {
    pub(crate) fn new(parts: Vec<Box<dyn Partition<T>>>, strategy: WatermarkStrategy, batch: usize) -> Self {
        Reader { parts: parts.into_iter().map(|p| (p, PartitionWatermark::new(strategy), 0, false)).collect(), batch, next: 0 }
    }
    /// The least stamp any unfinished partition may still produce (`None`: all done).
    pub(crate) fn frontier(&self) -> Option<Time> {
        self.parts.iter().filter(|p| !p.3).map(|p| Time::new(p.1.watermark(), p.2)).min()
    }
    /// Reads one batch from the partition whose stamp is least (round robin among equals).
    /// Returns the stamp of the batch, its records and dead letters.
    pub(crate) fn step(&mut self) -> Option<(Time, Vec<(i64, T)>, Vec<DeadLetter>)> {
        let n = self.parts.len();
        let idx = (0..n).map(|i| (self.next + i) % n).filter(|&i| !self.parts[i].3).min_by_key(|&i| Time::new(self.parts[i].1.watermark(), self.parts[i].2))?;
        self.next = (idx + 1) % n.max(1);
        let (part, wm, tick, done) = &mut self.parts[idx];
        let stamp = Time::new(wm.watermark(), *tick);
        let batch = part.read(self.batch);
        for (t, _) in &batch.records {
            wm.observe(*t);
        }
        if let Some(p) = batch.punctuation {
            wm.punctuate(p);
        }
        *tick += 1;
        *done = batch.done;
        Some((stamp, batch.records, batch.dead))
    }
}

