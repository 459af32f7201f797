//! The pipeline DSL end to end: windowed counts against a naive batch computation at 1 and
//! 2 workers, dead letters, and build errors that say what to fix.

use highwater::pipeline::{run, run_with_clock, BuildError, Collector, Memory, PipelineError, RunConfig, Windowing};
use highwater_operators::clock::VirtualClock;
use highwater_operators::pane::{Pane, Timing};
use highwater_operators::trigger::Trigger;
use highwater_operators::watermark::WatermarkStrategy;
use highwater_operators::window::{Window, WindowSpec};
use highwater_tests::{batch_counts, Bid, Bids};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Deterministic bids in 4 partitions, out of order by up to 49 ticks within each.
fn bids() -> Vec<Vec<(i64, Bid)>> {
    Bids { seed: 7, partitions: 4, per_partition: 2_000, auctions: 7, bidders: 5, period: 10, disorder: 49, start: 0 }
        .generate()
}

/// The batch answer: bids per key and window.
fn batch_answer(window: &WindowSpec, key: impl Fn(&Bid) -> u32) -> BTreeMap<(u32, Window), u64> {
    batch_counts(window, bids().into_iter().flatten().map(|(t, b)| (key(&b), t)))
}

/// Runs a windowed count with a watermark bound large enough that nothing is late, so the
/// final panes must equal the batch answer.
fn pipeline_counts(windowing: Windowing, by_bidder: bool, workers: usize) -> BTreeMap<(u32, Window), u64> {
    let out: Collector<Pane<u32, u64>> = Collector::new();
    let sink = out.clone();
    let summary = run(RunConfig::workers(workers), move |p| {
        p.read("bids", Memory::new(bids(), WatermarkStrategy::bounded(Duration::from_millis(100))).batch_size(300))?
            .key_by(move |b: &Bid| if by_bidder { b.bidder } else { b.auction })
            .window(windowing.clone())
            .count("count")?
            .write(sink.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(summary.records_read, 8_000);
    assert_eq!(summary.dead_letters, 0, "the watermark bound covers the disorder");
    let mut m = BTreeMap::new();
    for (_, p) in out.take() {
        assert_eq!(p.info.timing, Timing::OnTime);
        assert!(m.insert((p.key, p.window), p.value).is_none(), "one pane per key and window");
    }
    m
}

#[test]
fn fixed_windows_match_the_batch_answer_at_1_and_2_workers() {
    let expected = batch_answer(&WindowSpec::fixed(1_000), |b| b.auction);
    for w in [1, 2] {
        assert_eq!(pipeline_counts(Windowing::fixed(Duration::from_secs(1)), false, w), expected, "{w} workers");
    }
}

#[test]
fn sliding_windows_match_the_batch_answer_at_1_and_2_workers() {
    let expected = batch_answer(&WindowSpec::sliding(1_000, 250), |b| b.auction);
    for w in [1, 2] {
        assert_eq!(
            pipeline_counts(Windowing::sliding(Duration::from_secs(1), Duration::from_millis(250)), false, w),
            expected,
            "{w} workers"
        );
    }
}

#[test]
fn sessions_match_the_batch_answer_at_1_and_2_workers() {
    let expected = batch_answer(&WindowSpec::sessions(40), |b| b.bidder);
    for w in [1, 2] {
        assert_eq!(pipeline_counts(Windowing::sessions(Duration::from_millis(40)), true, w), expected, "{w} workers");
    }
}

#[test]
fn too_late_records_reach_the_dead_letter_output() {
    // One partition: the watermark passes 1000 in the first batch; the record at 5 in the
    // second batch is too late for [0, 10) with no allowed lateness.
    let data = vec![vec![(1_000, 1u64), (1_001, 2), (5, 3)]];
    let dead = Collector::new();
    let panes = Collector::new();
    let (d, s) = (dead.clone(), panes.clone());
    let summary = run(RunConfig::workers(1), move |p| {
        p.read("numbers", Memory::new(data.clone(), WatermarkStrategy::Ascending).batch_size(2))?
            .key_by(|_| 0u8)
            .window(Windowing::fixed(Duration::from_millis(10)))
            .count("count")?
            .write(s.clone());
        p.dead_letters().write(d.clone());
        Ok(())
    })
    .unwrap();
    let dead = dead.take();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1.step, "count");
    assert!(dead[0].1.reason.contains("too late"), "{:?}", dead[0].1);
    assert!(dead[0].1.location.to_string().contains("[0, 10)"));
    // The too-late record itself is kept, not only its time.
    assert_eq!(dead[0].1.kind, highwater::pipeline::DeadLetterKind::TooLate);
    match &dead[0].1.location {
        highwater::pipeline::Location::Window { window, .. } => assert_eq!(*window, (0, 10)),
        other => panic!("a windowed step's dead letter names its window: {other:?}"),
    }
    assert_eq!(summary.dead_letters, 1);
    assert_eq!(panes.take().len(), 1);
}

#[test]
fn early_firings_then_an_accumulating_on_time_pane() {
    let data = vec![(0..10).map(|i| (i, i as u64)).collect::<Vec<_>>()];
    let out = Collector::new();
    let sink = out.clone();
    run_with_clock(RunConfig::workers(1), Arc::new(VirtualClock::new(0)), move |p| {
        p.read("numbers", Memory::new(data.clone(), WatermarkStrategy::Ascending).batch_size(4))?
            .key_by(|_| 0u8)
            .window(
                Windowing::fixed(Duration::from_millis(100))
                    .trigger(Trigger::after_watermark().with_early(Trigger::after_count(4)))
                    .accumulating(),
            )
            .aggregate("sum", highwater_operators::combine::Sum::<u64>::default())?
            .write(sink.clone());
        Ok(())
    })
    .unwrap();
    let panes: Vec<(u64, Timing)> = out.take().into_iter().map(|(_, p)| (p.value, p.info.timing)).collect();
    assert_eq!(panes.last(), Some(&(45, Timing::OnTime)), "{panes:?}");
    assert!(panes.len() >= 2 && panes[..panes.len() - 1].iter().all(|p| p.1 == Timing::Early), "{panes:?}");
}

#[test]
fn build_errors_say_what_to_fix() {
    let err = run(RunConfig::workers(1), |p| {
        let src = || Memory::new(vec![vec![(0i64, 1u64)]], WatermarkStrategy::Ascending);
        p.read("a", src())?.key_by(|_| 0u8).window(Windowing::fixed(Duration::from_millis(10))).count("same")?;
        p.read("b", src())?.key_by(|_| 0u8).window(Windowing::fixed(Duration::from_millis(10))).count("same")?;
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(err, PipelineError::Build(BuildError::DuplicateName(ref n)) if n == "same"), "{err}");

    let err = run(RunConfig::workers(1), |p| {
        let bad: Trigger = "after_first(repeatedly(after_count(2)))".parse().unwrap();
        p.read("a", Memory::new(vec![vec![(0i64, 1u64)]], WatermarkStrategy::Ascending))?
            .key_by(|_| 0u8)
            .window(Windowing::fixed(Duration::from_millis(10)).trigger(bad))
            .count("c")?;
        Ok(())
    })
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("step `c`") && text.contains("once"), "{text}");
}

/// Pre-combining before the exchange (Beam's combiner lifting) must not change a pane or a
/// dead-letter count: compare it with the record-by-record path on disordered data with
/// early, on-time and late firings.
#[test]
fn precombining_gives_the_same_panes_as_record_by_record() {
    let strategies = [
        Windowing::fixed(Duration::from_millis(500)),
        Windowing::sliding(Duration::from_secs(1), Duration::from_millis(250))
            .trigger(Trigger::after_watermark().with_early(Trigger::after_count(7)).with_late(Trigger::after_count(1)))
            .allowed_lateness(Duration::from_millis(300))
            .accumulating(),
        Windowing::fixed(Duration::from_millis(700))
            .trigger(Trigger::repeatedly(Trigger::after_count(3)))
            .allowed_lateness(Duration::from_millis(200)),
        Windowing::fixed(Duration::from_millis(400))
            .trigger(Trigger::after_watermark().with_late(Trigger::after_count(2)))
            .allowed_lateness(Duration::from_millis(500))
            .retracting(),
    ];
    for (i, windowing) in strategies.into_iter().enumerate() {
        let mut results = Vec::new();
        for precombine in [true, false] {
            for workers in [1, 2] {
                let out: Collector<Pane<u32, u64>> = Collector::new();
                let sink = out.clone();
                let windowing = windowing.clone();
                let summary = run(RunConfig::workers(workers), move |p| {
                    // A bound of 5 against a disorder of 50, one watermark step per 2 records:
                    // some records are late.
                    let w = p
                        .read(
                            "bids",
                            Memory::new(bids(), WatermarkStrategy::bounded(Duration::from_millis(5))).batch_size(2),
                        )?
                        .map_to_keyed(|b: Bid| (b.auction, b.price))
                        .window(windowing.clone());
                    let w = if precombine { w } else { w.without_precombining() };
                    w.count("count")?.write(sink.clone());
                    Ok(())
                })
                .unwrap();
                let mut panes: Vec<String> = out
                    .take()
                    .into_iter()
                    .map(|(_, p)| format!("{:?}", (p.key, p.window, p.value, p.timestamp, p.info, p.retraction)))
                    .collect();
                panes.sort();
                results.push((precombine, workers, summary.dead_letters, panes));
            }
        }
        // Same worker count: pre-combined and record-by-record must agree exactly.
        for w in [1, 2] {
            let a: Vec<_> = results.iter().filter(|r| r.1 == w).collect();
            assert_eq!(
                (a[0].2, &a[0].3),
                (a[1].2, &a[1].3),
                "strategy {i}: precombining changed the panes at {w} workers"
            );
        }
        let (_, _, dead, panes) = &results[0];
        if i == 0 {
            assert!(*dead > 0, "strategy 0 (no allowed lateness) should drop late records");
        } else {
            assert!(panes.iter().any(|p| p.contains("Late")), "strategy {i} should have late panes");
        }
        for (pre, w, d, p) in &results[1..] {
            assert_eq!((d, p), (dead, panes), "strategy {i}: precombine={pre} workers={w} differs");
        }
    }
}

/// What a run gives that must not depend on the batch size or the worker count: every
/// pane of the default trigger (on time and late, the late values summed per window, since
/// a late pane is emitted per late bundle) and the too-late records.
type Judged = (BTreeMap<(u32, Window, bool), u64>, Vec<(u32, i64)>);

fn judged(windowing: Windowing, batch: usize, workers: usize) -> Judged {
    let (out, dead) = (Collector::new(), Collector::new());
    let (sink, dead_sink) = (out.clone(), dead.clone());
    run(RunConfig::workers(workers), move |p| {
        // Disorder 300 against a bound of 100: many records are behind the watermark.
        let bids = Bids {
            seed: 11,
            partitions: 3,
            per_partition: 3_000,
            auctions: 5,
            bidders: 4,
            period: 10,
            disorder: 300,
            start: 0,
        }
        .generate();
        p.read("bids", Memory::new(bids, WatermarkStrategy::bounded(Duration::from_millis(100))).batch_size(batch))?
            .map_to_keyed(|b: Bid| (b.auction, b.bidder))
            .window(windowing.clone())
            .count("count")?
            .write(sink.clone());
        p.dead_letters().write(dead_sink.clone());
        Ok(())
    })
    .unwrap();
    let mut panes = BTreeMap::new();
    for (_, p) in out.take() {
        let late = p.info.timing == Timing::Late;
        if !late {
            assert!(panes.insert((p.key, p.window, late), p.value).is_none(), "one on-time pane per window");
        } else {
            *panes.entry((p.key, p.window, late)).or_default() += p.value;
        }
    }
    let mut too_late: Vec<(u32, i64)> = dead
        .take()
        .into_iter()
        .map(|(_, d)| match d.location {
            highwater::pipeline::Location::Window { timestamp, .. } => {
                (d.record.parse().unwrap_or(u32::MAX), timestamp)
            }
            other => panic!("a too-late record has a window location: {other:?}"),
        })
        .collect();
    too_late.sort_unstable();
    (panes, too_late)
}

/// The watermark used to advance once per source batch, so which records were too late
/// (and so the panes) changed with `batch_size`; each record is now judged against its
/// partition's watermark as of that record.
#[test]
fn lateness_does_not_depend_on_the_batch_size_or_the_worker_count() {
    for windowing in [
        Windowing::fixed(Duration::from_millis(200)),
        Windowing::fixed(Duration::from_millis(200)).allowed_lateness(Duration::from_millis(150)),
        Windowing::sliding(Duration::from_millis(300), Duration::from_millis(100)),
        Windowing::sessions(Duration::from_millis(40)),
        Windowing::sessions(Duration::from_millis(40)).allowed_lateness(Duration::from_millis(50)),
    ] {
        // With allowed lateness, sessions that late records merge depend on which late
        // records share a bundle (as in Beam): there only the too-late records are
        // compared.
        let merging_late = windowing.to_string().starts_with("sessions") && windowing.to_string().contains("lateness");
        let reference = judged(windowing.clone(), 1, 1);
        assert!(!reference.1.is_empty(), "{windowing}: some records are too late");
        for (batch, workers) in [(7, 1), (100, 2), (10_000, 1), (333, 3)] {
            let got = judged(windowing.clone(), batch, workers);
            assert!(got.1 == reference.1, "{windowing}: batch {batch}, {workers} workers: other records are too late");
            if !merging_late {
                let differ = got.0.iter().filter(|(k, v)| reference.0.get(k) != Some(v)).count()
                    + reference.0.keys().filter(|k| !got.0.contains_key(k)).count();
                assert_eq!(differ, 0, "{windowing}: batch {batch}, {workers} workers: {differ} panes differ");
            }
        }
    }
}

/// Parsing a time inside `with_event_time` panicked the worker on the first bad record:
/// `try_with_event_time` makes it a dead letter naming the step, with the record.
#[test]
fn a_bad_event_time_inside_a_pipeline_is_a_dead_letter_not_a_panic() {
    use highwater::format::time;
    use highwater::pipeline::{DeadLetterKind, Location};
    let (good, dead) = (Collector::new(), Collector::new());
    let (g, d) = (good.clone(), dead.clone());
    let summary = run(RunConfig::workers(2), move |p| {
        let texts: Vec<(i64, String)> = vec![(5, "1.5".into()), (6, "soon".into()), (7, "2".into()), (8, "".into())];
        p.read("texts", Memory::new(vec![texts], WatermarkStrategy::Ascending))?
            .try_with_event_time("seconds", |s: &String| time::seconds(s))?
            .write(g.clone());
        p.dead_letters().write(d.clone());
        Ok(())
    })
    .unwrap();
    let mut good = good.take();
    good.sort();
    assert_eq!(good, [(1_500, "1.5".to_string()), (2_000, "2".to_string())]);
    let mut dead: Vec<_> = dead.take().into_iter().map(|(_, d)| d).collect();
    dead.sort_by(|a, b| a.record.cmp(&b.record));
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(summary.dead_letters, 2);
    assert_eq!(
        (dead[1].step.as_str(), dead[1].kind, dead[1].record.as_str()),
        ("seconds", DeadLetterKind::Malformed, "\"soon\"")
    );
    assert_eq!(
        dead[1].reason,
        "bad event time: `soon` is not a number of seconds since the epoch such as 1714564800 or 1714564800.25"
    );
    assert!(matches!(dead[1].location, Location::Record { event_time: 6, .. }), "{:?}", dead[1].location);
}

/// `dead_letters()` returned only the dead letters of the steps built before it: called
/// first, it missed every later step's.
#[test]
fn dead_letters_asked_for_first_still_hold_the_later_steps_dead_letters() {
    for workers in [1, 2] {
        let dead = Collector::new();
        let sink = dead.clone();
        run(RunConfig::workers(workers), move |p| {
            p.dead_letters().write(sink.clone());
            // Too late: 5 arrives after the watermark passed [0, 10) (no allowed lateness).
            let src = Memory::new(vec![vec![(1, 1u64), (20, 20), (5, 5)]], WatermarkStrategy::Ascending).batch_size(1);
            p.read("numbers", src)?
                .try_with_event_time("check", |n: &u64| i64::try_from(*n))?
                .key_by(|_: &u64| 0u8)
                .window(Windowing::fixed(Duration::from_millis(10)))
                .count("count")?;
            let bad = Memory::new(vec![vec![(0, 2u64)]], WatermarkStrategy::Ascending);
            p.read("more", bad)?.try_with_event_time("reject", |_: &u64| Err::<i64, _>("always"))?;
            Ok(())
        })
        .unwrap();
        let mut steps: Vec<String> = dead.take().into_iter().map(|(_, d)| d.step).collect();
        steps.sort();
        assert_eq!(steps, ["count", "reject"], "{workers} workers");
    }
}

/// A changelog of discarding panes counted a window's early pane again with each later
/// one: refused where a window can have several panes, accepted where it has one.
#[test]
fn a_changelog_of_discarding_panes_is_refused_where_a_window_has_several_panes() {
    use highwater::model::combine::Count;
    let build = |w: Windowing| {
        run(RunConfig::workers(1), move |p| {
            let src = Memory::new(vec![vec![(1, 1u64)]], WatermarkStrategy::Ascending);
            p.read("n", src)?.key_by(|n: &u64| *n).window(w.clone()).changelog("counts", Count)?;
            Ok(())
        })
    };
    let early = Trigger::after_watermark().with_early(Trigger::after_count(1));
    for wrong in [
        Windowing::fixed(Duration::from_millis(10)).trigger(early.clone()),
        Windowing::fixed(Duration::from_millis(10)).allowed_lateness(Duration::from_millis(5)),
        Windowing::sessions(Duration::from_millis(10)).trigger(Trigger::after_count(2)),
        Windowing::fixed(Duration::from_millis(10)).trigger(Trigger::repeatedly(Trigger::after_count(1))),
    ] {
        let w = format!("{wrong:?}");
        match build(wrong) {
            Err(PipelineError::Build(e @ BuildError::DiscardingChangelog { .. })) => {
                let e = e.to_string();
                assert!(e.starts_with("step `counts`:") && e.contains(".accumulating() or .retracting()"), "{e}");
            }
            other => panic!("{w}: {other:?}"),
        }
    }
    for right in [
        Windowing::fixed(Duration::from_millis(10)),
        Windowing::sessions(Duration::from_millis(10)),
        Windowing::fixed(Duration::from_millis(10))
            .trigger(Trigger::after_count(2))
            .allowed_lateness(Duration::from_millis(5)),
        Windowing::fixed(Duration::from_millis(10))
            .trigger(Trigger::after_watermark().with_late(Trigger::after_count(1))),
        Windowing::fixed(Duration::from_millis(10))
            .trigger(early.clone())
            .allowed_lateness(Duration::from_millis(5))
            .accumulating(),
        Windowing::sessions(Duration::from_millis(10)).trigger(early.clone()).retracting(),
    ] {
        let w = format!("{right:?}");
        build(right).unwrap_or_else(|e| panic!("{w}: {e}"));
    }
}
