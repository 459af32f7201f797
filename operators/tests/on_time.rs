//! The on-time aggregates (per-worker combining held until the watermark, and the session
//! operator) against the general reducer: for strategies that fire one pane per key and
//! window when the watermark passes it, `windowed_aggregate_precombined` takes the fast
//! operators; `windowed_aggregate` always runs the reducer. Both must emit the same panes
//! and drop the same records, at 1 and 2 workers, over random streams with out-of-order
//! and too-late records; and no on-time pane may be emitted at a time after its timestamp.
//! With allowed lateness the streams also have late records within it: the on-time
//! operators then emit late panes (and, retracting, retractions) as the reducer does.

use highwater_operators::clock::VirtualClock;
use highwater_operators::operator::{plan, windowed_aggregate, windowed_aggregate_precombined, OutputWatermark, Plan};
use highwater_operators::strategy::{Accumulation, ClosingBehavior, OnTimeBehavior, WindowingStrategy};
use highwater_operators::time::Time;
use highwater_operators::trigger::Trigger;
use highwater_operators::window::WindowSpec;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::{Input, Inspect};
use timely::dataflow::InputHandle;

mod support;
use support::{random_stream, CountSum, Step};

type Row = (u32, i64, i64, (u64, u64), i64, String, bool);
type Drop = (u32, i64, i64, i64);

/// Panes and dropped records of `strategy` over `steps`, sorted; `fast` picks the entry
/// point. Fails the test if an on-time pane is emitted at a time after its timestamp (a
/// late pane goes out with its late records' stamp).
fn run(strategy: &WindowingStrategy, steps: &[Step], workers: usize, fast: bool) -> (Vec<Row>, Vec<Drop>) {
    let panes = Arc::new(Mutex::new(Vec::new()));
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let (p, d, s, st) = (panes.clone(), dropped.clone(), strategy.clone(), steps.to_vec());
    timely::execute(timely::Config::process(workers), move |worker| {
        let mut input = InputHandle::new();
        let (p, d) = (p.clone(), d.clone());
        worker.dataflow(|scope| {
            let stream = scope.input_from(&mut input).container::<Vec<(u32, i64, u64)>>();
            let clock = Arc::new(VirtualClock::new(0));
            let out = if fast {
                windowed_aggregate_precombined(stream, "agg", s.clone(), CountSum, clock, OutputWatermark::PerKey)
            } else {
                windowed_aggregate(stream, "agg", s.clone(), CountSum, clock, OutputWatermark::PerKey)
            };
            out.panes.inspect_core(move |event| {
                let Ok((stamp, panes)) = event else { return };
                let t = *stamp.least().expect("sent at a time");
                for pane in panes {
                    if !pane.retraction && pane.info.timing != highwater_operators::pane::Timing::Late {
                        assert!(t.watermark() <= pane.timestamp, "pane {pane:?} emitted at {t:?}, after its timestamp");
                    }
                    p.lock().unwrap().push((
                        pane.key,
                        pane.window.start,
                        pane.window.end,
                        pane.value,
                        pane.timestamp,
                        format!("{:?}", pane.info),
                        pane.retraction,
                    ));
                }
            });
            out.dead_letters
                .inspect(move |x| d.lock().unwrap().push((x.key, x.timestamp, x.window.start, x.watermark)));
        });
        let mut wm = 0i64;
        let mut tick = 0u64;
        for step in &st {
            if worker.index() == 0 {
                for r in &step.records {
                    input.send(*r);
                }
            }
            tick += 1;
            wm += step.advance;
            input.advance_to(Time::new(wm, tick));
            worker.step();
        }
    })
    .unwrap();
    let mut panes = panes.lock().unwrap().clone();
    let mut dropped = dropped.lock().unwrap().clone();
    panes.sort();
    dropped.sort();
    (panes, dropped)
}

fn strategies() -> Vec<(String, WindowingStrategy)> {
    let mut out = Vec::new();
    // Sliding 12 / 3 combines per 3-long slice (the size a multiple of the period); 10 / 3
    // window by window.
    let windows = [
        WindowSpec::fixed(10),
        WindowSpec::sliding(10, 3),
        WindowSpec::sliding(12, 3),
        WindowSpec::sessions(5),
        WindowSpec::Global,
    ];
    let triggers =
        [Trigger::Default, Trigger::after_watermark(), Trigger::after_watermark().with_late(Trigger::after_count(1))];
    // The closing and on-time behaviors take turns: they cannot change a pane here (the one
    // pane of a window always has elements), and the planner keeps the on-time operators.
    let behaviors = [
        (ClosingBehavior::FireIfNonEmpty, OnTimeBehavior::FireAlways),
        (ClosingBehavior::FireAlways, OnTimeBehavior::FireIfNonEmpty),
        (ClosingBehavior::FireAlways, OnTimeBehavior::FireAlways),
        (ClosingBehavior::FireIfNonEmpty, OnTimeBehavior::FireIfNonEmpty),
    ];
    for w in &windows {
        for t in &triggers {
            for a in [Accumulation::Discarding, Accumulation::Accumulating] {
                let (c, o) = behaviors[out.len() % behaviors.len()];
                let s = WindowingStrategy::new(w.clone())
                    .trigger(t.clone())
                    .accumulation(a)
                    .closing_behavior(c)
                    .on_time_behavior(o)
                    .build()
                    .unwrap();
                out.push((format!("{w} {t} {a:?} {c} {o}"), s));
            }
        }
    }
    out
}

/// Allowed lateness: the triggers that fire once per late bundle, every accumulation
/// mode, lateness shorter and longer than the watermark's steps.
fn late_strategies() -> Vec<(String, WindowingStrategy)> {
    let mut out = Vec::new();
    let windows = [WindowSpec::fixed(10), WindowSpec::sliding(10, 3), WindowSpec::sliding(12, 3), WindowSpec::Global];
    let triggers = [Trigger::Default, Trigger::after_watermark().with_late(Trigger::after_count(1))];
    for w in &windows {
        for t in &triggers {
            for a in [Accumulation::Discarding, Accumulation::Accumulating, Accumulation::Retracting] {
                for lateness in [4, 15] {
                    let o =
                        if out.len() % 2 == 0 { OnTimeBehavior::FireAlways } else { OnTimeBehavior::FireIfNonEmpty };
                    let s = WindowingStrategy::new(w.clone())
                        .trigger(t.clone())
                        .accumulation(a)
                        .allowed_lateness(lateness)
                        .on_time_behavior(o)
                        .build()
                        .unwrap();
                    assert_eq!(plan(&s, &OutputWatermark::PerKey), Plan::OnTimeWindows, "{w} {t} {a:?} {lateness}");
                    out.push((format!("{w} {t} {a:?} lateness {lateness} {o}"), s));
                }
            }
        }
    }
    out
}

#[test]
fn with_allowed_lateness_the_on_time_operators_emit_the_late_panes_the_reducer_emits() {
    let (mut late, mut retractions, mut late_first) = (0, 0, 0);
    for seed in 1..=12u64 {
        let steps = random_stream(seed, 60);
        for (name, s) in late_strategies() {
            let expected = run(&s, &steps, 1, false);
            late += expected.0.iter().filter(|r| r.5.contains("Late")).count();
            late_first += expected.0.iter().filter(|r| r.5.contains("Late") && r.5.contains("first: true")).count();
            retractions += expected.0.iter().filter(|r| r.6).count();
            for workers in [1, 2] {
                let got = run(&s, &steps, workers, true);
                assert_eq!(got.0, expected.0, "{name}, seed {seed}, {workers} worker(s): panes");
                assert_eq!(got.1, expected.1, "{name}, seed {seed}, {workers} worker(s): dropped records");
            }
        }
    }
    // Worth something only if the streams make late panes, late first panes and retractions.
    assert!(
        late > 100 && late_first > 10 && retractions > 50,
        "{late} late, {late_first} first late, {retractions} retractions"
    );
}

#[test]
fn the_on_time_operators_emit_what_the_reducer_emits() {
    for seed in 1..=12u64 {
        let steps = random_stream(seed, 60);
        for (name, s) in strategies() {
            let expected = run(&s, &steps, 1, false);
            assert!(!expected.0.is_empty(), "{name}: the stream makes panes");
            for workers in [1, 2] {
                let got = run(&s, &steps, workers, true);
                assert_eq!(got.0, expected.0, "{name}, seed {seed}, {workers} worker(s): panes");
                assert_eq!(got.1, expected.1, "{name}, seed {seed}, {workers} worker(s): dropped records");
            }
        }
    }
}

#[test]
fn the_random_streams_have_too_late_records_and_merging_sessions() {
    // The comparison above is only worth something if the streams exercise drops and merges.
    let s = WindowingStrategy::new(WindowSpec::sessions(5)).build().unwrap();
    let (mut drops, mut merged) = (0, 0);
    for seed in 1..=12u64 {
        let (panes, dropped) = run(&s, &random_stream(seed, 60), 1, false);
        drops += dropped.len();
        merged += panes.iter().filter(|p| p.2 - p.1 > 5).count();
    }
    assert!(drops > 20, "{drops} too-late records");
    assert!(merged > 20, "{merged} merged sessions");
}
