//! Retractions that stay correct: windowed results as differential collections, with
//! second stages (reduce, join, rekey, filter) fed by early, on-time, late and merged
//! panes, compared with batch computations at 1 and 2 workers.

use highwater::pipeline::{run_with_clock, ChangeRow, Collector, Memory, RunConfig, Upsert, Windowing};
use highwater_operators::clock::VirtualClock;
use highwater_operators::combine::Count;
use highwater_operators::trigger::Trigger;
use highwater_operators::watermark::WatermarkStrategy;
use highwater_operators::window::{Window, WindowSpec};
use highwater_tests::{batch_counts, max_per_window, Bid, Bids};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// 3 partitions of bids, disordered by up to 59 ticks, so that with a watermark bound of 10
/// and an allowed lateness of 100 there are early, on-time and late panes.
fn bids() -> Vec<Vec<(i64, Bid)>> {
    BIDS.generate()
}

const BIDS: Bids =
    Bids { seed: 11, partitions: 3, per_partition: 1_500, auctions: 6, bidders: 3, period: 3, disorder: 59, start: 0 };

fn source(batch: usize) -> Memory<Bid> {
    Memory::new(bids(), WatermarkStrategy::bounded(Duration::from_millis(10))).batch_size(batch)
}

/// Accumulates change rows (in arrival order) into the final collection.
fn accumulate<K: Ord + Clone, V: Ord + Clone>(rows: &[ChangeRow<K, V>]) -> BTreeMap<(K, Window, V), isize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry((r.key.clone(), r.window, r.value.clone())).or_insert(0) += r.diff;
    }
    m.retain(|_, d| *d != 0);
    m
}

fn windowing(mode: &str) -> Windowing {
    let trigger = Trigger::after_watermark().with_early(Trigger::after_count(5)).with_late(Trigger::after_count(1));
    let w = Windowing::sliding(Duration::from_millis(100), Duration::from_millis(25))
        .trigger(trigger)
        .allowed_lateness(Duration::from_millis(100));
    match mode {
        "retracting" => w.retracting(),
        _ => w.accumulating(),
    }
}

/// q5-style: counts per auction (stage 1), then the hot auctions per window (stage 2).
#[test]
fn hot_items_equal_the_batch_answer_and_never_show_a_superseded_count() {
    // The batch answer: none dropped, the lateness covers the disorder.
    let expected_counts =
        batch_counts(&WindowSpec::sliding(100, 25), bids().into_iter().flatten().map(|(t, b)| (b.auction, t)));
    let expected_hot = max_per_window(&expected_counts);
    for mode in ["retracting", "accumulating"] {
        for workers in [1, 2] {
            let stage1: TimedSink<ChangeRow<u32, u64>> = TimedSink::new();
            let stage2: TimedSink<ChangeRow<(), (u64, Vec<u32>)>> = TimedSink::new();
            let (s1, s2) = (stage1.clone(), stage2.clone());
            run_with_clock(RunConfig::workers(workers), Arc::new(VirtualClock::new(0)), move |p| {
                let counts = p
                    .read("bids", source(40))?
                    .map_to_keyed(|b: Bid| (b.auction, ()))
                    .window(windowing(mode))
                    .changelog("counts", Count)?;
                let hot = counts.clone().max_per_window(|n: &u64| *n);
                counts.into_rows().write(s1.clone());
                hot.into_rows().write(s2.clone());
                Ok(())
            })
            .unwrap();
            // Each change at the time it took effect.
            let mut rows1: Vec<_> = stage1.take().into_iter().map(|(_, r)| (r.time, r)).collect();
            let mut rows2: Vec<_> = stage2.take().into_iter().map(|(_, r)| (r.time, r)).collect();
            rows1.sort_by_key(|r| r.0);
            rows2.sort_by_key(|r| r.0);
            let r1: Vec<_> = rows1.iter().map(|r| r.1.clone()).collect();
            let r2: Vec<_> = rows2.iter().map(|r| r.1.clone()).collect();
            // Final collections equal the batch answers.
            let got_counts: BTreeMap<(u32, Window), u64> =
                accumulate(&r1).into_keys().map(|(k, w, v)| ((k, w), v)).collect();
            assert_eq!(got_counts, expected_counts, "{mode}, {workers} workers: stage 1");
            let got_hot: BTreeMap<Window, (u64, Vec<u32>)> =
                accumulate(&r2).into_keys().map(|((), w, v)| (w, v)).collect();
            assert_eq!(got_hot, expected_hot, "{mode}, {workers} workers: stage 2");
            // During the run: after every consolidated time, stage 2 is the hot items of
            // stage 1 as it stands — never an auction whose count was superseded.
            let times: std::collections::BTreeSet<_> =
                rows1.iter().map(|r| r.0).chain(rows2.iter().map(|r| r.0)).collect();
            let mut checked = 0;
            for t in times {
                let c1: Vec<_> = rows1.iter().filter(|r| r.0 <= t).map(|r| r.1.clone()).collect();
                let c2: Vec<_> = rows2.iter().filter(|r| r.0 <= t).map(|r| r.1.clone()).collect();
                let counts_now: BTreeMap<(u32, Window), u64> =
                    accumulate(&c1).into_keys().map(|(k, w, v)| ((k, w), v)).collect();
                let hot_now: BTreeMap<Window, (u64, Vec<u32>)> =
                    accumulate(&c2).into_keys().map(|((), w, v)| (w, v)).collect();
                assert_eq!(
                    hot_now,
                    max_per_window(&counts_now),
                    "{mode}, {workers} workers: inconsistent at time {t:?}"
                );
                checked += 1;
            }
            assert!(checked > 10, "several intermediate states were checked");
            let early = r1.iter().filter(|r| r.diff < 0).count();
            assert!(early > 0, "{mode}: refinements were retracted");
        }
    }
}

/// Records each row with the timely time it was produced at.
#[derive(Clone)]
struct TimedSink<T>(Arc<std::sync::Mutex<Vec<(highwater_operators::time::Time, T)>>>);

impl<T> TimedSink<T> {
    fn new() -> Self {
        TimedSink(Arc::new(std::sync::Mutex::new(Vec::new())))
    }
    fn take(&self) -> Vec<(highwater_operators::time::Time, T)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl<T: highwater::pipeline::Data> highwater::pipeline::Sink<T> for TimedSink<T> {
    fn attach(self, c: highwater::pipeline::Collection<'_, T>) {
        use timely::dataflow::channels::pact::Pipeline;
        use timely::dataflow::operators::generic::Operator;
        let out = self.0;
        c.stream().sink(Pipeline, "timed", move |(input, _)| {
            input.for_each(|cap, data| {
                let t = *cap.least().expect("a time");
                out.lock().unwrap().extend(data.drain(..).map(|(_, x)| (t, x)));
            });
        });
    }
}

#[test]
fn a_late_bid_that_changes_the_winner_retracts_the_old_winner() {
    // Window [0, 10): auction 1 gets 3 bids, auction 2 gets 2; the watermark passes 10
    // (on-time: winner 1); then two late bids for auction 2 (allowed lateness 100) make it
    // the winner: the second stage retracts 1 and emits 2.
    let part: Vec<(i64, Bid)> = vec![
        (1, Bid { auction: 1, bidder: 0, price: 0 }),
        (2, Bid { auction: 1, bidder: 0, price: 0 }),
        (3, Bid { auction: 1, bidder: 0, price: 0 }),
        (4, Bid { auction: 2, bidder: 0, price: 0 }),
        (5, Bid { auction: 2, bidder: 0, price: 0 }),
        (50, Bid { auction: 9, bidder: 0, price: 0 }),
        (51, Bid { auction: 9, bidder: 0, price: 0 }),
        (52, Bid { auction: 9, bidder: 0, price: 0 }),
        (6, Bid { auction: 2, bidder: 0, price: 0 }),
        (7, Bid { auction: 2, bidder: 0, price: 0 }),
    ];
    for workers in [1, 2] {
        let out: Collector<Upsert<(), (u64, Vec<u32>)>> = Collector::new();
        let sink = out.clone();
        let part = part.clone();
        run_with_clock(RunConfig::workers(workers), Arc::new(VirtualClock::new(0)), move |p| {
            let w = Windowing::fixed(Duration::from_millis(10))
                .trigger(Trigger::after_watermark().with_late(Trigger::after_count(1)))
                .allowed_lateness(Duration::from_millis(100))
                .retracting();
            p.read("bids", Memory::new(vec![part.clone()], WatermarkStrategy::Ascending).batch_size(1))?
                .map_to_keyed(|b: Bid| (b.auction, ()))
                .window(w)
                .changelog("counts", Count)?
                .max_per_window(|n: &u64| *n)
                .into_upserts()
                .write(sink.clone());
            Ok(())
        })
        .unwrap();
        let ups: Vec<_> = out
            .take()
            .into_iter()
            .map(|(_, u)| u)
            .filter(|u| matches!(u, Upsert::Upsert { window, .. } | Upsert::Delete { window, .. } if window.start == 0))
            .collect();
        let values: Vec<(u64, Vec<u32>)> = ups
            .iter()
            .filter_map(|u| match u {
                Upsert::Upsert { value, .. } => Some(value.clone()),
                Upsert::Delete { .. } => None,
            })
            .collect();
        assert_eq!(values.first(), Some(&(3, vec![1])), "{workers} workers: {ups:?}");
        assert_eq!(values.last(), Some(&(4, vec![2])), "{workers} workers: {ups:?}");
    }
}

/// q8-style: persons and auctions per tumbling window, joined on the seller; the late
/// auction joins once its pane arrives, and the join result is the batch join.
#[test]
fn windowed_join_on_window_and_key() {
    #[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
    enum Ev {
        Person { id: u32 },
        Auction { seller: u32, id: u32 },
    }
    let evs: Vec<(i64, Ev)> = (0..600)
        .map(|i| {
            let t = i as i64 * 2 + if i % 7 == 0 { -15 } else { 0 };
            let e = if i % 4 == 0 {
                Ev::Person { id: (i / 4) as u32 % 40 }
            } else {
                Ev::Auction { seller: (i * 7 % 40) as u32, id: i as u32 }
            };
            (t.max(0), e)
        })
        .collect();
    // The batch join: persons and auctions per (id, window), where both are there.
    let fixed = WindowSpec::fixed(100);
    let persons = batch_counts(
        &fixed,
        evs.iter().filter_map(|(t, e)| match e {
            Ev::Person { id } => Some((*id, *t)),
            _ => None,
        }),
    );
    let auctions = batch_counts(
        &fixed,
        evs.iter().filter_map(|(t, e)| match e {
            Ev::Auction { seller, .. } => Some((*seller, *t)),
            _ => None,
        }),
    );
    let expected: BTreeMap<(u32, Window), (u64, u64)> =
        persons.into_iter().filter_map(|(k, p)| auctions.get(&k).map(|a| (k, (p, *a)))).collect();
    for workers in [1, 2] {
        let out: Collector<ChangeRow<u32, (u64, u64)>> = Collector::new();
        let sink = out.clone();
        let evs = evs.clone();
        run_with_clock(RunConfig::workers(workers), Arc::new(VirtualClock::new(0)), move |p| {
            let w = Windowing::fixed(Duration::from_millis(100))
                .trigger(
                    Trigger::after_watermark().with_early(Trigger::after_count(3)).with_late(Trigger::after_count(1)),
                )
                .allowed_lateness(Duration::from_millis(50))
                .retracting();
            let events = p.read(
                "events",
                Memory::new(vec![evs.clone()], WatermarkStrategy::bounded(Duration::from_millis(5))).batch_size(8),
            )?;
            let persons = events
                .clone()
                .flat_map(|e| match e {
                    Ev::Person { id } => Some(id),
                    _ => None,
                })
                .map_to_keyed(|id| (id, ()))
                .window(w.clone())
                .changelog("persons", Count)?;
            let auctions = events
                .flat_map(|e| match e {
                    Ev::Auction { seller, .. } => Some(seller),
                    _ => None,
                })
                .map_to_keyed(|s| (s, ()))
                .window(w)
                .changelog("auctions", Count)?;
            persons.join(auctions).into_rows().write(sink.clone());
            Ok(())
        })
        .unwrap();
        let rows: Vec<_> = out.take().into_iter().map(|(_, r)| r).collect();
        let got: BTreeMap<(u32, Window), (u64, u64)> =
            accumulate(&rows).into_keys().map(|(k, w, v)| ((k, w), v)).collect();
        assert_eq!(got, expected, "{workers} workers");
        assert!(rows.iter().any(|r| r.diff < 0), "refinements were retracted through the join");
    }
}

/// Sessions merged by a bridging element retract the merged-away sessions' results
/// downstream too (accumulating mode: the changelog derives the retractions), and rekey /
/// filter / count / sum / top-k over the results stay equal to the batch answer.
#[test]
fn merged_sessions_and_every_downstream_operator() {
    let evs: Vec<(i64, Bid)> = {
        let mut v = Vec::new();
        for b in 0..5u32 {
            // Two sessions per bidder (gap 10), later bridged by a late element at 12.
            for t in [0i64, 4, 8, 30, 34] {
                v.push((t + b as i64, Bid { auction: b % 2, bidder: b, price: 0 }));
            }
        }
        v.sort_by_key(|x| x.0);
        // Late bridging elements: [b, 18+b) ∪ [15+b, 25+b) ∪ [24+b, 34+b) ∪ [30+b, 44+b).
        for b in 0..5u32 {
            v.push((15 + b as i64, Bid { auction: b % 2, bidder: b, price: 0 }));
            v.push((24 + b as i64, Bid { auction: b % 2, bidder: b, price: 0 }));
        }
        v
    };
    // Batch: with the bridging elements every bidder has one session [b, 44+b).
    for workers in [1, 2] {
        let rows: Collector<ChangeRow<u32, u64>> = Collector::new();
        let per_auction: Collector<ChangeRow<u32, (u32, u64)>> = Collector::new();
        let totals: Collector<ChangeRow<(), i64>> = Collector::new();
        let top: Collector<ChangeRow<(), Vec<(u32, u64)>>> = Collector::new();
        let smallest: Collector<ChangeRow<(), (u64, Vec<u32>)>> = Collector::new();
        let (a, b, c, d, e) = (rows.clone(), per_auction.clone(), totals.clone(), top.clone(), smallest.clone());
        let evs = evs.clone();
        run_with_clock(RunConfig::workers(workers), Arc::new(VirtualClock::new(0)), move |p| {
            let w = Windowing::sessions(Duration::from_millis(10))
                .trigger(
                    Trigger::after_watermark().with_early(Trigger::after_count(2)).with_late(Trigger::after_count(1)),
                )
                .allowed_lateness(Duration::from_millis(100))
                .accumulating();
            let sessions = p
                .read(
                    "bids",
                    Memory::new(vec![evs.clone()], WatermarkStrategy::bounded(Duration::from_millis(0))).batch_size(5),
                )?
                .map_to_keyed(|b: Bid| (b.bidder, b.auction))
                .window(w)
                .changelog("sessions", Count)?;
            sessions.clone().into_rows().write(a.clone());
            sessions.clone().rekey(|bidder, _| bidder % 2).filter(|_, _, (_, n)| *n > 0).into_rows().write(b.clone());
            sessions
                .clone()
                .map(|k, _w, v| (k, Window::GLOBAL, v))
                .sum_per_window(|n| *n as i64)
                .into_rows()
                .write(c.clone());
            sessions.clone().min_per_window(|n| *n).into_rows().write(e.clone());
            sessions.top_k_per_window(1, |n| *n).into_rows().write(d.clone());
            Ok(())
        })
        .unwrap();
        let rows: Vec<_> = rows.take().into_iter().map(|(_, r)| r).collect();
        let fin: BTreeMap<(u32, Window), u64> = accumulate(&rows).into_keys().map(|(k, w, v)| ((k, w), v)).collect();
        let expected: BTreeMap<(u32, Window), u64> =
            (0..5u32).map(|b| ((b, Window::new(b as i64, 44 + b as i64)), 7)).collect();
        assert_eq!(fin, expected, "{workers} workers: one merged session per bidder");
        assert!(
            rows.iter().any(|r| r.diff < 0 && r.window.end - r.window.start < 30),
            "{workers} workers: a merged-away session was retracted"
        );
        let pa: Vec<_> = per_auction.take().into_iter().map(|(_, r)| r).collect();
        assert_eq!(accumulate(&pa).len(), 5);
        let tot: Vec<_> = totals.take().into_iter().map(|(_, r)| r).collect();
        let tot: Vec<i64> = accumulate(&tot).into_keys().map(|(_, _, v)| v).collect();
        assert_eq!(tot, vec![35], "{workers} workers: sum over all sessions");
        let tp: Vec<_> = top.take().into_iter().map(|(_, r)| r).collect();
        assert_eq!(accumulate(&tp).len(), 5, "{workers} workers: one top-1 per session window");
        let sm: Vec<_> = smallest.take().into_iter().map(|(_, r)| r).collect();
        let sm: Vec<(Window, (u64, Vec<u32>))> = accumulate(&sm).into_keys().map(|(_, w, v)| (w, v)).collect();
        let expected_min: Vec<(Window, (u64, Vec<u32>))> =
            (0..5u32).map(|b| (Window::new(b as i64, 44 + b as i64), (7, vec![b]))).collect();
        assert_eq!(sm, expected_min, "{workers} workers: min per window over the merged sessions");
    }
}

/// Changelogs and their second stages in a job that takes checkpoints: a retracting
/// sliding count with early and late panes and its hot auctions (as upserts), sessions in
/// accumulating mode (the changelog derives the retractions) and their total, and a
/// discarding tumble's keys per window. A run at `first` workers, then — its newer half of
/// checkpoints removed, as if it had been killed in the middle — a run at `second` workers
/// restored from a checkpoint taken mid-stream: each file's rows sum to the collection a run
/// without checkpoints writes, every row once (none lost, none written twice), and the rows
/// before the cut are those the first run wrote. The changelogs saved their collections,
/// the second stages rebuilt from them, and the restored aggregates sent nothing before the
/// cut (a late pane of a window before the cut goes out at the cut, as it did in the run
/// that took the checkpoint).
#[test]
fn changelogs_restored_mid_stream_at_another_worker_count_write_the_rows_of_an_uninterrupted_run() {
    use highwater::pipeline::{run, JsonLines};
    use highwater::runtime::checkpoint::{CheckpointConfig, RunCheckpoints};
    use highwater_operators::strategy::Accumulation;
    let dir = highwater_tests::temp_dir("changelog-checkpoints");
    let lines = |path: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_to_string(path).unwrap().lines().map(String::from).collect();
        v.sort();
        v
    };
    let names = ["counts", "hot", "sessions", "total", "keys"];
    let files = |tag: &str| names.map(|n| dir.join(format!("{n}-{tag}.jsonl")));
    let job = |out: [std::path::PathBuf; 5], workers: usize, checkpoints: Option<RunCheckpoints>| {
        let config = RunConfig::workers(workers);
        let config = match checkpoints {
            Some(c) => config.checkpoints(c),
            None => config,
        };
        run(config, move |p| {
            // Slowed down, so that a run takes many checkpoints.
            let long = Bids { per_partition: 4_000, ..BIDS }.generate();
            let src = Memory::new(long, WatermarkStrategy::bounded(Duration::from_millis(10))).batch_size(10);
            let bids = p.read("bids", src)?.map(|b: Bid| {
                std::thread::sleep(Duration::from_micros(200));
                b
            });
            let counts = bids
                .clone()
                .map_to_keyed(|b: Bid| (b.auction, ()))
                .window(windowing("retracting"))
                .changelog("counts", Count)?;
            counts.clone().into_rows().write(JsonLines::file(&out[0]));
            counts.max_per_window(|n| *n).into_upserts().write(JsonLines::file(&out[1]));
            let sessions = bids
                .clone()
                .map_to_keyed(|b: Bid| (b.auction, b.bidder))
                .window(
                    Windowing::sessions(Duration::from_millis(4))
                        .trigger(
                            Trigger::after_watermark()
                                .with_early(Trigger::after_count(3))
                                .with_late(Trigger::after_count(1)),
                        )
                        .allowed_lateness(Duration::from_millis(100))
                        .accumulating(),
                )
                .changelog("sessions", Count)?;
            sessions.clone().into_rows().write(JsonLines::file(&out[2]));
            sessions
                .map(|k, w, n| {
                    // The sessions' counts summed per 200 ms of session start.
                    let start = w.start - w.start.rem_euclid(200);
                    (k, Window::new(start, start + 200), n)
                })
                .sum_per_window(|n| *n as i64)
                .into_rows()
                .write(JsonLines::file(&out[3]));
            bids.map_to_keyed(|b: Bid| (b.auction, ()))
                .window(Windowing::fixed(Duration::from_millis(50)))
                .aggregate("tumble", Count)?
                .changelog(Accumulation::Discarding)
                .count_per_window()
                .into_rows()
                .write(JsonLines::file(&out[4]));
            Ok(())
        })
        .unwrap()
    };
    // A row's progress time (its tick) depends on the worker count and on the cuts (a
    // source's stamps jump to a cut), so runs are compared by what the rows sum to: per
    // (key, window, value), each once in the collection (none lost, none written twice),
    // and the table the upserts leave. And the rows a restored run kept from before the
    // restore are exactly the rows stamped before the cut.
    let reference = files("reference");
    job(reference.clone(), 1, None);
    let expected: Vec<Collection> = reference.iter().map(|f| collection(f)).collect();
    // The sessions' latest panes are the batch sessions (the lateness covers the
    // disorder): the changelog derived every retraction in the order the panes came.
    let long = Bids { per_partition: 4_000, ..BIDS }.generate();
    let batch = batch_counts(&WindowSpec::sessions(4), long.into_iter().flatten().map(|(t, b)| (b.auction, t)));
    let batch: Collection = batch
        .into_iter()
        .map(|((k, w), n)| {
            (format!(r#"{{"key":{k},"window":{{"start":{},"end":{}}},"value":{n}}}"#, w.start, w.end), 1)
        })
        .collect();
    assert!(batch == expected[2], "the sessions of the reference run are not the batch sessions");
    let retracted = |f: &std::path::Path| std::fs::read_to_string(f).unwrap().contains("\"diff\":-1");
    assert!(retracted(&reference[0]) && retracted(&reference[2]), "the counts and the sessions were retracted");
    let check = |out: &[std::path::PathBuf; 5], what: &str| {
        for (i, file) in out.iter().enumerate() {
            let got = collection(file);
            let extra: Vec<_> = got.iter().filter(|(k, d)| expected[i].get(*k) != Some(d)).take(5).collect();
            let missing: Vec<_> = expected[i].iter().filter(|(k, d)| got.get(*k) != Some(d)).take(5).collect();
            assert!(extra.is_empty() && missing.is_empty(), "{file:?}, {what}: {extra:?} instead of {missing:?}");
            assert!(got.values().all(|d| *d == 1), "{file:?}, {what}");
        }
    };
    for (first, second) in [(2, 1), (1, 2)] {
        let out = files(&format!("{first}-{second}"));
        let store = dir.join(format!("checkpoints-{first}-{second}"));
        let checkpoints =
            |interval| RunCheckpoints::new(CheckpointConfig::new(&store).keep(100_000)).interval(interval).quiet();
        let summary = job(out.clone(), first, Some(checkpoints(Duration::ZERO)));
        assert!(summary.checkpoints >= 3, "{} checkpoints", summary.checkpoints);
        check(&out, &format!("with checkpoints at {first} worker(s)"));
        let before: Vec<Vec<String>> = out.iter().map(|f| lines(f)).collect();
        // Keep the older half of the checkpoints only.
        let mut taken: Vec<_> = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("chk-")))
            .collect();
        taken.sort();
        let kept = taken.len() / 2;
        for newer in &taken[kept..] {
            std::fs::remove_dir_all(newer).unwrap();
        }
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(taken[kept - 1].join("MANIFEST.json")).unwrap()).unwrap();
        let cut = (manifest["cut"]["wm"].as_u64().unwrap() ^ (1 << 63)) as i64;
        let summary = job(out.clone(), second, Some(checkpoints(Duration::from_secs(60))));
        assert_eq!(summary.restored_from, taken[kept - 1].file_name().and_then(|n| n.to_str()?[4..].parse().ok()));
        let what = format!("saved at {first} worker(s), restored at {second} from the cut at {cut} ms");
        check(&out, &what);
        let early = |rows: Vec<String>| -> Vec<String> {
            rows.into_iter()
                .filter(|r| {
                    serde_json::from_str::<serde_json::Value>(r).unwrap()["time"]["watermark"].as_i64().unwrap() < cut
                })
                .collect()
        };
        for i in [0, 2, 3, 4] {
            let kept = early(lines(&out[i]));
            assert!(!kept.is_empty(), "{:?}, {what}: rows before the cut", out[i]);
            assert_eq!(kept, early(before[i].clone()), "{:?}, {what}: the rows before the cut", out[i]);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

type Collection = BTreeMap<String, i64>;

/// The collection change rows (JSON lines) sum to (the table, if upserts): each `(key, window, value)` with its
/// summed diff, those that cancel out left out.
fn collection(path: &std::path::Path) -> Collection {
    if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("hot")) {
        return table(path).into_iter().map(|(k, v)| (format!("{k} {v}"), 1)).collect();
    }
    let mut m = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let mut row: serde_json::Value = serde_json::from_str(line).unwrap();
        let diff = row["diff"].as_i64().unwrap();
        let row = row.as_object_mut().unwrap();
        row.remove("diff");
        row.remove("time");
        *m.entry(serde_json::to_string(row).unwrap()).or_insert(0) += diff;
    }
    m.retain(|_, d| *d != 0);
    m
}

/// The table upserts and deletes (JSON lines, applied in the file's order) leave.
fn table(path: &std::path::Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let at = format!("{} {}", row["key"], row["window"]);
        match row["op"].as_str() {
            Some("upsert") => m.insert(at, row["value"].to_string()),
            _ => m.remove(&at),
        };
    }
    m
}

/// A window's count joined with the table's value: `((window, count), value)`.
type Enriched = ((Window, u64), u64);

/// A keyed changelog's current table (`Keyed::current_table`) from 3 partitions of
/// disordered changes — upserts and deletes, a key's older versions often arriving after
/// its newer ones — at 1 and 2 workers: at every progress time each key has at most one
/// value, the final table is each key's change with the greatest event time (the batch
/// answer), and a second stage joining windowed counts with it (the counts' windows
/// mapped to the global window) ends as the batch join.
#[test]
fn a_current_table_keeps_the_latest_version_by_event_time_and_joins_as_a_batch_would() {
    let changes = || {
        Bids {
            seed: 5,
            partitions: 3,
            per_partition: 1_000,
            auctions: 40,
            bidders: 3,
            period: 3,
            disorder: 59,
            start: 0,
        }
        .generate()
    };
    let version = |b: &Bid| (b.auction % 20, if b.price.is_multiple_of(7) { None } else { Some(b.price) });
    // The batch answer: per key, the change with the greatest (event time, value).
    let mut latest: BTreeMap<u32, (i64, Option<u64>)> = BTreeMap::new();
    for (t, b) in changes().into_iter().flatten() {
        let (k, v) = version(&b);
        let e = latest.entry(k).or_insert((t, v));
        if (t, v) > *e {
            *e = (t, v);
        }
    }
    let table: BTreeMap<u32, u64> = latest.iter().filter_map(|(k, (_, v))| v.map(|v| (*k, v))).collect();
    assert!(table.len() > 5 && table.len() < 20, "some keys deleted at the end: {table:?}");
    let counts =
        batch_counts(&WindowSpec::fixed(500), changes().into_iter().flatten().map(|(t, b)| (version(&b).0, t)));
    let joined: BTreeMap<(u32, Window, u64), u64> =
        counts.iter().filter_map(|((k, w), n)| table.get(k).map(|v| ((*k, *w, *n), *v))).collect();
    for workers in [1, 2] {
        let rows: Collector<ChangeRow<u32, u64>> = Collector::new();
        let enriched: Collector<ChangeRow<u32, Enriched>> = Collector::new();
        let (r, e) = (rows.clone(), enriched.clone());
        run_with_clock(RunConfig::workers(workers), Arc::new(VirtualClock::new(0)), move |p| {
            let src = Memory::new(changes(), WatermarkStrategy::bounded(Duration::from_millis(10))).batch_size(7);
            let changes = p.read("changes", src)?;
            let table = changes.clone().map_to_keyed(move |b: Bid| version(&b)).current_table("table")?;
            table.clone().into_rows().write(r.clone());
            let counts = changes
                .map_to_keyed(move |b: Bid| (version(&b).0, ()))
                .window(
                    Windowing::fixed(Duration::from_millis(500))
                        .allowed_lateness(Duration::from_millis(100))
                        .retracting(),
                )
                .changelog("counts", Count)?;
            counts.map(|k, w, n| (k, Window::GLOBAL, (w, n))).join(table).into_rows().write(e.clone());
            Ok(())
        })
        .unwrap();
        let mut rows: Vec<ChangeRow<u32, u64>> = rows.take().into_iter().map(|(_, r)| r).collect();
        rows.sort_by_key(|r| r.time);
        // At every time, each key has at most one value.
        let mut now: BTreeMap<(u32, u64), isize> = BTreeMap::new();
        let mut i = 0;
        let mut times = 0;
        while i < rows.len() {
            let t = rows[i].time;
            while i < rows.len() && rows[i].time == t {
                *now.entry((rows[i].key, rows[i].value)).or_insert(0) += rows[i].diff;
                i += 1;
            }
            now.retain(|_, d| *d != 0);
            assert!(now.values().all(|d| *d == 1), "{workers} worker(s), at {t:?}: {now:?}");
            let keys: Vec<u32> = now.keys().map(|(k, _)| *k).collect();
            assert!(keys.windows(2).all(|w| w[0] != w[1]), "{workers} worker(s), at {t:?}: a key with two values");
            times += 1;
        }
        assert!(times > 10, "{workers} worker(s): the table changed over {times} times");
        let got: BTreeMap<u32, u64> = now.into_keys().collect();
        assert_eq!(got, table, "{workers} worker(s): the final table");
        let enriched: Vec<_> = enriched.take().into_iter().map(|(_, r)| r).collect();
        assert!(enriched.iter().any(|r| r.diff < 0), "{workers} worker(s): the join was revised");
        let got: BTreeMap<(u32, Window, u64), u64> = accumulate(&enriched)
            .into_iter()
            .map(|((k, _, ((w, n), v)), d)| {
                assert_eq!(d, 1);
                ((k, w, n), v)
            })
            .collect();
        assert_eq!(got, joined, "{workers} worker(s): the enriched counts");
    }
}
