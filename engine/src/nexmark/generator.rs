//! The generator: event number → event, as a pure function (Beam's `Generator`,
//! `PersonGenerator`, `AuctionGenerator`, `BidGenerator`).
//!
//! Event number `n` has event id `first_event_id + n` (when events are in order), and the
//! id decides everything: the kind (`id % 50`: 1 person, then 3 auctions, then 46 bids),
//! the new person's or auction's id, which recent persons and auctions the event may
//! refer to, and the seed of the `java.util.Random` its fields are drawn from. The event
//! time is `base_time + n × inter-event delay`. Nothing carries over from one event to the
//! next, so any worker can generate any event numbers, in any order.

use super::config::{ConfigError, GeneratorConfig, Timeline};
use super::model::{Auction, Bid, BidRow, Event, EventKind, Person};
use super::random::JavaRandom;
use super::strings::{next_channel, next_extra, next_price, next_string};
use std::borrow::Cow;
use std::iter::StepBy;
use std::ops::Range;

/// The id of the first person; persons are numbered up from it.
pub const FIRST_PERSON_ID: u64 = 1000;
/// The id of the first auction; auctions are numbered up from it.
pub const FIRST_AUCTION_ID: u64 = 1000;
/// The first category id; there are five categories.
pub const FIRST_CATEGORY_ID: u64 = 10;
/// Persons per [`PROPORTION_DENOMINATOR`] events.
pub const PERSON_PROPORTION: u64 = 1;
/// Auctions per [`PROPORTION_DENOMINATOR`] events.
pub const AUCTION_PROPORTION: u64 = 3;
/// Bids per [`PROPORTION_DENOMINATOR`] events.
pub const BID_PROPORTION: u64 = 46;
/// The length of the repeating pattern of kinds: person, 3 auctions, 46 bids.
pub const PROPORTION_DENOMINATOR: u64 = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION;

/// Ids a cold reference may run ahead of the last person created, so that a bid or an
/// auction sometimes appears before its person (Beam's `PERSON_ID_LEAD`).
const PERSON_ID_LEAD: i64 = 10;
/// Likewise for auctions (Beam's `AUCTION_ID_LEAD`).
const AUCTION_ID_LEAD: i64 = 10;
/// The hot seller is the first of each batch of this many persons.
const HOT_SELLER_RATIO: i64 = 100;
/// The hot auction is the first of each batch of this many auctions.
const HOT_AUCTION_RATIO: i64 = 100;
/// The hot bidder is the second of each batch of this many persons.
const HOT_BIDDER_RATIO: i64 = 100;
/// The number of categories.
const NUM_CATEGORIES: i32 = 5;

const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] =
    ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"];
const FIRST_NAMES: [&str; 11] =
    ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"];
const LAST_NAMES: [&str; 9] = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"];

/// Beam's deterministic Nexmark generator: [`Generator::event`] maps an event number to
/// its event, the same at every call, run and worker.
///
/// ```
/// use highwater::nexmark::{Event, EventKind, Generator, BASE_TIME_MS};
/// let generator = Generator::default();
/// // The kinds repeat every 50 events: 1 person, 3 auctions, 46 bids.
/// assert_eq!(generator.kind(0), EventKind::Person);
/// assert_eq!(generator.kind(3), EventKind::Auction);
/// assert_eq!(generator.kind(4), EventKind::Bid);
/// // 10 000 events per second: event n happens n/10 ms after the base time.
/// assert_eq!(generator.timestamp(25), BASE_TIME_MS + 2);
/// // Pure: the same number gives the same event.
/// assert_eq!(generator.event(12_345), generator.event(12_345));
/// let bids = generator.events(0..1_000).filter(|e| e.kind() == EventKind::Bid).count();
/// assert_eq!(bids, 920);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generator {
    config: GeneratorConfig,
    timeline: Timeline,
}

impl Default for Generator {
    /// The generator of Beam's default configuration.
    fn default() -> Self {
        Generator::new(GeneratorConfig::default()).expect("the default configuration is valid")
    }
}

impl Generator {
    /// A generator for `config`, or what is wrong with it.
    pub fn new(config: GeneratorConfig) -> Result<Self, ConfigError> {
        let timeline = config.timeline()?;
        Ok(Generator { config, timeline })
    }

    /// The configuration this generator runs.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// The number whose time and id event `n` takes: `n` itself, unless events come in
    /// shuffled groups (Beam's `nextAdjustedEventNumber`).
    #[inline]
    fn adjusted_number(&self, n: u64) -> u64 {
        let group = self.config.out_of_order_group_size;
        if group == 1 {
            return n;
        }
        let base = (n / group) * group;
        // Java: (eventNumber * 953) % n, in longs.
        let offset = (n as i64).wrapping_mul(953) % group as i64;
        base.wrapping_add(offset as u64)
    }

    /// The event id of event number `n`: `first_event_id + n` when events are in order.
    pub fn event_id(&self, n: u64) -> u64 {
        self.config.first_event_id.wrapping_add(self.adjusted_number(n))
    }

    /// The kind of event number `n`, without generating it.
    ///
    /// ```
    /// use highwater::nexmark::{EventKind, Generator};
    /// let generator = Generator::default();
    /// let kinds: Vec<EventKind> = (0..5).map(|n| generator.kind(n)).collect();
    /// use EventKind::*;
    /// assert_eq!(kinds, [Person, Auction, Auction, Auction, Bid]);
    /// ```
    #[inline]
    pub fn kind(&self, n: u64) -> EventKind {
        kind_of_id(self.event_id(n))
    }

    /// The event time of event number `n`, in milliseconds: non-decreasing in `n` when
    /// events are in order.
    ///
    /// ```
    /// use highwater::nexmark::{Generator, BASE_TIME_MS};
    /// let generator = Generator::default();
    /// assert_eq!(generator.timestamp(0), BASE_TIME_MS);
    /// assert_eq!(generator.timestamp(10_000), BASE_TIME_MS + 1_000);
    /// ```
    #[inline]
    pub fn timestamp(&self, n: u64) -> i64 {
        self.timeline.time_and_delay(self.adjusted_number(n)).0
    }

    /// A lower bound on the event times of events `n` and later: the watermark a source
    /// may emit once it has emitted every event before `n` (Beam's
    /// `nextEventNumberForWatermark`). Equal to [`timestamp`](Self::timestamp) when events
    /// are in order.
    pub fn watermark(&self, n: u64) -> i64 {
        let group = self.config.out_of_order_group_size;
        self.timeline.time_and_delay((n / group) * group).0
    }

    /// The delay between event `n` and the next, in microseconds, before rounding times to
    /// milliseconds: 100 at the default 10 000 events per second.
    pub fn inter_event_delay_us(&self, n: u64) -> i64 {
        self.timeline.time_and_delay(n).1
    }

    /// The seed of an event's random draws.
    #[inline]
    fn random_for(&self, event_id: u64) -> JavaRandom {
        JavaRandom::new((event_id ^ self.config.seed) as i64)
    }

    /// Event number `n`: a person, an auction or a bid, depending on `n % 50`.
    pub fn event(&self, n: u64) -> Event {
        let number = self.adjusted_number(n);
        let id = self.config.first_event_id.wrapping_add(number);
        let time = self.timeline.time_and_delay(number).0;
        let mut random = self.random_for(id);
        match kind_of_id(id) {
            EventKind::Person => Event::Person(Box::new(self.person(id as i64, &mut random, time))),
            EventKind::Auction => Event::Auction(Box::new(self.auction(number, id as i64, &mut random, time))),
            EventKind::Bid => Event::Bid(self.bid(id as i64, &mut random, time)),
        }
    }

    /// The auction, bidder, price and time of event `n` if it is a bid: the same numbers
    /// as [`event`](Self::event)'s bid, without building its strings.
    ///
    /// ```
    /// use highwater::nexmark::{BidRow, Event, Generator};
    /// let generator = Generator::default();
    /// let Event::Bid(bid) = generator.event(7) else { unreachable!() };
    /// assert_eq!(generator.bid_row(7), Some(BidRow::from(&bid)));
    /// assert_eq!(generator.bid_row(0), None); // a person
    /// ```
    #[inline]
    pub fn bid_row(&self, n: u64) -> Option<BidRow> {
        let number = self.adjusted_number(n);
        let id = self.config.first_event_id.wrapping_add(number);
        if kind_of_id(id) != EventKind::Bid {
            return None;
        }
        let date_time = self.timeline.time_and_delay(number).0;
        let (auction, bidder, price) = self.bid_numbers(id as i64, &mut self.random_for(id));
        Some(BidRow { auction, bidder, price, date_time })
    }

    /// The events numbered `range.start` to `range.end - 1`, in order.
    pub fn events(&self, range: Range<u64>) -> Events {
        self.share(range, Split::Contiguous, 0, 1)
    }

    /// Worker `worker`'s share of the events numbered in `range`, out of `workers`
    /// workers. The shares of all workers are exactly the events of `range`, whatever
    /// the split and the worker count.
    ///
    /// ```
    /// use highwater::nexmark::{Generator, Split};
    /// let generator = Generator::default();
    /// let mut all: Vec<i64> = (0..3)
    ///     .flat_map(|w| generator.share(0..100, Split::Interleaved, w, 3))
    ///     .map(|event| event.date_time())
    ///     .collect();
    /// all.sort();
    /// let alone: Vec<i64> = generator.events(0..100).map(|event| event.date_time()).collect();
    /// assert_eq!(all, alone);
    /// ```
    ///
    /// # Panics
    /// If `worker >= workers`.
    pub fn share(&self, range: Range<u64>, split: Split, worker: usize, workers: usize) -> Events {
        Events { generator: self.clone(), numbers: split.share(range, worker, workers) }
    }

    fn person(&self, event_id: i64, random: &mut JavaRandom, time: i64) -> Person {
        let id = last_base0_person_id(event_id) as u64 + FIRST_PERSON_ID;
        let name = format!(
            "{} {}",
            FIRST_NAMES[random.next_int_bounded(FIRST_NAMES.len() as i32) as usize],
            LAST_NAMES[random.next_int_bounded(LAST_NAMES.len() as i32) as usize]
        );
        let email_address = {
            let user = next_string(random, 7);
            let domain = next_string(random, 5);
            format!("{user}@{domain}.com")
        };
        let credit_card = {
            let groups: [i32; 4] = std::array::from_fn(|_| random.next_int_bounded(10_000));
            format!("{:04} {:04} {:04} {:04}", groups[0], groups[1], groups[2], groups[3])
        };
        let city = US_CITIES[random.next_int_bounded(US_CITIES.len() as i32) as usize].to_owned();
        let state = US_STATES[random.next_int_bounded(US_STATES.len() as i32) as usize].to_owned();
        let current_size = 8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
        let extra = next_extra(random, current_size as i32, self.config.avg_person_byte_size as i32);
        Person { id, name, email_address, credit_card, city, state, date_time: time, extra }
    }

    fn auction(&self, number: u64, event_id: i64, random: &mut JavaRandom, time: i64) -> Auction {
        let id = last_base0_auction_id(event_id) as u64 + FIRST_AUCTION_ID;
        // P(the hot seller) = 1 − 1/hot_sellers_ratio: the first person of the latest
        // batch of HOT_SELLER_RATIO.
        let seller_base0 = if random.next_int_bounded(self.config.hot_sellers_ratio as i32) > 0 {
            (last_base0_person_id(event_id) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO
        } else {
            self.next_base0_person_id(event_id, random)
        };
        let seller = seller_base0 as u64 + FIRST_PERSON_ID;
        let category = FIRST_CATEGORY_ID + random.next_int_bounded(NUM_CATEGORIES) as u64;
        let initial_bid = next_price(random);
        let expires = time + self.next_auction_length_ms(number, random, time);
        let item_name = next_string(random, 20);
        let description = next_string(random, 100);
        let reserve = initial_bid + next_price(random);
        let current_size = 8 + item_name.len() + description.len() + 8 + 8 + 8 + 8 + 8;
        let extra = next_extra(random, current_size as i32, self.config.avg_auction_byte_size as i32);
        Auction { id, item_name, description, initial_bid, reserve, date_time: time, expires, seller, category, extra }
    }

    fn bid(&self, event_id: i64, random: &mut JavaRandom, time: i64) -> Bid {
        let (auction, bidder, price) = self.bid_numbers(event_id, random);
        let (channel, url) = next_channel(random);
        // Beam sizes a bid as its four numbers, channel and url not counted.
        let extra = next_extra(random, 8 + 8 + 8 + 8, self.config.avg_bid_byte_size as i32);
        Bid { auction, bidder, price, channel: Cow::Borrowed(channel), url: Cow::Borrowed(url), date_time: time, extra }
    }

    /// The first draws of a bid: its auction, bidder and price.
    #[inline]
    fn bid_numbers(&self, event_id: i64, random: &mut JavaRandom) -> (u64, u64, u64) {
        // P(the hot auction) = 1 − 1/hot_auction_ratio: the first auction of the latest
        // batch of HOT_AUCTION_RATIO.
        let auction_base0 = if random.next_int_bounded(self.config.hot_auction_ratio as i32) > 0 {
            (last_base0_auction_id(event_id) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO
        } else {
            self.next_base0_auction_id(event_id, random)
        };
        // P(the hot bidder) = 1 − 1/hot_bidders_ratio: the *second* person of the latest
        // batch, so that hot bidders and hot sellers differ.
        let bidder_base0 = if random.next_int_bounded(self.config.hot_bidders_ratio as i32) > 0 {
            (last_base0_person_id(event_id) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1
        } else {
            self.next_base0_person_id(event_id, random)
        };
        let price = next_price(random);
        (auction_base0 as u64 + FIRST_AUCTION_ID, bidder_base0 as u64 + FIRST_PERSON_ID, price)
    }

    /// A random recent person (base 0): one of the last `num_active_people`, or up to
    /// PERSON_ID_LEAD not created yet (Beam's `nextBase0PersonId`).
    fn next_base0_person_id(&self, event_id: i64, random: &mut JavaRandom) -> i64 {
        let num_people = last_base0_person_id(event_id) + 1;
        let active_people = num_people.min(self.config.num_active_people.into());
        let n = next_long(random, active_people + PERSON_ID_LEAD);
        num_people - active_people + n
    }

    /// A random in-flight auction (base 0): one of the last `num_in_flight_auctions`, or up
    /// to AUCTION_ID_LEAD not created yet (Beam's `nextBase0AuctionId`).
    fn next_base0_auction_id(&self, event_id: i64, random: &mut JavaRandom) -> i64 {
        let max_auction = last_base0_auction_id(event_id);
        let min_auction = (max_auction - i64::from(self.config.num_in_flight_auctions)).max(0);
        min_auction + next_long(random, max_auction - min_auction + 1 + AUCTION_ID_LEAD)
    }

    /// How long an auction runs, in milliseconds: uniform up to twice the time until
    /// `num_in_flight_auctions` more auctions have opened, so that about that many are
    /// open at once (Beam's `nextAuctionLengthMs`).
    fn next_auction_length_ms(&self, number: u64, random: &mut JavaRandom, time: i64) -> i64 {
        let events_for_auctions =
            (i64::from(self.config.num_in_flight_auctions) * PROPORTION_DENOMINATOR as i64) / AUCTION_PROPORTION as i64;
        let future_auction = self.timeline.time_and_delay(number + events_for_auctions as u64).0;
        let horizon_ms = future_auction - time;
        1 + next_long(random, (horizon_ms * 2).max(1))
    }
}

/// The kind of the event with id `event_id`.
#[inline]
fn kind_of_id(event_id: u64) -> EventKind {
    let rem = event_id % PROPORTION_DENOMINATOR;
    if rem < PERSON_PROPORTION {
        EventKind::Person
    } else if rem < PERSON_PROPORTION + AUCTION_PROPORTION {
        EventKind::Auction
    } else {
        EventKind::Bid
    }
}

/// The last person id (base 0) created at or before event `event_id`: the new person's
/// own id if the event is a person (Beam's `lastBase0PersonId`).
#[inline]
fn last_base0_person_id(event_id: i64) -> i64 {
    let epoch = event_id / PROPORTION_DENOMINATOR as i64;
    let mut offset = event_id % PROPORTION_DENOMINATOR as i64;
    if offset >= PERSON_PROPORTION as i64 {
        // An auction or a bid: the person of this epoch.
        offset = PERSON_PROPORTION as i64 - 1;
    }
    epoch * PERSON_PROPORTION as i64 + offset
}

/// The last auction id (base 0) created at or before event `event_id`: the new auction's
/// own id if the event is an auction (Beam's `lastBase0AuctionId`).
#[inline]
fn last_base0_auction_id(event_id: i64) -> i64 {
    let (person, auction) = (PERSON_PROPORTION as i64, AUCTION_PROPORTION as i64);
    let mut epoch = event_id / PROPORTION_DENOMINATOR as i64;
    let mut offset = event_id % PROPORTION_DENOMINATOR as i64;
    if offset < person {
        // A person: the last auction of the previous epoch.
        epoch -= 1;
        offset = auction - 1;
    } else if offset >= person + auction {
        // A bid: the last auction of this epoch.
        offset = auction - 1;
    } else {
        // An auction.
        offset -= person;
    }
    epoch * auction + offset
}

/// Uniform in `[0, n)` (Beam's `LongGenerator.nextLong`): `nextInt` when `n` fits an
/// `int`, else Beam's skewed `|nextLong() % n|`, kept for fidelity.
#[inline]
fn next_long(random: &mut JavaRandom, n: i64) -> i64 {
    if n < i64::from(i32::MAX) {
        i64::from(random.next_int_bounded(n as i32))
    } else {
        (random.next_long() % n).wrapping_abs()
    }
}

/// How a range of event numbers is divided between workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Split {
    /// Worker `w` of `W` takes the `w`-th of `W` consecutive slices: its events come in
    /// time order, and the slices meet in time.
    #[default]
    Contiguous,
    /// Worker `w` of `W` takes the numbers `n ≡ start + w (mod W)`: every worker's events
    /// cover the whole time range, like parallel sources reading one stream.
    Interleaved,
}

impl Split {
    /// The event numbers of `range` that worker `worker` of `workers` generates.
    ///
    /// ```
    /// use highwater::nexmark::Split;
    /// assert_eq!(Split::Contiguous.share(0..10, 1, 3).collect::<Vec<_>>(), [3, 4, 5]);
    /// assert_eq!(Split::Interleaved.share(0..10, 1, 3).collect::<Vec<_>>(), [1, 4, 7]);
    /// ```
    ///
    /// # Panics
    /// If `worker >= workers`.
    pub fn share(self, range: Range<u64>, worker: usize, workers: usize) -> StepBy<Range<u64>> {
        assert!(worker < workers, "worker {worker} of {workers}: the worker index must be below the worker count");
        let (start, end) = (range.start, range.end.max(range.start));
        match self {
            Split::Contiguous => {
                let len = u128::from(end - start);
                let bound = |w: usize| start + (len * w as u128 / workers as u128) as u64;
                (bound(worker)..bound(worker + 1)).step_by(1)
            }
            Split::Interleaved => (start.saturating_add(worker as u64).min(end)..end).step_by(workers),
        }
    }
}

/// An iterator over generated events: [`Generator::events`], [`Generator::share`].
#[derive(Clone, Debug)]
pub struct Events {
    generator: Generator,
    numbers: StepBy<Range<u64>>,
}

impl Iterator for Events {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.numbers.next().map(|n| self.generator.event(n))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.numbers.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_ids_follow_the_kind_pattern() {
        // Event 0 is person 0; events 1..=3 are auctions 0..=2; bids see auction 2.
        assert_eq!(last_base0_person_id(0), 0);
        assert_eq!(last_base0_person_id(49), 0);
        assert_eq!(last_base0_person_id(50), 1);
        assert_eq!(last_base0_auction_id(1), 0);
        assert_eq!(last_base0_auction_id(3), 2);
        assert_eq!(last_base0_auction_id(4), 2);
        assert_eq!(last_base0_auction_id(50), 2);
        assert_eq!(last_base0_auction_id(51), 3);
        // Before any auction (Beam returns -1; no bid ever asks).
        assert_eq!(last_base0_auction_id(0), -1);
    }

    #[test]
    fn shuffled_groups_keep_their_numbers() {
        let config = GeneratorConfig { out_of_order_group_size: 10, ..GeneratorConfig::default() };
        let generator = Generator::new(config).unwrap();
        let mut ids: Vec<u64> = (0..10).map(|n| generator.event_id(n)).collect();
        assert_ne!(ids, (0..10).collect::<Vec<_>>());
        ids.sort();
        assert_eq!(ids, (0..10).collect::<Vec<_>>());
        assert!((0..10).all(|n| generator.watermark(n) <= generator.timestamp(n)));
    }

    #[test]
    fn shares_partition_the_range() {
        for split in [Split::Contiguous, Split::Interleaved] {
            for workers in 1..6 {
                let mut all: Vec<u64> = (0..workers).flat_map(|w| split.share(5..23, w, workers)).collect();
                all.sort();
                assert_eq!(all, (5..23).collect::<Vec<_>>(), "{split:?} at {workers}");
            }
            assert_eq!(split.share(5..5, 0, 2).count(), 0);
        }
    }
}
