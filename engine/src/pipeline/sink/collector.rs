//! Records collected in memory.

use crate::pipeline::{Collection, Data, Sink};
use std::sync::{Arc, Mutex};
use timely::dataflow::channels::pact::Pipeline as PipelinePact;
use timely::dataflow::operators::generic::Operator;

/// Collects records in memory (tests, examples): clone the handle into the pipeline and
/// read it after the run.
///
/// ```
/// use highwater::pipeline::Collector;
/// let c: Collector<u64> = Collector::new();
/// assert!(c.take().is_empty());
/// ```
pub struct Collector<T> {
    items: Arc<Mutex<Vec<(i64, T)>>>,
}

impl<T> Clone for Collector<T> {
    fn clone(&self) -> Self {
        Collector { items: self.items.clone() }
    }
}

impl<T> Default for Collector<T> {
    fn default() -> Self {
        Collector { items: Arc::new(Mutex::new(Vec::new())) }
    }
}

impl<T> Collector<T> {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }
    /// Takes what was collected: `(event time, record)` in arrival order per worker.
    pub fn take(&self) -> Vec<(i64, T)> {
        std::mem::take(&mut *self.items.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl<T: Data> Sink<T> for Collector<T> {
    fn attach(self, c: Collection<'_, T>) {
        let items = self.items;
        c.stream.sink(PipelinePact, "collect", move |(input, _)| {
            input.for_each(|_, data| {
                items.lock().unwrap_or_else(|e| e.into_inner()).extend(data.drain(..));
            });
        });
    }
}
