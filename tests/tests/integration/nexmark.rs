//! The Nexmark queries, written with the DSL, against naive batch computations on the same
//! generated events, at 1 and 2 workers.

use highwater::nexmark::queries::{self, QueryConfig};
use highwater::nexmark::{Bid, Event, Generator};
use highwater::pipeline::{run_with_clock, Collector, RunConfig};
use highwater_operators::clock::VirtualClock;
use highwater_operators::window::{Window, WindowSpec};
use highwater_tests::{batch_counts, group_by_window, max_per_window};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const EVENTS: u64 = 60_000;

fn all_bids() -> Vec<Bid> {
    Generator::default()
        .events(0..EVENTS)
        .filter_map(|e| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        })
        .collect()
}

/// Runs `query` over the generated events on `workers` workers, collecting its output.
fn run_query<T, F>(workers: usize, query: F) -> Vec<T>
where
    T: highwater::pipeline::Data,
    F: for<'s> Fn(
            highwater::pipeline::Collection<'s, Event>,
        ) -> Result<highwater::pipeline::Collection<'s, T>, highwater::pipeline::BuildError>
        + Send
        + Sync
        + 'static,
{
    let out = Collector::new();
    let sink = out.clone();
    let generator = Arc::new(Generator::default());
    run_with_clock(RunConfig::workers(workers), Arc::new(VirtualClock::new(0)), move |p| {
        let events = p.read("events", queries::events(generator.clone(), EVENTS, 4).batch_size(1_000))?;
        query(events)?.write(sink.clone());
        Ok(())
    })
    .expect("the query runs");
    out.take().into_iter().map(|(_, x)| x).collect()
}

#[test]
fn q0_passes_every_event_through() {
    for w in [1, 2] {
        let out = run_query(w, |e| Ok(queries::q0(e)));
        assert_eq!(out.len() as u64, EVENTS);
        let ids: BTreeSet<i64> = out.iter().map(|e| e.date_time()).collect();
        assert!(ids.len() > 1);
    }
}

#[test]
fn q1_converts_every_bid() {
    let mut expected: Vec<(u64, u64, u64)> =
        all_bids().into_iter().map(|b| (b.auction, b.bidder, b.price * 89 / 100)).collect();
    expected.sort();
    for w in [1, 2] {
        let mut got: Vec<(u64, u64, u64)> =
            run_query(w, |e| Ok(queries::q1(e))).into_iter().map(|b| (b.auction, b.bidder, b.price)).collect();
        got.sort();
        assert_eq!(got, expected, "{w} workers");
    }
}

#[test]
fn q2_selects_the_auctions() {
    let mut expected: Vec<(u64, u64)> =
        all_bids().into_iter().filter(|b| b.auction % 123 == 0).map(|b| (b.auction, b.price)).collect();
    expected.sort();
    assert!(!expected.is_empty());
    for w in [1, 2] {
        let mut got = run_query(w, |e| Ok(queries::q2(e, 123)));
        got.sort();
        assert_eq!(got, expected, "{w} workers");
    }
}

/// The batch answer of q5: per sliding window, the largest bid count and its auctions.
fn batch_hot_items(c: QueryConfig) -> BTreeMap<Window, (u64, Vec<u64>)> {
    let sliding = WindowSpec::sliding(c.window_size.as_millis() as i64, c.window_period.as_millis() as i64);
    max_per_window(&batch_counts(&sliding, all_bids().into_iter().map(|b| (b.auction, b.date_time))))
}

#[test]
fn q5_finds_the_hot_items_of_each_window() {
    let c = QueryConfig::default();
    let expected = batch_hot_items(c);
    for w in [1, 2] {
        let got: BTreeMap<Window, (u64, Vec<u64>)> = run_query(w, move |e| queries::q5(e, c))
            .into_iter()
            .map(|p| (p.key, (p.value.count, p.value.auctions)))
            .collect();
        assert_eq!(got, expected, "{w} workers");
    }
}

#[test]
fn q7_finds_the_highest_bids_of_each_window() {
    // Per fixed window: the highest price and the bids (auction, bidder) that have it.
    let windows = group_by_window(&WindowSpec::fixed(10_000), all_bids().into_iter().map(|b| ((), b.date_time, b)));
    let expected: BTreeMap<i64, (u64, Vec<(u64, u64)>)> = windows
        .into_iter()
        .map(|(((), w), bids)| {
            let max = bids.iter().map(|b| b.price).max().unwrap();
            let mut top: Vec<(u64, u64)> =
                bids.iter().filter(|b| b.price == max).map(|b| (b.auction, b.bidder)).collect();
            top.sort();
            (w.start, (max, top))
        })
        .collect();
    for w in [1, 2] {
        let got: BTreeMap<i64, (u64, Vec<(u64, u64)>)> = run_query(w, |e| queries::q7(e, QueryConfig::default()))
            .into_iter()
            .map(|p| (p.window.start, (p.value.price, p.value.bids)))
            .collect();
        assert_eq!(got, expected, "{w} workers");
    }
}

#[test]
fn q11_counts_bids_per_user_session() {
    let sessions = WindowSpec::sessions(QueryConfig::default().session_gap.as_millis() as i64);
    let expected = batch_counts(&sessions, all_bids().into_iter().map(|b| (b.bidder, b.date_time)));
    for w in [1, 2] {
        let got: BTreeMap<(u64, Window), u64> = run_query(w, |e| queries::q11(e, QueryConfig::default()))
            .into_iter()
            .map(|p| ((p.key, p.window), p.value))
            .collect();
        assert_eq!(got, expected, "{w} workers");
    }
}

#[test]
fn q12_with_a_still_clock_counts_everything_at_the_end() {
    let expected: BTreeMap<u64, u64> =
        batch_counts(&WindowSpec::Global, all_bids().into_iter().map(|b| (b.bidder, b.date_time)))
            .into_iter()
            .map(|((bidder, _), n)| (bidder, n))
            .collect();
    for w in [1, 2] {
        let got: BTreeMap<u64, u64> =
            run_query(w, |e| queries::q12(e, QueryConfig::default())).into_iter().map(|p| (p.key, p.value)).collect();
        assert_eq!(got, expected, "{w} workers");
    }
}

/// q5 in retracting mode on differential: the final hot items equal the batch answer, and
/// early panes reach the second stage before the watermark passes their window.
#[test]
fn q5_retracting_equals_the_batch_answer_and_early_panes_arrive_before_the_watermark() {
    use highwater::pipeline::{ChangeRow, Changelog};
    use highwater_operators::trigger::Trigger;
    let c = QueryConfig::default();
    let expected = batch_hot_items(c);
    for w in [1, 2] {
        // Early firings on counts (the virtual clock stands still in tests).
        let rows: Vec<ChangeRow<(), (u64, Vec<u64>)>> = run_query(w, move |e| {
            let hot: Changelog<'_, (), (u64, Vec<u64>)> =
                queries::q5_retracting(e, c, Trigger::after_count(200), Duration::from_secs(5))?;
            Ok(hot.into_rows())
        });
        let mut fin: BTreeMap<(Window, (u64, Vec<u64>)), isize> = BTreeMap::new();
        for r in &rows {
            *fin.entry((r.window, r.value.clone())).or_default() += r.diff;
        }
        fin.retain(|_, d| *d != 0);
        assert!(fin.values().all(|d| *d == 1));
        let got: BTreeMap<Window, (u64, Vec<u64>)> = fin.into_keys().collect();
        assert_eq!(got, expected, "{w} workers");
        let early = rows.iter().filter(|r| r.time.watermark() < r.window.end && r.diff > 0).count();
        let retracted = rows.iter().filter(|r| r.diff < 0).count();
        assert!(early > 0 && retracted > 0, "{w} workers: {early} early results, {retracted} retractions");
    }
}

/// q8: persons joined with the auctions they created in the same window.
#[test]
fn q8_joins_new_persons_with_their_auctions() {
    use highwater::pipeline::ChangeRow;
    // Per (id, fixed window): the person's name (the smallest, if several) and the number
    // of auctions the person created as a seller.
    let fixed = WindowSpec::fixed(10_000);
    let events: Vec<Event> = Generator::default().events(0..EVENTS).collect();
    let persons = group_by_window(
        &fixed,
        events.iter().filter_map(|e| match e {
            Event::Person(p) => Some((p.id, p.date_time, p.name.clone())),
            _ => None,
        }),
    );
    let sellers = batch_counts(
        &fixed,
        events.iter().filter_map(|e| match e {
            Event::Auction(a) => Some((a.seller, a.date_time)),
            _ => None,
        }),
    );
    let expected: BTreeMap<(u64, i64), (String, u64)> = persons
        .into_iter()
        .filter_map(|((id, w), names)| {
            let name = names.into_iter().min().unwrap();
            sellers.get(&(id, w)).map(|n| ((id, w.start), (name, *n)))
        })
        .collect();
    assert!(!expected.is_empty());
    for w in [1, 2] {
        let rows: Vec<ChangeRow<u64, (String, u64)>> =
            run_query(w, |e| Ok(queries::q8(e, QueryConfig::default())?.into_rows()));
        type Person = ((u64, i64), (String, u64));
        let mut fin: BTreeMap<Person, isize> = BTreeMap::new();
        for r in rows {
            *fin.entry(((r.key, r.window.start), r.value)).or_default() += r.diff;
        }
        fin.retain(|_, d| *d != 0);
        let got: BTreeMap<(u64, i64), (String, u64)> = fin.into_keys().collect();
        assert_eq!(got, expected, "{w} workers");
    }
}

/// q3: the auctions of category 10 by sellers in OR, ID or CA with the seller's name,
/// city and state — every such (person, auction) pair, whichever came first (the
/// persons are kept 600 s, longer than these events last).
#[test]
fn q3_suggests_local_items() {
    use highwater::nexmark::queries::NameCityStateId;
    let events: Vec<Event> = Generator::default().events(0..EVENTS).collect();
    let last = events.iter().map(|e| e.date_time()).max().unwrap() - events[0].date_time();
    assert!(last < queries::Q3_PERSON_KEPT_MS);
    let persons: BTreeMap<u64, (String, String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Person(p) if ["OR", "ID", "CA"].contains(&p.state.as_str()) => {
                Some((p.id, (p.name.clone(), p.city.clone(), p.state.clone())))
            }
            _ => None,
        })
        .collect();
    let mut expected: Vec<NameCityStateId> = events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) if a.category == 10 => persons.get(&a.seller).map(|(name, city, state)| {
                NameCityStateId { name: name.clone(), city: city.clone(), state: state.clone(), id: a.id }
            }),
            _ => None,
        })
        .collect();
    expected.sort();
    assert!(expected.len() > 10, "{} rows", expected.len());
    for w in [1, 2] {
        let mut got = run_query(w, queries::q3);
        got.sort();
        assert_eq!(got, expected, "{w} workers");
    }
}

/// The batch winning bids: per auction, the highest bid at or above the reserve made while
/// it was open, the earlier at the same price, then the lower bidder.
fn batch_winning_bids() -> Vec<(highwater::nexmark::Auction, Bid)> {
    let events: Vec<Event> = Generator::default().events(0..EVENTS).collect();
    let bids = all_bids();
    events
        .iter()
        .filter_map(|e| match e {
            Event::Auction(a) => bids
                .iter()
                .filter(|b| {
                    b.auction == a.id && a.date_time <= b.date_time && b.date_time < a.expires && b.price >= a.reserve
                })
                .max_by_key(|b| (b.price, -b.date_time, std::cmp::Reverse(b.bidder)))
                .map(|b| ((**a).clone(), b.clone())),
            _ => None,
        })
        .collect()
}

/// q9: each auction's winning bid — the highest bid at or above the reserve made while it
/// was open, the earlier one at the same price (then the lower bidder) — at 1 and 2
/// workers. Auctions that close after the last event close at the end of input.
#[test]
fn q9_finds_each_auctions_winning_bid() {
    use highwater::nexmark::AuctionBid;
    let mut expected: Vec<(u64, u64, u64, i64)> =
        batch_winning_bids().into_iter().map(|(a, b)| (a.id, b.bidder, b.price, b.date_time)).collect();
    expected.sort();
    assert!(expected.len() > 100, "{} winners", expected.len());
    for w in [1, 2] {
        let rows: Vec<AuctionBid> = run_query(w, queries::q9);
        let mut got: Vec<(u64, u64, u64, i64)> =
            rows.iter().map(|r| (r.auction.id, r.bid.bidder, r.bid.price, r.bid.date_time)).collect();
        got.sort();
        assert_eq!(got, expected, "{w} workers");
        assert!(rows.iter().all(|r| r.bid.auction == r.auction.id));
    }
}

/// q4: the mean winning price per category in sliding windows (10 s every 2 s) of the
/// auctions' closing times (their last open millisecond), at 1 and 2 workers.
#[test]
fn q4_averages_the_winning_prices_per_category() {
    use highwater::nexmark::queries::CategoryPrice;
    let winners = batch_winning_bids().into_iter().map(|(a, b)| (a.category, a.expires - 1, b.price as f64));
    let mut expected: Vec<CategoryPrice> = group_by_window(&WindowSpec::sliding(10_000, 2_000), winners)
        .into_iter()
        .map(|((category, _), prices)| {
            let mean = prices.iter().sum::<f64>() / prices.len() as f64;
            CategoryPrice { category, price: mean.round() as u64, is_last: true }
        })
        .collect();
    expected.sort();
    assert!(expected.len() > 20, "{} rows", expected.len());
    for w in [1, 2] {
        let mut got = run_query(w, |e| queries::q4(e, QueryConfig::default()));
        got.sort();
        assert_eq!(got, expected, "{w} workers");
    }
}

/// q6: on each winning bid, the mean price of the seller's 10 latest winning bids (by bid
/// time, then price): one row per winning bid, the same at 1 and 2 workers, and each
/// seller's last row the mean of their 10 latest.
#[test]
fn q6_averages_each_sellers_last_ten_winning_prices() {
    use highwater::nexmark::queries::SellerPrice;
    let mut per_seller: BTreeMap<u64, Vec<(i64, u64)>> = BTreeMap::new();
    for (a, b) in batch_winning_bids() {
        per_seller.entry(a.seller).or_default().push((b.date_time, b.price));
    }
    let last_mean: BTreeMap<u64, u64> = per_seller
        .iter()
        .map(|(s, bids)| {
            let mut bids = bids.clone();
            bids.sort();
            let last = &bids[bids.len().saturating_sub(10)..];
            (*s, (last.iter().map(|b| b.1).sum::<u64>() as f64 / last.len() as f64).round() as u64)
        })
        .collect();
    assert!(per_seller.values().any(|b| b.len() > 10), "a seller with more than 10 winning bids");
    let mut first: Option<Vec<(i64, SellerPrice)>> = None;
    for w in [1, 2] {
        let out = Collector::new();
        let sink = out.clone();
        let generator = Arc::new(Generator::default());
        run_with_clock(RunConfig::workers(w), Arc::new(VirtualClock::new(0)), move |p| {
            let events = p.read("events", queries::events(generator.clone(), EVENTS, 4).batch_size(1_000))?;
            queries::q6(events)?.write(sink.clone());
            Ok(())
        })
        .expect("q6 runs");
        let mut rows = out.take();
        rows.sort();
        let mut last: BTreeMap<u64, (i64, u64)> = BTreeMap::new();
        let mut count: BTreeMap<u64, usize> = BTreeMap::new();
        for (t, r) in &rows {
            *count.entry(r.seller).or_default() += 1;
            let e = last.entry(r.seller).or_insert((*t, r.price));
            if *t >= e.0 {
                *e = (*t, r.price);
            }
        }
        let rows_per_seller: BTreeMap<u64, usize> = per_seller.iter().map(|(s, b)| (*s, b.len())).collect();
        assert_eq!(count, rows_per_seller, "{w} workers");
        // A seller's last row, when no two of their auctions close at once.
        for (s, (t, price)) in &last {
            if rows.iter().filter(|(t2, r)| r.seller == *s && t2 == t).count() == 1 {
                assert_eq!(*price, last_mean[s], "seller {s}, {w} workers");
            }
        }
        match &first {
            None => first = Some(rows),
            Some(one) => assert_eq!(&rows, one, "the same rows at 1 and 2 workers"),
        }
    }
}
