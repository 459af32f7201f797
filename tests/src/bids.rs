//! The one bid generator of the tests.

use crate::Rng;

/// A generated bid.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Bid {
    /// The auction bid on: `0..auctions`.
    pub auction: u32,
    /// The bidder: each partition has its own `bidders` of them.
    pub bidder: u32,
    /// The price: `0..1000`.
    pub price: u64,
}

/// The shape of a deterministic bid stream: `per_partition` bids in each of `partitions`
/// partitions; the `i`-th bid of a partition has an event time of `start + i * period`
/// plus a random delay in `0..=disorder`, so a partition is out of order by at most
/// `disorder`.
///
/// ```
/// use highwater_tests::Bids;
/// let parts = Bids { partitions: 2, per_partition: 100, disorder: 30, ..Bids::default() }.generate();
/// assert_eq!((parts.len(), parts[0].len()), (2, 100));
/// assert!(parts[1].iter().all(|(_, b)| (5..10).contains(&b.bidder)), "partition 1 has bidders 5 to 9");
/// ```
#[derive(Clone, Debug)]
pub struct Bids {
    /// The seed of the generator ([`Rng::new`]).
    pub seed: u64,
    /// How many partitions (for `Memory` sources or files).
    pub partitions: usize,
    /// Bids in each partition.
    pub per_partition: usize,
    /// Distinct auctions, shared by all partitions.
    pub auctions: u32,
    /// Distinct bidders of each partition: partition `p` has bidders
    /// `p * bidders .. (p + 1) * bidders` (a source partitioned by bidder).
    pub bidders: u32,
    /// The event time of the first bid of each partition, before its delay.
    pub start: i64,
    /// Event time between consecutive bids of a partition, before their delays.
    pub period: i64,
    /// The largest delay of a bid: how far out of order a partition is.
    pub disorder: i64,
}

impl Default for Bids {
    /// 1 partition of 1 000 bids, 7 auctions, 5 bidders, one bid every 10 ticks from 0, in
    /// order; seed 0.
    fn default() -> Self {
        Bids {
            seed: 0,
            partitions: 1,
            per_partition: 1_000,
            auctions: 7,
            bidders: 5,
            start: 0,
            period: 10,
            disorder: 0,
        }
    }
}

impl Bids {
    /// The partitions of `(event time, bid)`, in arrival order.
    pub fn generate(&self) -> Vec<Vec<(i64, Bid)>> {
        let mut r = Rng::new(self.seed);
        (0..self.partitions)
            .map(|p| {
                (0..self.per_partition)
                    .map(|i| {
                        let t = self.start + i as i64 * self.period + r.range(0..self.disorder + 1);
                        let auction = r.below(self.auctions.into()) as u32;
                        let bidder = r.below(self.bidders.into()) as u32 + p as u32 * self.bidders;
                        (t, Bid { auction, bidder, price: r.below(1_000) })
                    })
                    .collect()
            })
            .collect()
    }

    /// All bids, partition after partition.
    pub fn all(&self) -> Vec<(i64, Bid)> {
        self.generate().into_iter().flatten().collect()
    }
}
