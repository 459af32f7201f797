//! The joins through the DSL: the window, interval and temporal joins of two random
//! out-of-order bid streams against the batch joins at 1, 2 and 4 workers, a too-late
//! record a dead letter of kind `too_late`; a window join's early, on-time, late and
//! too-late records scripted; restored from a mid-run checkpoint at another worker count;
//! bad joins refused when the pipeline is built, and an input without its key a dead
//! letter.

use highwater::model::join::{JoinKind, Side, WindowJoin};
use highwater::pipeline::{
    run, run_with_clock, BuildError, Collection, Collector, DeadLetter, DeadLetterKind, Keyed, Memory, PipelineError,
    RunConfig, Windowing,
};
use highwater::testing::TestStream;
use highwater_operators::strategy::WindowingStrategy;
use highwater_operators::watermark::WatermarkStrategy;
use highwater_operators::window::WindowSpec;
use highwater_tests::{batch_interval_join, batch_temporal_join, batch_window_join, Bids};
use std::sync::Arc;
use std::time::Duration;

/// A bid as a join sees it: (its event time, bidder, price), keyed by auction.
type Val = (i64, u32, u64);
/// Partitions of `(event time, (auction, bid))`.
type Parts = Vec<Vec<(i64, (u32, Val))>>;

/// Three partitions of bids over `auctions` auctions, out of order by up to 49 ms (inside
/// the sources' 100 ms bound, so none is late), one every 10 ms per partition.
fn bids(seed: u64, per_partition: usize, auctions: u32) -> Parts {
    Bids { seed, partitions: 3, per_partition, auctions, bidders: 5, period: 10, disorder: 49, start: 0 }
        .generate()
        .into_iter()
        .map(|p| p.into_iter().map(|(t, b)| (t, (b.auction, (t, b.bidder, b.price)))).collect())
        .collect()
}

/// The left stream: bids of seed 1, and at the end of partition 0 a bid at 0, long
/// behind the watermark: too late for every join.
fn left(per_partition: usize, auctions: u32) -> Parts {
    let mut parts = bids(1, per_partition, auctions);
    parts[0].push((0, (0, (0, 99, 99))));
    parts
}

/// The right stream: bids of seed 2, at most one per auction and event time (so a table
/// made of them has no two changes of a key at one time).
fn right(per_partition: usize, auctions: u32) -> Parts {
    let mut seen = std::collections::BTreeSet::new();
    bids(2, per_partition, auctions)
        .into_iter()
        .map(|p| p.into_iter().filter(|(t, (a, _))| seen.insert((*a, *t))).collect())
        .collect()
}

/// The on-time records of `parts` as `(key, event time, value)`, without the late one.
fn records(parts: &Parts) -> Vec<(u32, i64, Val)> {
    parts.iter().flatten().filter(|(_, (_, v))| v.1 != 99).map(|(t, (a, v))| (*a, *t, *v)).collect()
}

/// The table of the temporal join: the right bids as changes, a price divisible by 5 a
/// delete.
fn as_change(v: Val) -> Option<u64> {
    (!v.2.is_multiple_of(5)).then_some(v.2)
}

type Sides<'s> = (Keyed<'s, u32, Val>, Keyed<'s, u32, Val>);

/// Runs `join` over the left and right streams at `workers`: its rows (sorted) and the
/// dead letters.
fn run_join<O: highwater::pipeline::Data + Ord>(
    workers: usize,
    per_partition: usize,
    auctions: u32,
    join: impl for<'s> Fn(Sides<'s>) -> Result<Collection<'s, O>, BuildError> + Send + Sync + 'static,
) -> (Vec<(i64, O)>, Vec<DeadLetter>) {
    let (out, dead) = (Collector::new(), Collector::new());
    let (o, d) = (out.clone(), dead.clone());
    run(RunConfig::workers(workers), move |p| {
        p.dead_letters().write(d.clone());
        let bound = WatermarkStrategy::bounded(Duration::from_millis(100));
        let l = p.read_keyed("left", Memory::new(left(per_partition, auctions), bound).batch_size(50))?;
        let r = p.read_keyed("right", Memory::new(right(per_partition, auctions), bound).batch_size(50))?;
        join((l, r))?.write(o.clone());
        Ok(())
    })
    .unwrap();
    let mut out = out.take();
    out.sort();
    (out, dead.take().into_iter().map(|(_, d)| d).collect())
}

/// The one too-late record, from step `step`.
fn assert_one_too_late(dead: &[DeadLetter], step: &str) {
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!((dead[0].step.as_str(), dead[0].kind), (step, DeadLetterKind::TooLate));
    assert_eq!(dead[0].record, r#"{"Left":[0,99,99]}"#);
    let reason = &dead[0].reason;
    assert!(reason.starts_with("too late: the ") && reason.contains(" record at 0 is "), "{reason}");
}

#[test]
fn window_joins_are_the_batch_join_at_1_2_and_4_workers() {
    let cases = [
        (Windowing::fixed(Duration::from_millis(500)), WindowSpec::fixed(500), JoinKind::Inner),
        (
            Windowing::sliding(Duration::from_millis(600), Duration::from_millis(200)),
            WindowSpec::sliding(600, 200),
            JoinKind::Full,
        ),
    ];
    for (windowing, spec, kind) in cases {
        let expected = batch_window_join(&spec, kind, &records(&left(300, 40)), &records(&right(300, 40)));
        assert!(expected.len() > 1_000, "{} rows", expected.len());
        if kind == JoinKind::Full {
            assert!(expected.iter().any(|r| r.1.left.is_none()) && expected.iter().any(|r| r.1.right.is_none()));
        }
        for workers in [1, 2, 4] {
            let w = windowing.clone();
            let (rows, dead) = run_join(workers, 300, 40, move |(l, r)| l.window_join("bids-bids", r, w.clone(), kind));
            assert_eq!(rows, expected, "{spec} {kind} at {workers} worker(s)");
            assert_one_too_late(&dead, "bids-bids");
        }
    }
}

#[test]
fn interval_joins_are_the_batch_join_at_1_2_and_4_workers() {
    let expected = batch_interval_join(-150, 80, &records(&left(300, 20)), &records(&right(300, 20)));
    assert!(expected.len() > 1_000, "{} pairs", expected.len());
    for workers in [1, 2, 4] {
        let (rows, dead) = run_join(workers, 300, 20, |(l, r)| l.interval_join("bids-bids", r, -150, 80));
        assert_eq!(rows, expected, "{workers} worker(s)");
        assert_one_too_late(&dead, "bids-bids");
    }
}

#[test]
fn temporal_joins_are_the_batch_join_as_of_event_time_at_1_2_and_4_workers() {
    let table: Vec<_> = records(&right(300, 20)).into_iter().map(|(k, t, v)| (k, t, as_change(v))).collect();
    for kind in [JoinKind::Inner, JoinKind::Left] {
        let expected = batch_temporal_join(kind, &records(&left(300, 20)), &table);
        assert!(expected.len() > 500, "{} rows", expected.len());
        for workers in [1, 2, 4] {
            let (rows, dead) =
                run_join(workers, 300, 20, move |(l, r)| l.temporal_join("bids-as-of", r.map_values(as_change), kind));
            assert_eq!(rows, expected, "{kind} at {workers} worker(s)");
            assert_one_too_late(&dead, "bids-as-of");
        }
    }
}

#[test]
fn a_window_join_pairs_on_time_late_and_too_late_records_as_documented() {
    type In = (String, Side<String, u32>);
    let l = |k: &str, v: &str| -> In { (k.to_string(), Side::Left(v.to_string())) };
    let r = |k: &str, v: u32| -> In { (k.to_string(), Side::Right(v)) };
    // fixed(10 s), 5 s of allowed lateness, a left outer join.
    let stream = TestStream::new()
        .add_elements([(1_000, l("a", "a1")), (2_000, r("a", 1)), (3_000, l("b", "b1"))]) // early
        .advance_watermark_to(9_999) // the end of [0, 10 s) not passed yet
        .add_element(9_999, r("b", 2)) // on time, at the last moment
        .advance_watermark_to(10_000) // on-time rows
        .add_elements([(4_000, r("a", 3)), (5_000, l("c", "c1"))]) // late, within the lateness
        .advance_watermark_to(15_000) // gc at 14 999 passed: c1 comes out unmatched
        .add_element(6_000, r("a", 4)); // too late
    for workers in [1, 2] {
        let (out, dead) = (Collector::new(), Collector::<DeadLetter>::new());
        let (o, d) = (out.clone(), dead.clone());
        let stream = stream.clone();
        run_with_clock(RunConfig::workers(workers), Arc::new(stream.clock()), move |p| {
            p.dead_letters().write(d.clone());
            let strategy = WindowingStrategy::new(WindowSpec::fixed(10_000)).allowed_lateness(5_000).build().unwrap();
            let join = WindowJoin::new(&strategy, JoinKind::Left).unwrap();
            p.read_keyed("input", stream.clone())?.process("join", join.spec())?.write(o.clone());
            Ok(())
        })
        .unwrap();
        let mut rows: Vec<_> = out.take().into_iter().map(|(t, j)| (t, j.key, j.left, j.right)).collect();
        rows.sort();
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            rows,
            [
                (9_999, "a".to_string(), s("a1"), Some(1)),
                (9_999, "a".to_string(), s("a1"), Some(3)), // the late right's new pair only
                (9_999, "b".to_string(), s("b1"), Some(2)),
                (14_999, "c".to_string(), s("c1"), None), // unmatched: out when collected
            ],
            "{workers} worker(s)"
        );
        let dead = dead.take();
        assert_eq!(dead.len(), 1);
        assert_eq!((dead[0].1.kind, dead[0].1.record.as_str()), (DeadLetterKind::TooLate, r#"{"Right":4}"#));
        assert!(dead[0].1.reason.contains("past its window [0, 10000)"), "{}", dead[0].1.reason);
    }
}

#[test]
fn bad_joins_are_build_errors_naming_the_step_and_what_to_do() {
    let build = |which: u8| {
        run(RunConfig::workers(1), move |p| {
            let src = || Memory::new(vec![vec![(1, (1u32, (1i64, 1u32, 1u64)))]], WatermarkStrategy::Ascending);
            let (l, r) = (p.read_keyed("left", src())?, p.read_keyed("right", src())?);
            match which {
                0 => drop(l.window_join("j", r, Windowing::sessions(Duration::from_secs(1)), JoinKind::Inner)?),
                1 => drop(l.window_join(
                    "j",
                    r,
                    Windowing::fixed(Duration::from_secs(1)).accumulating(),
                    JoinKind::Inner,
                )?),
                2 => drop(l.interval_join("j", r, 10, -10)?),
                _ => drop(l.temporal_join("j", r.map_values(|_| Some(1)), JoinKind::Full)?),
            }
            Ok(())
        })
        .unwrap_err()
    };
    let messages: Vec<String> = (0..4)
        .map(|i| match build(i) {
            PipelineError::Build(e) => e.to_string(),
            other => panic!("a build error, not {other}"),
        })
        .collect();
    assert!(messages[0].starts_with("step `j`: a window join of merging windows"), "{}", messages[0]);
    assert!(messages[1].contains("drop .accumulating()"), "{}", messages[1]);
    assert_eq!(
        messages[2],
        "step `j`: an interval join's lower bound 10 is above the upper bound -10: no pair could match; swap them"
    );
    assert!(messages[3].contains("use JoinKind::Inner or JoinKind::Left"), "{}", messages[3]);
}

/// The three joins in one job writing three files, with checkpoints: a run at `first`
/// workers, then — its newer half of checkpoints removed, as if it had been killed in the
/// middle — a run at `second` workers restored from a checkpoint taken mid-stream, with
/// windows open, records waiting for partners and table versions kept. Each file then
/// holds exactly the rows of a run without checkpoints: the joins' state survived.
#[test]
fn joins_restored_mid_stream_at_another_worker_count_write_the_rows_of_an_uninterrupted_run() {
    use highwater::pipeline::JsonLines;
    use highwater::runtime::checkpoint::{CheckpointConfig, RunCheckpoints};
    let dir = highwater_tests::temp_dir("joins-checkpoints");
    let lines = |path: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_to_string(path).unwrap().lines().map(String::from).collect();
        v.sort();
        v
    };
    let files = |tag: &str| ["window", "interval", "temporal"].map(|j| dir.join(format!("{j}-{tag}.jsonl")));
    let job = |out: [std::path::PathBuf; 3], workers: usize, checkpoints: Option<RunCheckpoints>| {
        let config = RunConfig::workers(workers);
        let config = match checkpoints {
            Some(c) => config.checkpoints(c),
            None => config,
        };
        run(config, move |p| {
            let src = |parts: Parts| {
                Memory::new(parts, WatermarkStrategy::bounded(Duration::from_millis(100))).batch_size(10)
            };
            // Slowed down, so that a run takes many checkpoints.
            let slow = |v: Val| {
                std::thread::sleep(Duration::from_micros(20));
                v
            };
            let l1 = p.read_keyed("left-1", src(left(3_000, 30)))?.map_values(slow);
            let r1 = p.read_keyed("right-1", src(right(3_000, 30)))?;
            let (l2, r2) =
                (p.read_keyed("left-2", src(left(3_000, 30)))?, p.read_keyed("right-2", src(right(3_000, 30)))?);
            let (l3, r3) =
                (p.read_keyed("left-3", src(left(3_000, 30)))?, p.read_keyed("right-3", src(right(3_000, 30)))?);
            let fixed = Windowing::fixed(Duration::from_millis(400)).allowed_lateness(Duration::from_millis(100));
            l1.window_join("window", r1, fixed, JoinKind::Full)?.write(JsonLines::file(&out[0]));
            l2.interval_join("interval", r2, -100, 100)?.write(JsonLines::file(&out[1]));
            l3.temporal_join("temporal", r3.map_values(as_change), JoinKind::Left)?.write(JsonLines::file(&out[2]));
            Ok(())
        })
        .unwrap()
    };
    let reference = files("reference");
    job(reference.clone(), 1, None);
    let expected: Vec<Vec<String>> = reference.iter().map(|f| lines(f)).collect();
    assert!(expected.iter().all(|rows| rows.len() > 1_000), "{:?}", expected.iter().map(Vec::len).collect::<Vec<_>>());
    for (first, second) in [(2, 1), (1, 4)] {
        let out = files(&format!("{first}-{second}"));
        let store = dir.join(format!("checkpoints-{first}-{second}"));
        let checkpoints =
            |interval| RunCheckpoints::new(CheckpointConfig::new(&store).keep(100_000)).interval(interval).quiet();
        let summary = job(out.clone(), first, Some(checkpoints(Duration::ZERO)));
        assert!(summary.checkpoints >= 2, "{} checkpoints", summary.checkpoints);
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
        let summary = job(out.clone(), second, Some(checkpoints(Duration::from_secs(60))));
        assert_eq!(summary.restored_from, taken[kept - 1].file_name().and_then(|n| n.to_str()?[4..].parse().ok()));
        for (file, rows) in out.iter().zip(&expected) {
            assert_eq!(&lines(file), rows, "{file:?}: saved at {first}, restored at {second} worker(s)");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A join's input whose key cannot be read is a `malformed` dead letter of the keying
/// step, and the join goes on with the rest.
#[test]
fn a_join_input_without_its_key_is_a_dead_letter_and_the_join_goes_on() {
    let (out, dead) = (Collector::new(), Collector::<DeadLetter>::new());
    let (o, d) = (out.clone(), dead.clone());
    run(RunConfig::workers(2), move |p| {
        p.dead_letters().write(d.clone());
        let clicks = vec![(1_000, "ad-1,c1".to_string()), (2_000, ",c2".to_string()), (3_000, "ad-2,c3".to_string())];
        let impressions =
            vec![(500, ("ad-1".to_string(), "i1".to_string())), (600, ("ad-2".to_string(), "i2".to_string()))];
        let clicks = p.read("clicks", Memory::new(vec![clicks], WatermarkStrategy::Ascending))?.try_key_by(
            "click-ad",
            |line: &String| match line.split_once(',') {
                Some((ad, _)) if !ad.is_empty() => Ok(ad.to_string()),
                _ => Err("the first field, the ad, is empty"),
            },
        )?;
        let impressions = p.read_keyed("impressions", Memory::new(vec![impressions], WatermarkStrategy::Ascending))?;
        impressions.interval_join("impression-clicks", clicks, 0, 5_000)?.map(|j| (j.left, j.right)).write(o.clone());
        Ok(())
    })
    .unwrap();
    let mut pairs = out.take();
    pairs.sort();
    assert_eq!(
        pairs,
        [(1_000, ("i1".to_string(), "ad-1,c1".to_string())), (3_000, ("i2".to_string(), "ad-2,c3".to_string()))]
    );
    let dead = dead.take();
    assert_eq!(dead.len(), 1);
    let d = &dead[0].1;
    assert_eq!((d.step.as_str(), d.kind, d.record.as_str()), ("click-ad", DeadLetterKind::Malformed, "\",c2\""));
    assert_eq!(d.reason, "no key: the first field, the ad, is empty");
}

/// The co-group is the windowed aggregate of both sides: with early firings every 5
/// records, 200 ms of allowed lateness and accumulating panes, each (key, window)'s last
/// pane holds exactly the batch grouping of its records (each side sorted), every earlier
/// pane a part of it, at 1 and 2 workers; the too-late record is the step's one dead
/// letter. Retracting, the panes minus their retractions leave the same last panes.
#[test]
fn a_co_group_fires_early_and_its_last_panes_are_the_batch_grouping_at_1_and_2_workers() {
    use highwater::model::trigger::Trigger;
    use std::collections::BTreeMap;
    type Group = (Vec<Val>, Vec<Val>);
    let window = |t: i64| t - t.rem_euclid(500);
    let mut expected: BTreeMap<(u32, i64), Group> = BTreeMap::new();
    for (k, t, v) in records(&left(300, 40)) {
        expected.entry((k, window(t))).or_default().0.push(v);
    }
    for (k, t, v) in records(&right(300, 40)) {
        expected.entry((k, window(t))).or_default().1.push(v);
    }
    for g in expected.values_mut() {
        g.0.sort();
        g.1.sort();
    }
    let early = Trigger::after_watermark().with_early(Trigger::after_count(5)).with_late(Trigger::after_count(1));
    for retracting in [false, true] {
        for workers in [1, 2] {
            let e = early.clone();
            let (panes, dead) = run_join(workers, 300, 40, move |(l, r)| {
                let w = Windowing::fixed(Duration::from_millis(500))
                    .trigger(e.clone())
                    .allowed_lateness(Duration::from_millis(200));
                let w = if retracting { w.retracting() } else { w.accumulating() };
                Ok(l.co_group("cg", r, w)?.map(|p| {
                    let early = p.info.timing == highwater::model::pane::Timing::Early;
                    (p.key, p.window.start, p.value.left, p.value.right, p.info.index, early, p.retraction)
                }))
            });
            let what = format!("retracting {retracting}, {workers} worker(s)");
            let mut last: BTreeMap<(u32, i64), (u64, Group)> = BTreeMap::new();
            let mut live: BTreeMap<(u32, i64, Group), i64> = BTreeMap::new();
            let mut early_panes = 0;
            for (_, (key, start, mut left, mut right, index, early, retraction)) in panes {
                left.sort();
                right.sort();
                *live.entry((key, start, (left.clone(), right.clone()))).or_default() +=
                    if retraction { -1 } else { 1 };
                if retraction {
                    continue;
                }
                early_panes += usize::from(early);
                let whole = &expected[&(key, start)];
                assert!(
                    left.iter().all(|v| whole.0.binary_search(v).is_ok()),
                    "{what}: a pane holds a value of another window"
                );
                let e = last.entry((key, start)).or_insert((index, (left.clone(), right.clone())));
                if index >= e.0 {
                    *e = (index, (left, right));
                }
            }
            assert!(early_panes > 100, "{what}: {early_panes} early panes");
            let got: BTreeMap<(u32, i64), Group> = last.into_iter().map(|(k, (_, g))| (k, g)).collect();
            assert_eq!(got, expected, "{what}: the last panes");
            if retracting {
                // What stands after the retractions is the last pane of each window, once.
                let standing: BTreeMap<(u32, i64), Group> = live
                    .into_iter()
                    .filter(|(_, n)| *n != 0)
                    .map(|((k, w, g), n)| {
                        assert_eq!(n, 1, "{what}: a pane stands {n} times");
                        ((k, w), g)
                    })
                    .collect();
                assert_eq!(standing, expected, "{what}: the panes minus their retractions");
            }
            // The aggregate's dead letter: the record (a side of the co-group) and why.
            assert_eq!(dead.len(), 1, "{what}: {dead:?}");
            assert_eq!((dead[0].step.as_str(), dead[0].kind), ("cg", DeadLetterKind::TooLate), "{what}");
            assert!(dead[0].record.contains(r#"{"Left":[0,99,99]}"#), "{what}: {}", dead[0].record);
            assert!(dead[0].reason.starts_with("too late"), "{what}: {}", dead[0].reason);
        }
    }
}

/// A co-group of three collections (`co_group_all`): the left bids (with the one too-late
/// record), the right bids and a third stream, in sliding windows of 500 ms every 250 ms
/// with early firings every 5 records, late firings and 200 ms of allowed lateness. At 1
/// and 2 workers, accumulating and retracting, each (key, window)'s last pane holds the
/// batch grouping of the three (each side sorted), its inner join is every combination of
/// them, and — retracting — the panes minus their retractions leave exactly the last
/// panes; the too-late record is a dead letter of each of its two windows.
#[test]
fn a_co_group_of_three_collections_ends_as_the_batch_grouping_at_1_and_2_workers() {
    use highwater::model::trigger::Trigger;
    use std::collections::BTreeMap;
    type Group = Vec<Vec<Val>>;
    let third = || bids(3, 300, 40);
    let mut expected: BTreeMap<(u32, i64), Group> = BTreeMap::new();
    for (side, parts) in [left(300, 40), right(300, 40), third()].iter().enumerate() {
        for (k, t, v) in records(parts) {
            // Sliding windows of 500 every 250: the two starting at or before t.
            let start = t - t.rem_euclid(250);
            for s in [start - 250, start] {
                expected.entry((k, s)).or_insert_with(|| vec![Vec::new(); 3])[side].push(v);
            }
        }
    }
    for g in expected.values_mut() {
        g.iter_mut().for_each(|side| side.sort());
    }
    let early = Trigger::after_watermark().with_early(Trigger::after_count(5)).with_late(Trigger::after_count(1));
    for retracting in [false, true] {
        for workers in [1, 2] {
            let (out, dead) = (Collector::new(), Collector::new());
            let (o, d, e) = (out.clone(), dead.clone(), early.clone());
            run(RunConfig::workers(workers), move |p| {
                p.dead_letters().write(d.clone());
                let bound = WatermarkStrategy::bounded(Duration::from_millis(100));
                let l = p.read_keyed("left", Memory::new(left(300, 40), bound).batch_size(50))?;
                let r = p.read_keyed("right", Memory::new(right(300, 40), bound).batch_size(50))?;
                let t = p.read_keyed("third", Memory::new(third(), bound).batch_size(50))?;
                let w = Windowing::sliding(Duration::from_millis(500), Duration::from_millis(250))
                    .trigger(e.clone())
                    .allowed_lateness(Duration::from_millis(200));
                let w = if retracting { w.retracting() } else { w.accumulating() };
                l.co_group_all("cg3", vec![r, t], w)?
                    .map(|p| {
                        let inner = p.value.join(JoinKind::Inner).len();
                        (p.key, p.window.start, p.value.sides, inner, p.info.index, p.retraction)
                    })
                    .write(o.clone());
                Ok(())
            })
            .unwrap();
            let what = format!("retracting {retracting}, {workers} worker(s)");
            let mut last: BTreeMap<(u32, i64), (u64, Group)> = BTreeMap::new();
            let mut standing: BTreeMap<(u32, i64, Group), i64> = BTreeMap::new();
            let mut panes = 0;
            for (_, (key, start, mut sides, inner, index, retraction)) in out.take() {
                sides.iter_mut().for_each(|side| side.sort());
                *standing.entry((key, start, sides.clone())).or_default() += if retraction { -1 } else { 1 };
                if retraction {
                    continue;
                }
                panes += 1;
                assert_eq!(inner, sides.iter().map(Vec::len).product::<usize>(), "{what}: the inner join's rows");
                let e = last.entry((key, start)).or_insert((index, sides.clone()));
                if index >= e.0 {
                    *e = (index, sides);
                }
            }
            assert!(panes > expected.len() * 2, "{what}: {panes} panes for {} windows", expected.len());
            let got: BTreeMap<(u32, i64), Group> = last.into_iter().map(|(k, (_, g))| (k, g)).collect();
            assert_eq!(got, expected, "{what}: the last panes");
            if retracting {
                let standing: BTreeMap<(u32, i64), Group> = standing
                    .into_iter()
                    .filter(|(_, n)| *n != 0)
                    .map(|((k, w, g), n)| {
                        assert_eq!(n, 1, "{what}: a pane stands {n} times");
                        ((k, w), g)
                    })
                    .collect();
                assert_eq!(standing, expected, "{what}: the panes minus their retractions");
            }
            let dead: Vec<DeadLetter> = dead.take().into_iter().map(|(_, d)| d).collect();
            // The too-late record, once per window it falls in, tagged with its collection.
            assert_eq!(dead.len(), 2, "{what}: {dead:?}");
            for d in &dead {
                assert_eq!(
                    (d.step.as_str(), d.kind, d.record.as_str()),
                    ("cg3", DeadLetterKind::TooLate, "[0,[0,99,99]]")
                );
            }
        }
    }
}
