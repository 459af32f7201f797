//! Records generated from their sequence number (the Nexmark generator is one).

use super::{Batch, Partition, Source};
use highwater_operators::watermark::WatermarkStrategy;
use std::sync::Arc;

/// Records generated from their sequence number: `generate(n)` for `n` in `0..count`,
/// dealt round robin into `partitions` partitions (partition `p` generates `p`,
/// `p + partitions`, …; the Nexmark generator is one).
///
/// Dealt, not sliced: when event times grow with `n`, the partitions advance through event
/// time together, so the watermark (their minimum) follows the data and windows close as
/// it goes — and a checkpoint's cut, which waits for every partition to reach it, comes
/// soon. (Contiguous slices held every window open until the first slice ended.)
///
/// ```
/// use highwater::pipeline::{Generated, Source};
/// use highwater::model::watermark::WatermarkStrategy;
/// let source = Generated::new(10, 3, WatermarkStrategy::Ascending, |n| (n as i64, n));
/// let mut parts = source.open(0, 1).unwrap();
/// let second: Vec<u64> = parts[1].read(100).records.into_iter().map(|(_, n)| n).collect();
/// assert_eq!(second, vec![1, 4, 7]);
/// ```
pub struct Generated<T> {
    count: u64,
    partitions: u64,
    generate: Arc<dyn Fn(u64) -> (i64, T) + Send + Sync>,
    strategy: WatermarkStrategy,
    batch: usize,
}

impl<T> Generated<T> {
    /// `count` records from `generate`, dealt into `partitions` partitions.
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
    /// The next sequence number.
    next: u64,
    /// The partition count: the distance between two of its sequence numbers.
    stride: u64,
    /// The source's count: no sequence number reaches it.
    end: u64,
    index: u64,
}

impl<T> GeneratedPartition<T> {
    /// Sequence numbers left.
    fn left(&self) -> u64 {
        self.end.saturating_sub(self.next).div_ceil(self.stride)
    }
}

impl<T: Send> Partition<T> for GeneratedPartition<T> {
    fn read(&mut self, max: usize) -> Batch<T> {
        let n = (max as u64).min(self.left());
        let records = (0..n).map(|i| (self.generate)(self.next + i * self.stride)).collect();
        self.next = self.next.saturating_add(n * self.stride);
        Batch { records, done: self.next >= self.end, ..Batch::default() }
    }
    fn name(&self) -> String {
        format!("generated[{}]", self.index)
    }
    /// Records are generated from their sequence number: `reads` reads of `max` records
    /// are skipped, not generated again.
    fn resume(&mut self, reads: u64, max: usize, _bytes: u64, _line: u64) -> Result<(), String> {
        let skipped = reads.saturating_mul(max as u64).min(self.left());
        self.next = self.next.saturating_add(skipped * self.stride);
        Ok(())
    }
}

impl<T: Send + 'static> Source<T> for Generated<T> {
    fn open(&self, worker: usize, peers: usize) -> Result<Vec<Box<dyn Partition<T>>>, String> {
        Ok((0..self.partitions)
            .filter(|p| (*p as usize) % peers == worker)
            .map(|p| {
                Box::new(GeneratedPartition {
                    generate: self.generate.clone(),
                    next: p,
                    stride: self.partitions,
                    end: self.count,
                    index: p,
                }) as Box<dyn Partition<T>>
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
