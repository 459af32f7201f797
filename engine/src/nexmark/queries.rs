//! The Nexmark queries, written with the public pipeline DSL (no private shortcuts), with
//! the definitions of Beam's Nexmark suite.
//!
//! | query | what | how |
//! |---|---|---|
//! | q0 | pass-through | every event |
//! | q1 | currency conversion | bids with the price in euros (`price * 89 / 100`) |
//! | q2 | selection | bids on auctions whose id is a multiple of 123: `(auction, price)` |
//! | q3 | local item suggestion | auctions of category 10 by sellers in Oregon, Idaho or California, with the seller's name, city and state: a join of persons and auctions on a process step |
//! | q4 | average price for a category | the mean winning price of the auctions of each category closed in each sliding window |
//! | q5 | hot items | bids per auction in sliding windows, then the auction(s) with the most bids per window |
//! | q7 | highest bid | the highest bid(s) of each tumbling window |
//! | q6 | average selling price by seller | on each winning bid, the mean of the seller's last 10 winning prices |
//! | q9 | winning bids | each auction's highest valid bid when it closes ([`super::winning_bids`]) |
//! | q11 | user sessions | bids per bidder per session |
//! | q12 | processing-time windows | bids per bidder, fired every period of processing time |

use super::{Bid, Event, Generator};
use crate::pipeline::{
    BuildError, Collection, Context, Generated, KeyedProcess, ListState, ProcessError, ProcessSpec, Side, StateSpec,
    Timer, ValueState, Windowing,
};
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
    /// Window size of q4, q5 and q7 (10 s).
    pub window_size: Duration,
    /// Window period of q4 and q5 (2 s).
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

/// One row of q3: a seller's name, city and state, and the id of an auction the seller
/// opened (Beam's `NameCityStateId`, with its field names).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NameCityStateId {
    /// The seller's name.
    pub name: String,
    /// The seller's city.
    pub city: String,
    /// The seller's state.
    pub state: String,
    /// The auction's id.
    pub id: u64,
}

/// How long q3 keeps a person after registering (Beam's `maxAuctionsWaitingTime`, 600 s).
pub const Q3_PERSON_KEPT_MS: i64 = 600_000;

/// q3, local item suggestion: the auctions of category 10 opened by sellers in Oregon,
/// Idaho or California, each with the seller's name, city and state (Beam's `Query3`).
/// Persons and auctions are brought together per seller id ([`crate::pipeline::Keyed::connect`])
/// into one process step, [`LocalItemSuggestion`] — Beam's `JoinDoFn`: a person is kept
/// for 600 s of event time after registering ([`Q3_PERSON_KEPT_MS`]); an auction whose
/// seller is known comes out at once, one whose seller has not registered yet waits for
/// the person.
pub fn q3(events: Collection<'_, Event>) -> Result<Collection<'_, NameCityStateId>, BuildError> {
    let persons = events
        .clone()
        .flat_map(|e| match e {
            Event::Person(p) if matches!(p.state.as_str(), "OR" | "ID" | "CA") => Some(p),
            _ => None,
        })
        .map_to_keyed(|p| (p.id, (p.name, p.city, p.state)));
    let auctions = events
        .flat_map(|e| match e {
            Event::Auction(a) if a.category == 10 => Some((a.seller, a.id)),
            _ => None,
        })
        .map_to_keyed(|seller_auction| seller_auction);
    let mut state = StateSpec::new();
    let person = state.value("person");
    let waiting = state.list("waiting-auctions");
    persons.connect(auctions).process("q3-join", ProcessSpec::new(state, LocalItemSuggestion { person, waiting }))
}

/// A person of q3: name, city, state.
type Q3Person = (String, String, String);

/// q3's join per seller id (Beam's `Query3.JoinDoFn`): persons on the left, auction ids
/// on the right.
pub struct LocalItemSuggestion {
    /// The seller, once registered, until 600 s of event time later.
    person: ValueState<Q3Person>,
    /// Auctions that came before their seller registered.
    waiting: ListState<u64>,
}

impl LocalItemSuggestion {
    fn row(p: &Q3Person, id: u64) -> NameCityStateId {
        NameCityStateId { name: p.0.clone(), city: p.1.clone(), state: p.2.clone(), id }
    }
}

impl KeyedProcess<u64, Side<Q3Person, u64>> for LocalItemSuggestion {
    type Out = NameCityStateId;
    fn on_record(
        &self,
        ctx: &mut Context<'_, u64, NameCityStateId>,
        _: &u64,
        value: &Side<Q3Person, u64>,
    ) -> Result<(), ProcessError> {
        match value {
            Side::Left(p) => {
                // A person registers once; a second event for the id changes nothing.
                if ctx.state().get(&self.person)?.is_some() {
                    return Ok(());
                }
                ctx.state().set(&self.person, p)?;
                let t = ctx.event_time();
                for id in ctx.state().list(&self.waiting)? {
                    ctx.emit(t, Self::row(p, id));
                }
                ctx.state().clear(&self.waiting)?;
                let expiry = t.saturating_add(Q3_PERSON_KEPT_MS);
                if expiry >= ctx.watermark() {
                    ctx.timers().set_event_time(expiry, "person-expires")?;
                }
            }
            Side::Right(id) => match ctx.state().get(&self.person)? {
                Some(p) => ctx.emit(ctx.event_time(), Self::row(&p, *id)),
                None => ctx.state().push(&self.waiting, id)?,
            },
        }
        Ok(())
    }
    fn on_timer(&self, ctx: &mut Context<'_, u64, NameCityStateId>, _: &u64, _: &Timer) -> Result<(), ProcessError> {
        ctx.state().clear(&self.person)
    }
}

/// One row of q4: a category's mean winning price in a window, rounded, and whether the
/// window's pane is its last (Beam's `CategoryPrice`, with its field names).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CategoryPrice {
    /// The category.
    pub category: u64,
    /// The mean winning price, rounded.
    pub price: u64,
    /// Whether this is the window's last pane.
    #[serde(rename = "isLast")]
    pub is_last: bool,
}

/// q4, average price for a category: the winning bids ([`super::winning_bids`]) keyed by
/// their auction's category, in sliding windows (`window_size` every `window_period`) of
/// their close, averaged (Beam's `Query4`: `Mean.perKey` over `SlidingWindows`).
pub fn q4<'s>(events: Collection<'s, Event>, c: QueryConfig) -> Result<Collection<'s, CategoryPrice>, BuildError> {
    let means = super::winning_bids(events, "q4-winning-bids")?
        .map_to_keyed(|w| (w.auction.category, w.bid.price as f64))
        .window(Windowing::sliding(c.window_size, c.window_period))
        .aggregate("q4-mean-price", highwater_operators::combine::Mean)?;
    Ok(means.flat_map(|p| {
        p.value.map(|mean| CategoryPrice { category: p.key, price: mean.round() as u64, is_last: p.info.last })
    }))
}

/// One row of q6: a seller and the mean price of their last 10 winning bids (Beam's
/// `SellerPrice`, with its field names).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SellerPrice {
    /// The seller.
    pub seller: u64,
    /// The mean price of their last 10 winning bids, rounded.
    pub price: u64,
}

/// q6, average selling price by seller: on each winning bid ([`super::winning_bids`]),
/// the mean price of the seller's last 10 winning bids — the 10 latest by bid time, then
/// price (Beam's `Query6` and its `MovingMeanSellingPrice`). Beam fires a global window
/// on every element; here a process step keeps each seller's last 10 in a value cell and
/// emits one row per winning bid, so the rows are the same at any worker count.
pub fn q6(events: Collection<'_, Event>) -> Result<Collection<'_, SellerPrice>, BuildError> {
    let mut state = StateSpec::new();
    let last = state.value("last-10");
    super::winning_bids(events, "q6-winning-bids")?
        .map_to_keyed(|w| (w.auction.seller, (w.bid.date_time, w.bid.price)))
        .process("q6-mean-selling-price", ProcessSpec::new(state, MovingMeanSellingPrice { last }))
}

/// q6's process per seller: the last 10 winning bids `(bid time, price)`, sorted.
pub struct MovingMeanSellingPrice {
    last: ValueState<Vec<(i64, u64)>>,
}

impl KeyedProcess<u64, (i64, u64)> for MovingMeanSellingPrice {
    type Out = SellerPrice;
    fn on_record(
        &self,
        ctx: &mut Context<'_, u64, SellerPrice>,
        seller: &u64,
        bid: &(i64, u64),
    ) -> Result<(), ProcessError> {
        let mut last = ctx.state().get(&self.last)?.unwrap_or_default();
        last.push(*bid);
        last.sort_unstable();
        if last.len() > 10 {
            last.remove(0);
        }
        ctx.state().set(&self.last, &last)?;
        let sum: u64 = last.iter().map(|b| b.1).sum();
        let price = (sum as f64 / last.len() as f64).round() as u64;
        ctx.emit(ctx.event_time(), SellerPrice { seller: *seller, price });
        Ok(())
    }
}

/// q9, winning bids: each auction with its highest bid at or above the reserve, made while
/// it was open, when it closes (Beam's `Query9`, which is its `WinningBids`).
pub fn q9(events: Collection<'_, Event>) -> Result<Collection<'_, super::AuctionBid>, BuildError> {
    super::winning_bids(events, "q9-winning-bids")
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
