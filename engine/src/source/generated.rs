//! Records generated from their sequence number (the Nexmark generator is one).

use super::{Batch, Partition, Source};
use highwater_operators::watermark::WatermarkStrategy;
use std::sync::Arc;

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
