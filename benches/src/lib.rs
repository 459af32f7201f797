//! Pieces shared by the benchmark binaries: the bid record of the bid CSV files, a
//! count-and-max combiner, and a sink that only counts.

#![forbid(missing_docs)]

use highwater::pipeline::{Collection, Data, Sink};
use highwater_operators::combine::CombineFn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One row of a bid CSV file (`auction,bidder,price,date_time_ms`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Bid {
    /// The auction.
    pub auction: u64,
    /// The bidder.
    pub bidder: u64,
    /// The price.
    pub price: u64,
    /// Event time in milliseconds.
    pub date_time_ms: i64,
}

/// Count and highest price of a pane: `(count, max)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountMax;

impl CombineFn<u64> for CountMax {
    type Acc = (u64, u64);
    type Out = (u64, u64);
    fn create(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, a: &mut (u64, u64), p: u64) {
        a.0 += 1;
        a.1 = a.1.max(p);
    }
    fn merge(&self, a: &mut (u64, u64), o: (u64, u64)) {
        a.0 += o.0;
        a.1 = a.1.max(o.1);
    }
    fn extract(&self, a: &(u64, u64)) -> (u64, u64) {
        *a
    }
}

/// A sink that counts the records reaching it.
pub struct Count(pub Arc<AtomicU64>);

impl<T: Data> Sink<T> for Count {
    fn attach(self, c: Collection<'_, T>) {
        use timely::dataflow::channels::pact::Pipeline;
        use timely::dataflow::operators::generic::Operator;
        let n = self.0;
        c.stream().sink(Pipeline, "count", move |(input, _)| {
            input.for_each(|_, d| {
                n.fetch_add(d.len() as u64, Ordering::Relaxed);
            });
        });
    }
}
