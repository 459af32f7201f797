//! Shared pieces of the examples: the bid record of the bundled data and a combiner.

#![forbid(missing_docs)]

use highwater::model::combine::CombineFn;
use highwater::model::watermark::WatermarkStrategy;
use highwater::pipeline::Files;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One bid of `examples/data/bids.csv` (`auction,bidder,price,date_time_ms`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid {
    /// The auction bid on.
    pub auction: u64,
    /// Who bid.
    pub bidder: u64,
    /// The price offered.
    pub price: u64,
    /// When, in milliseconds since the Unix epoch.
    pub date_time_ms: i64,
}

/// The bundled bids: 20,000 rows over about ten minutes, a few out of order, three
/// malformed. Read in batches of 100 rows (a few seconds of event time each) so that the
/// watermark moves often enough for stragglers to be late.
pub fn bundled_bids() -> Files<Bid> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/bids.csv");
    Files::<Bid>::csv([path])
        .event_time(|b: &Bid| b.date_time_ms)
        .watermark(WatermarkStrategy::bounded(Duration::from_secs(2)))
        .batch_size(100)
}

/// Count and maximum price of a pane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountMax {
    /// Number of bids.
    pub count: u64,
    /// Highest price.
    pub max: u64,
}

/// A combiner producing [`CountMax`] from prices.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountMaxFn;

impl CombineFn<u64> for CountMaxFn {
    type Acc = CountMax;
    type Out = CountMax;
    fn create(&self) -> CountMax {
        CountMax::default()
    }
    fn add(&self, acc: &mut CountMax, price: u64) {
        acc.count += 1;
        acc.max = acc.max.max(price);
    }
    fn merge(&self, acc: &mut CountMax, other: CountMax) {
        acc.count += other.count;
        acc.max = acc.max.max(other.max);
    }
    fn extract(&self, acc: &CountMax) -> CountMax {
        *acc
    }
}
