//! The three things that happen on a Nexmark auction site: a person registers, a person
//! opens an auction, a person bids on an auction.
//!
//! Field names are Beam's (`org.apache.beam.sdk.nexmark.model`), in snake case; times are
//! milliseconds since the Unix epoch (Beam's Joda `Instant`s), ids and prices are
//! non-negative. [`Bid`] also carries the `channel` and `url` of the later Nexmark schema
//! (nexmark-flink, used by Flink, RisingWave and Arroyo), which Beam's `Bid` lacks.

pub use super::strings::Padding;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A person who registered on the site; sellers and bidders are persons.
///
/// ```
/// use highwater::nexmark::{Event, Generator};
/// let generator = Generator::default();
/// // Event 0 of every 50 is a person; ids start at 1000 and count up.
/// let Event::Person(person) = generator.event(50) else { unreachable!() };
/// assert_eq!(person.id, 1001);
/// assert_eq!(person.date_time, generator.timestamp(50));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Person {
    /// The person's id (primary key), from [`FIRST_PERSON_ID`](super::FIRST_PERSON_ID) up.
    pub id: u64,
    /// First and last name, e.g. `"Walter Noris"`.
    pub name: String,
    /// A made-up address at a made-up `.com` domain.
    pub email_address: String,
    /// Four groups of four digits.
    pub credit_card: String,
    /// One of ten cities in the US West.
    pub city: String,
    /// One of six US state codes (`AZ`, `CA`, `ID`, `OR`, `WA`, `WY`).
    pub state: String,
    /// When the person registered: the event time, in milliseconds.
    pub date_time: i64,
    /// Padding that brings the event to its configured average size.
    pub extra: Padding,
}

/// An auction a seller opened: an item, its prices and how long it runs.
///
/// ```
/// use highwater::nexmark::{Event, Generator};
/// let generator = Generator::default();
/// let Event::Auction(auction) = generator.event(1) else { unreachable!() };
/// assert_eq!(auction.id, 1000);
/// assert!(auction.expires > auction.date_time);
/// assert!(auction.reserve >= auction.initial_bid);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Auction {
    /// The auction's id (primary key), from [`FIRST_AUCTION_ID`](super::FIRST_AUCTION_ID) up.
    pub id: u64,
    /// The item's name.
    pub item_name: String,
    /// The item's description.
    pub description: String,
    /// The opening price, in cents.
    pub initial_bid: u64,
    /// The lowest price the seller accepts, in cents; at least `initial_bid`.
    pub reserve: u64,
    /// When the auction opened: the event time, in milliseconds.
    pub date_time: i64,
    /// When the auction closes, in milliseconds; bids at or after it are ignored.
    pub expires: i64,
    /// The seller's person id (foreign key to [`Person::id`]).
    pub seller: u64,
    /// The category id, from [`FIRST_CATEGORY_ID`](super::FIRST_CATEGORY_ID) up.
    pub category: u64,
    /// Padding that brings the event to its configured average size.
    pub extra: Padding,
}

/// A bid a person made on an auction.
///
/// ```
/// use highwater::nexmark::{Event, Generator};
/// let generator = Generator::default();
/// let Event::Bid(bid) = generator.event(4) else { unreachable!() };
/// assert!(bid.price > 0);
/// assert_eq!(bid.date_time, generator.timestamp(4));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bid {
    /// The auction bid on (foreign key to [`Auction::id`]).
    pub auction: u64,
    /// The bidder (foreign key to [`Person::id`]).
    pub bidder: u64,
    /// The price offered, in cents.
    pub price: u64,
    /// Where the bid came from: one of four hot channels (`Google`, `Facebook`, `Baidu`,
    /// `Apple`) or `channel-N` for N below 10 000. Borrowed from the generator's fixed
    /// table (no allocation per bid); owned when read from a file.
    pub channel: Cow<'static, str>,
    /// The page the bid was made on; fixed per channel (borrowed likewise).
    pub url: Cow<'static, str>,
    /// When the bid was made: the event time, in milliseconds.
    pub date_time: i64,
    /// Padding that brings the event to its configured average size.
    pub extra: Padding,
}

/// One Nexmark event. In JSON the kind is a `"kind"` field beside the entity's own fields:
/// `{"kind":"bid","auction":1000,...}`.
///
/// ```
/// use highwater::nexmark::{Event, EventKind, Generator};
/// let event = Generator::default().event(4);
/// assert_eq!(event.kind(), EventKind::Bid);
/// let json = serde_json::to_string(&event).unwrap();
/// assert!(json.starts_with(r#"{"kind":"bid","auction":"#));
/// assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A new person (Beam's `Event.newPerson`). Boxed, as is an auction: nearly every
    /// event is a bid, and an event is moved several times on its way.
    Person(Box<Person>),
    /// A new auction (Beam's `Event.newAuction`).
    Auction(Box<Auction>),
    /// A bid (Beam's `Event.bid`).
    Bid(Bid),
}

impl Event {
    /// Which of the three kinds this event is.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Person(_) => EventKind::Person,
            Event::Auction(_) => EventKind::Auction,
            Event::Bid(_) => EventKind::Bid,
        }
    }

    /// The event time, in milliseconds: the entity's `date_time`.
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }
}

/// The kind of an [`Event`], known from its event number alone
/// ([`Generator::kind`](super::Generator::kind)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new person.
    Person,
    /// A new auction.
    Auction,
    /// A bid.
    Bid,
}

impl EventKind {
    /// The lower-case name used as the `kind` in CSV and JSON: `person`, `auction`, `bid`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Person => "person",
            EventKind::Auction => "auction",
            EventKind::Bid => "bid",
        }
    }
}

/// The four columns of a bid that the windowed queries read, without the strings: what
/// [`write_bids_csv`](super::write_bids_csv) writes (`auction,bidder,price,date_time_ms`)
/// and what [`Generator::bid_row`](super::Generator::bid_row) computes without building
/// the bid's `channel`, `url` and `extra`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BidRow {
    /// The auction bid on.
    pub auction: u64,
    /// The bidder.
    pub bidder: u64,
    /// The price offered, in cents.
    pub price: u64,
    /// The event time, in milliseconds.
    pub date_time: i64,
}

impl From<&Bid> for BidRow {
    fn from(bid: &Bid) -> Self {
        BidRow { auction: bid.auction, bidder: bid.bidder, price: bid.price, date_time: bid.date_time }
    }
}
