//! The Nexmark queries, written with the public pipeline DSL (no private shortcuts), with
//! the definitions of Beam's Nexmark suite.
//!
//! | query | what | how |
//! |---|---|---|
//! | q0 | pass-through | every event |
//! | q1 | currency conversion | bids with the price in euros (`price * 89 / 100`) |
//! | q2 | selection | bids on auctions whose id is a multiple of 123: `(auction, price)` |
//! | q5 | hot items | bids per auction in sliding windows, then the auction(s) with the most bids per window |
//! | q7 | highest bid | the highest bid(s) of each tumbling window |
//! | q11 | user sessions | bids per bidder per session |
//! | q12 | processing-time windows | bids per bidder, fired every period of processing time |

use super::{Bid, Event, Generator};
use crate::pipeline::{BuildError, Collection, Generated, Windowing};
use highwater_operators::combine::CombineFn;
use highwater_operators::pane::Pane;
use highwater_operators::trigger::Trigger;
use highwater_operators::watermark::WatermarkStrategy;
use highwater_operators::window::Window;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The parameters of the windowed queries (Beam's `NexmarkConfiguration`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryConfig {
    /// Window size of q5 and q7 (10 s).
    pub window_size: Duration,
    /// Window period of q5 (2 s).
    pub window_period: Duration,
    /// Session gap of q11 (10 s).
    pub session_gap: Duration,
    /// Processing-time period of q12 (10 s).
    pub processing_period: Duration,
    /// q2's auction id divisor (123).
    pub auction_skip: u64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            window_size: Duration::from_secs(10),
            window_period: Duration::from_secs(2),
            session_gap: Duration::from_secs(10),
            processing_period: Duration::from_secs(10),
            auction_skip: 123,
        }
    }
}

/// `count` generated events in `partitions` contiguous slices, each with an ascending
/// watermark (the generator's timestamps never decrease within a slice).
pub fn events(generator: Arc<Generator>, count: u64, partitions: u64) -> Generated<Event> {
    Generated::new(count, partitions, WatermarkStrategy::Ascending, move |n| {
        let e = generator.event(n);
        (e.date_time(), e)
    })
}

/// The bids of a stream of events.
pub fn bids<'s>(events: Collection<'s, Event>) -> Collection<'s, Bid> {
    events.flat_map(|e| match e {
        Event::Bid(b) => Some(b),
        _ => None,
    })
}

/// q0: every event, unchanged.
pub fn q0(events: Collection<'_, Event>) -> Collection<'_, Event> {
    events
}

/// q1: bids with the price converted to euros.
pub fn q1(events: Collection<'_, Event>) -> Collection<'_, Bid> {
    bids(events).map(|mut b| {
        b.price = b.price * 89 / 100;
        b
    })
}

/// q2: `(auction, price)` of the bids on auctions whose id is a multiple of `skip`.
pub fn q2(events: Collection<'_, Event>, skip: u64) -> Collection<'_, (u64, u64)> {
    bids(events).filter(move |b| b.auction % skip == 0).map(|b| (b.auction, b.price))
}

/// The auctions with the most bids in one window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotItems {
    /// The largest bid count.
    pub count: u64,
    /// Every auction with that count, sorted.
    pub auctions: Vec<u64>,
}

/// Keeps the auctions with the largest count (all ties).
#[derive(Clone, Copy, Debug, Default)]
pub struct MaxCount;

impl CombineFn<(u64, u64)> for MaxCount {
    type Acc = HotItems;
    type Out = HotItems;
    fn create(&self) -> HotItems {
        HotItems::default()
    }
    fn add(&self, acc: &mut HotItems, (auction, count): (u64, u64)) {
        if count > acc.count {
            acc.count = count;
            acc.auctions.clear();
        }
        if count == acc.count && !acc.auctions.contains(&auction) {
            acc.auctions.push(auction);
            acc.auctions.sort_unstable();
        }
    }
    fn merge(&self, acc: &mut HotItems, other: HotItems) {
        for a in other.auctions {
            self.add(acc, (a, other.count));
        }
    }
    fn extract(&self, acc: &HotItems) -> HotItems {
        acc.clone()
    }
}

/// q5: bids per auction in sliding windows, then the hot auction(s) of each window. The
/// second stage groups the first stage's panes by their window (their event time is the
/// window's last instant, so one tumbling window of the period holds them all).
pub fn q5<'s>(
    events: Collection<'s, Event>,
    c: QueryConfig,
) -> Result<Collection<'s, Pane<Window, HotItems>>, BuildError> {
    let counts = bids(events)
        .key_by(|b: &Bid| b.auction)
        .window(Windowing::sliding(c.window_size, c.window_period))
        .count("q5-bids-per-auction")?;
    counts
        .key_by(|p: &Pane<u64, u64>| p.window)
        .map_values(|p| (p.key, p.value))
        .window(Windowing::fixed(c.window_period))
        .aggregate("q5-hot-items", MaxCount)
}

/// The highest bids of a window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighestBids {
    /// The highest price.
    pub price: u64,
    /// The bids at that price, as `(auction, bidder)`, sorted.
    pub bids: Vec<(u64, u64)>,
}

/// Keeps the bids with the highest price (all ties).
#[derive(Clone, Copy, Debug, Default)]
pub struct MaxPrice;

impl CombineFn<Bid> for MaxPrice {
    type Acc = HighestBids;
    type Out = HighestBids;
    fn create(&self) -> HighestBids {
        HighestBids::default()
    }
    fn add(&self, acc: &mut HighestBids, b: Bid) {
        if b.price > acc.price || acc.bids.is_empty() {
            acc.price = b.price;
            acc.bids.clear();
        }
        if b.price == acc.price {
            acc.bids.push((b.auction, b.bidder));
            acc.bids.sort_unstable();
        }
    }
    fn merge(&self, acc: &mut HighestBids, other: HighestBids) {
        if other.bids.is_empty() {
            return;
        }
        if other.price > acc.price || acc.bids.is_empty() {
            *acc = other;
        } else if other.price == acc.price {
            acc.bids.extend(other.bids);
            acc.bids.sort_unstable();
        }
    }
    fn extract(&self, acc: &HighestBids) -> HighestBids {
        acc.clone()
    }
}

/// q7: the highest bid(s) of each tumbling window.
pub fn q7<'s>(
    events: Collection<'s, Event>,
    c: QueryConfig,
) -> Result<Collection<'s, Pane<(), HighestBids>>, BuildError> {
    bids(events).key_by(|_| ()).window(Windowing::fixed(c.window_size)).aggregate("q7-highest-bid", MaxPrice)
}

/// q11: bids per bidder per session.
pub fn q11<'s>(events: Collection<'s, Event>, c: QueryConfig) -> Result<Collection<'s, Pane<u64, u64>>, BuildError> {
    bids(events).key_by(|b: &Bid| b.bidder).window(Windowing::sessions(c.session_gap)).count("q11-user-sessions")
}

/// q12: bids per bidder, emitted every `processing_period` of processing time after a
/// bidder's first bid in the period (global window, discarding).
pub fn q12<'s>(events: Collection<'s, Event>, c: QueryConfig) -> Result<Collection<'s, Pane<u64, u64>>, BuildError> {
    let trigger = Trigger::repeatedly(Trigger::after_processing_time(c.processing_period));
    bids(events)
        .key_by(|b: &Bid| b.bidder)
        .window(Windowing::global().trigger(trigger))
        .count("q12-processing-time-windows")
}

/// q5 in accumulating-and-retracting mode, as a two-stage differential pipeline: bids per
/// auction in sliding windows with early firings (`early`, e.g. every second of processing
/// time) and late firings within `allowed_lateness`, then the hot auction(s) of each window
/// as a [`Changelog`](crate::pipeline::Changelog) that is revised — the old winner retracted
/// — whenever an early, on-time or late pane changes a count.
pub fn q5_retracting<'s>(
    events: Collection<'s, Event>,
    c: QueryConfig,
    early: Trigger,
    allowed_lateness: Duration,
) -> Result<crate::pipeline::Changelog<'s, (), (u64, Vec<u64>)>, BuildError> {
    let trigger = Trigger::after_watermark().with_early(early).with_late(Trigger::after_count(1));
    let windowing = Windowing::sliding(c.window_size, c.window_period)
        .trigger(trigger)
        .allowed_lateness(allowed_lateness)
        .retracting();
    let counts = bids(events)
        .map_to_keyed(|b: Bid| (b.auction, ()))
        .window(windowing)
        .changelog("q5-counts", highwater_operators::combine::Count)?;
    Ok(counts.max_per_window(|n: &u64| *n))
}

/// q8, new users: the persons who opened an account and the auctions they created as
/// sellers in the same tumbling window, joined on (seller id, window). Returns, per person
/// and window, `(name, auctions created)`, kept up to date in retracting mode.
pub fn q8<'s>(
    events: Collection<'s, Event>,
    c: QueryConfig,
) -> Result<crate::pipeline::Changelog<'s, u64, (String, u64)>, BuildError> {
    let trigger = Trigger::after_watermark().with_late(Trigger::after_count(1));
    let windowing = Windowing::fixed(c.window_size).trigger(trigger).allowed_lateness(c.window_size).retracting();
    let persons = events
        .clone()
        .flat_map(|e| match e {
            Event::Person(p) => Some((p.id, p.name)),
            _ => None,
        })
        .map_to_keyed(|(id, name)| (id, name))
        .window(windowing.clone())
        .changelog("q8-persons", FirstName)?;
    let auctions = events
        .flat_map(|e| match e {
            Event::Auction(a) => Some(a.seller),
            _ => None,
        })
        .map_to_keyed(|seller| (seller, ()))
        .window(windowing)
        .changelog("q8-auctions", highwater_operators::combine::Count)?;
    Ok(persons.join(auctions))
}

/// The smallest name of a person id in a window (a person has one name; the smallest makes
/// the result independent of arrival order).
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstName;

impl CombineFn<String> for FirstName {
    type Acc = Option<String>;
    type Out = String;
    fn create(&self) -> Option<String> {
        None
    }
    fn add(&self, acc: &mut Option<String>, v: String) {
        if acc.as_ref().is_none_or(|a| v < *a) {
            *acc = Some(v);
        }
    }
    fn merge(&self, acc: &mut Option<String>, other: Option<String>) {
        if let Some(v) = other {
            self.add(acc, v);
        }
    }
    fn extract(&self, acc: &Option<String>) -> String {
        acc.clone().unwrap_or_default()
    }
}
