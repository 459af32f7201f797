//! # Nexmark: the auction-site benchmark, generated deterministically
//!
//! Nexmark (Tucker, Tufte, Papadimos and Maier, 2002: XMark's auction site turned into a
//! stream; the benchmark Beam, Flink, Arroyo and RisingWave compare themselves on) models
//! an online auction site as one stream of three kinds of events:
//!
//! - a [`Person`] registers (the only source of person ids);
//! - a person opens an [`Auction`] for an item, with an opening price, a reserve and an
//!   expiry time;
//! - a person places a [`Bid`] on an auction.
//!
//! The queries (q0 pass-through, q1 currency conversion, q2 selection, q5 hot items,
//! q7 highest bid, q11 user sessions, …) are windowed aggregations and joins over it.
//!
//! This module is a port of Beam's Java generator
//! (`org.apache.beam.sdk.nexmark.sources.generator`), down to its random numbers. Its
//! nouns:
//!
//! - **Event number** `n`: the position in the stream, 0, 1, 2, … Everything about an
//!   event is a pure function of `n` and the [`GeneratorConfig`]: [`Generator::event`].
//! - **Event id**: `first_event_id + n` (shuffled within groups if the configuration asks
//!   for out-of-order events). It decides the **kind**, in a fixed pattern of 50: 1 person,
//!   3 auctions, 46 bids ([`PERSON_PROPORTION`], [`AUCTION_PROPORTION`],
//!   [`BID_PROPORTION`]); and it seeds the event's [`JavaRandom`], a bit-exact
//!   `java.util.Random`, so the values are Beam's.
//! - **Event time**: `base_time + n × 100 µs` at the default 10 000 events per second
//!   ([`Generator::timestamp`]), from the fixed [`BASE_TIME_MS`] (2015-07-15).
//! - **Ids**: persons and auctions are numbered from 1000 ([`FIRST_PERSON_ID`],
//!   [`FIRST_AUCTION_ID`]) in creation order, so the latest ids are known from the event id
//!   alone. A bid refers to the **hot auction** (the first of the latest batch of 100
//!   auctions) with probability ½, else to one of the latest 100 **in-flight auctions**;
//!   its bidder is the **hot bidder** with probability ¾, else one of the latest 1000
//!   **active people**; an auction's seller likewise is the **hot seller** with
//!   probability ¾. A few ids run ahead of creation, as in Beam.
//! - **Split**: since no state carries over between events, worker `w` of `W` generates
//!   its [`Split`] of the numbers and the workers together produce exactly the stream one
//!   worker would.
//!
//! ```
//! use highwater::nexmark::{Event, Generator, Split};
//! let generator = Generator::default();
//! // Worker 0 of 2 takes every other event of the first 100 000.
//! let auctions: Vec<u64> = generator
//!     .share(0..100_000, Split::Interleaved, 0, 2)
//!     .filter_map(|event| match event {
//!         Event::Bid(bid) => Some(bid.auction),
//!         _ => None,
//!     })
//!     .collect();
//! assert_eq!(auctions.len(), 46_000);
//! // About half the bids are for the hot auction of their time: 1000, 1100, 1200, …
//! let hot = auctions.iter().filter(|&&auction| auction % 100 == 0).count();
//! assert!(hot * 100 > auctions.len() * 45, "{hot} of {}", auctions.len());
//! ```
//!
//! ## Differences from Beam
//!
//! - [`Bid`] has the `channel` and `url` of the nexmark-flink schema. The channel is drawn
//!   right after the price, as nexmark-flink does, so a bid's auction, bidder and price
//!   are Beam's but its `extra` padding is nexmark-flink's; URLs are fixed per channel
//!   (nexmark-flink draws them from an unseeded random, different at every run).
//! - One timeline at the full rate instead of Beam's `numEventGenerators` timelines at a
//!   fraction of it each; workers split event numbers instead ([`GeneratorConfig`]).
//! - A [`GeneratorConfig::seed`] (0 by default, which is Beam) selects other streams.
//! - Beam's occasional event delays (`probDelayedEvent`) belong to its unbounded source,
//!   not to the generator, and are not reproduced.

mod config;
mod generator;
mod model;
pub mod queries;
mod random;
mod strings;
mod winning_bids;
mod write;

#[cfg(test)]
mod tests;

pub use config::{ConfigError, GeneratorConfig, RateShape, RateUnit, BASE_TIME_MS};
pub use generator::{
    Events, Generator, Split, AUCTION_PROPORTION, BID_PROPORTION, FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID,
    PERSON_PROPORTION, PROPORTION_DENOMINATOR,
};
pub use model::{Auction, Bid, BidRow, Event, EventKind, Padding, Person};
pub use random::JavaRandom;
pub use winning_bids::{winning_bids, AuctionBid, WinningBidsProcess};
pub use write::{
    write_bids_csv, write_events, Format, AUCTION_CSV_COLUMNS, BIDS_CSV_HEADER, BID_CSV_COLUMNS, PERSON_CSV_COLUMNS,
};
