//! Records held in memory, split into partitions: tests and examples.

use super::{Batch, Partition, Source};
use highwater_operators::watermark::WatermarkStrategy;
use std::sync::Arc;

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
    /// Records per batch: a bundle for the triggers downstream (see
    /// [`crate::pipeline::Files::batch_size`]); `1` evaluates triggers after every record.
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
