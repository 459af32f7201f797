//! The closing and on-time behaviors (Beam's `Window.ClosingBehavior` and
//! `Window.OnTimeBehavior`) in the reducer, driven as Beam's `ReduceFnTester` drives
//! `ReduceFnRunner`: a global output watermark refreshed after every watermark advance.
//! Each expectation is derived by hand from Beam Java's `ReduceFnRunner.onTrigger` /
//! `needToEmit`, `PaneInfoTracker.describePane` and `WatermarkHold.extractAndRelease`; the
//! cases taken from `ReduceFnRunnerTest` name the test.

use highwater_operators::combine::Collect;
use highwater_operators::pane::{Pane, Timing};
use highwater_operators::reduce::WindowedReducer;
use highwater_operators::strategy::{
    Accumulation, ClosingBehavior, OnTimeBehavior, TimestampCombiner, WindowingStrategy,
};
use highwater_operators::trigger::Trigger;
use highwater_operators::window::{Window, WindowSpec};

/// `(values, timestamp, timing, index, nonspeculative index, last)` of a pane.
type Summary = (Vec<i64>, i64, Timing, u64, i64, bool);

fn summary(p: &Pane<&'static str, Vec<i64>>) -> Summary {
    let mut v = p.value.clone();
    v.sort();
    (v, p.timestamp, p.info.timing, p.info.index, p.info.nonspeculative_index, p.info.last)
}

struct Tester {
    r: WindowedReducer<&'static str, i64, Collect>,
}

impl Tester {
    fn new(
        window: WindowSpec,
        trigger: &str,
        lateness: i64,
        acc: Accumulation,
        closing: ClosingBehavior,
        on_time: OnTimeBehavior,
    ) -> Self {
        Self::with_combiner(window, trigger, lateness, acc, closing, on_time, TimestampCombiner::EndOfWindow)
    }

    fn with_combiner(
        window: WindowSpec,
        trigger: &str,
        lateness: i64,
        acc: Accumulation,
        closing: ClosingBehavior,
        on_time: OnTimeBehavior,
        tc: TimestampCombiner,
    ) -> Self {
        let s = WindowingStrategy::new(window)
            .trigger(trigger.parse::<Trigger>().unwrap())
            .allowed_lateness(lateness)
            .accumulation(acc)
            .timestamp_combiner(tc)
            .closing_behavior(closing)
            .on_time_behavior(on_time)
            .build()
            .unwrap();
        Tester { r: WindowedReducer::new(s, Collect) }
    }

    fn input(&mut self, ts: &[i64]) -> Vec<Summary> {
        self.r.process_key("k", ts.iter().map(|&t| (t, t)).collect(), 0);
        self.take()
    }

    /// Advances the input watermark, then the output watermark (ReduceFnTester's
    /// auto-advance).
    fn watermark(&mut self, wm: i64) -> Vec<Summary> {
        self.r.advance_watermark(wm, 0);
        self.r.refresh_output_watermark();
        self.take()
    }

    fn take(&mut self) -> Vec<Summary> {
        let panes = self.r.take_output().panes;
        assert!(panes.iter().all(|p| p.window == Window::new(0, 10)), "only [0, 10) here");
        panes.iter().map(summary).collect()
    }
}

use ClosingBehavior::{FireAlways as CloseAlways, FireIfNonEmpty as CloseIfNonEmpty};
use OnTimeBehavior::{FireAlways as OnTimeAlways, FireIfNonEmpty as OnTimeIfNonEmpty};

fn pane(values: &[i64], ts: i64, timing: Timing, index: u64, nsi: i64, last: bool) -> Summary {
    (values.to_vec(), ts, timing, index, nsi, last)
}

/// FIRE_ALWAYS: the garbage-collection activation calls `onTrigger(isFinished = true)`; the
/// pane is empty and LATE (the ON_TIME pane came before), and `needToEmit` emits it because
/// it is final. FIRE_IF_NON_EMPTY: silent.
#[test]
fn fire_always_emits_an_empty_last_pane_at_garbage_collection() {
    for (closing, gc) in [(CloseAlways, vec![pane(&[], 9, Timing::Late, 1, 1, true)]), (CloseIfNonEmpty, vec![])] {
        let mut t = Tester::new(WindowSpec::fixed(10), "default", 5, Accumulation::Discarding, closing, OnTimeAlways);
        assert_eq!(t.input(&[1]), vec![]);
        assert_eq!(t.watermark(10), vec![pane(&[1], 9, Timing::OnTime, 0, 0, false)], "{closing}");
        assert_eq!(t.watermark(14), vec![], "{closing}: 14 is the garbage-collection time, not past it");
        assert_eq!(t.watermark(15), gc, "{closing}");
        assert_eq!(t.r.key_count(), 0);
    }
}

/// Accumulating, the final pane at garbage collection repeats the contents (nothing new).
#[test]
fn fire_always_accumulating_repeats_the_contents_at_garbage_collection() {
    let mut t = Tester::new(WindowSpec::fixed(10), "default", 5, Accumulation::Accumulating, CloseAlways, OnTimeAlways);
    t.input(&[1, 2]);
    assert_eq!(t.watermark(10), vec![pane(&[1, 2], 9, Timing::OnTime, 0, 0, false)]);
    assert_eq!(t.input(&[3]), vec![pane(&[1, 2, 3], 9, Timing::Late, 1, 1, false)]);
    assert_eq!(t.watermark(20), vec![pane(&[1, 2, 3], 9, Timing::Late, 2, 2, true)]);
}

/// After a pane that is not the last, FIRE_ALWAYS keeps a hold at the garbage-collection
/// time (`WatermarkHold.extractAndRelease` → `addGarbageCollectionHold(paneIsEmpty)`), so
/// the empty final pane is not late downstream; FIRE_IF_NON_EMPTY keeps none.
#[test]
fn fire_always_holds_the_output_at_the_garbage_collection_time_after_each_pane() {
    for (closing, hold) in [(CloseAlways, Some(14)), (CloseIfNonEmpty, None)] {
        let mut t = Tester::new(
            WindowSpec::fixed(10),
            "after_watermark(early=after_count(1))",
            5,
            Accumulation::Discarding,
            closing,
            OnTimeAlways,
        );
        assert_eq!(t.input(&[1]), vec![pane(&[1], 9, Timing::Early, 0, -1, false)]);
        assert_eq!(t.r.min_hold(), hold, "{closing}");
        // The trigger finishes with the on-time pane: no hold after it.
        assert_eq!(t.watermark(10), vec![pane(&[], 9, Timing::OnTime, 1, 0, true)]);
        assert_eq!(t.r.min_hold(), None);
        assert_eq!(t.watermark(15), vec![]);
    }
}

/// Beam's `testFixedWindowsEowAndGcTogether` and `...FireIfNonEmpty`: a watermark that
/// passes the end of the window and its garbage-collection time at once activates the
/// window once, as garbage collection (`WindowActivation` decides by the input watermark):
/// one ON_TIME pane, last, whatever the closing behavior.
#[test]
fn end_of_window_and_garbage_collection_together_give_one_last_on_time_pane() {
    for closing in [CloseAlways, CloseIfNonEmpty] {
        for acc in [Accumulation::Accumulating, Accumulation::Discarding] {
            let mut t = Tester::new(WindowSpec::fixed(10), "default", 50, acc, closing, OnTimeAlways);
            t.watermark(0);
            t.input(&[1]);
            assert_eq!(t.watermark(100), vec![pane(&[1], 9, Timing::OnTime, 0, 0, true)], "{closing} {acc:?}");
        }
    }
}

/// OnTimeBehavior.FIRE_IF_NON_EMPTY: the empty on-time firing after an early pane emits
/// nothing and uses no index; the next pane is LATE with index 1 and nonspeculative index
/// 0 (`describePane` from the early pane).
#[test]
fn fire_if_non_empty_on_time_suppresses_the_empty_on_time_pane() {
    let mut t = Tester::new(
        WindowSpec::fixed(10),
        "after_watermark(early=after_count(1), late=after_count(1))",
        5,
        Accumulation::Discarding,
        CloseIfNonEmpty,
        OnTimeIfNonEmpty,
    );
    assert_eq!(t.input(&[1]), vec![pane(&[1], 9, Timing::Early, 0, -1, false)]);
    assert_eq!(t.watermark(10), vec![]);
    assert_eq!(t.input(&[3]), vec![pane(&[3], 9, Timing::Late, 1, 0, false)]);
    assert_eq!(t.watermark(15), vec![]);
}

/// With elements, the on-time pane is emitted under either on-time behavior.
#[test]
fn fire_if_non_empty_on_time_still_emits_a_non_empty_on_time_pane() {
    let mut t =
        Tester::new(WindowSpec::fixed(10), "default", 5, Accumulation::Discarding, CloseIfNonEmpty, OnTimeIfNonEmpty);
    t.input(&[1, 2]);
    assert_eq!(t.watermark(10), vec![pane(&[1, 2], 9, Timing::OnTime, 0, 0, false)]);
    assert_eq!(t.watermark(15), vec![]);
}

/// Both non-default: the empty on-time firing is silent, the empty final pane at garbage
/// collection is emitted (LATE: the output watermark passed the end; index 1 after the
/// early pane, nonspeculative index 0).
#[test]
fn fire_if_non_empty_on_time_with_fire_always_closing_emits_only_the_final_pane() {
    let mut t = Tester::new(
        WindowSpec::fixed(10),
        "after_watermark(early=after_count(1), late=after_count(1))",
        5,
        Accumulation::Discarding,
        CloseAlways,
        OnTimeIfNonEmpty,
    );
    assert_eq!(t.input(&[1]), vec![pane(&[1], 9, Timing::Early, 0, -1, false)]);
    assert_eq!(t.watermark(10), vec![]);
    assert_eq!(t.watermark(15), vec![pane(&[], 9, Timing::Late, 1, 0, true)]);
}

/// Zero lateness: the end of the window is its garbage collection, so the empty on-time
/// firing is final: FIRE_ALWAYS closing emits it even when the on-time behavior would not.
#[test]
fn zero_lateness_the_empty_on_time_pane_is_final() {
    for (closing, on_time, expected) in [
        (CloseIfNonEmpty, OnTimeIfNonEmpty, vec![]),
        (CloseAlways, OnTimeIfNonEmpty, vec![pane(&[], 9, Timing::OnTime, 1, 0, true)]),
        (CloseIfNonEmpty, OnTimeAlways, vec![pane(&[], 9, Timing::OnTime, 1, 0, true)]),
    ] {
        let mut t = Tester::new(
            WindowSpec::fixed(10),
            "after_watermark(early=after_count(1))",
            0,
            Accumulation::Discarding,
            closing,
            on_time,
        );
        assert_eq!(t.input(&[1]), vec![pane(&[1], 9, Timing::Early, 0, -1, false)]);
        assert_eq!(t.watermark(10), expected, "{closing} {on_time}");
    }
}

/// Beam's `noEmptyPanesFinalAlways` and `noEmptyPanesFinalIfNonEmpty`: accumulating,
/// `repeatedly(after_first(after_count(2), after_watermark))`, earliest timestamps.
#[test]
fn beam_no_empty_panes_final_always_and_final_if_non_empty() {
    for (closing, finals) in
        [(CloseAlways, vec![pane(&[1, 2], 9, Timing::Late, 2, 1, true)]), (CloseIfNonEmpty, vec![])]
    {
        let mut t = Tester::with_combiner(
            WindowSpec::fixed(10),
            "repeatedly(after_first(after_count(2), after_watermark))",
            100,
            Accumulation::Accumulating,
            closing,
            OnTimeAlways,
            TimestampCombiner::Earliest,
        );
        t.watermark(0);
        assert_eq!(t.input(&[1, 2]), vec![pane(&[1, 2], 1, Timing::Early, 0, -1, false)]);
        assert_eq!(t.watermark(20), vec![pane(&[1, 2], 9, Timing::OnTime, 1, 0, false)]);
        assert_eq!(t.watermark(250), finals, "{closing}");
    }
}

/// Beam's `testPaneInfoAllStatesAfterWatermark`: the same trigger, discarding, FIRE_ALWAYS:
/// an early pane, the empty ON_TIME pane, then the empty final LATE pane.
#[test]
fn beam_pane_info_all_states_after_watermark() {
    let mut t = Tester::with_combiner(
        WindowSpec::fixed(10),
        "repeatedly(after_first(after_count(2), after_watermark))",
        100,
        Accumulation::Discarding,
        CloseAlways,
        OnTimeAlways,
        TimestampCombiner::Earliest,
    );
    t.watermark(0);
    assert_eq!(t.input(&[1, 2]), vec![pane(&[1, 2], 1, Timing::Early, 0, -1, false)]);
    assert_eq!(t.watermark(50), vec![pane(&[], 9, Timing::OnTime, 1, 0, false)]);
    assert_eq!(t.watermark(150), vec![pane(&[], 9, Timing::Late, 2, 1, true)]);
}

/// A trigger that finishes on an empty firing: with FIRE_ALWAYS closing the final pane is
/// emitted (`needToEmit`: finished), else the firing is silent (FIRE_IF_NON_EMPTY on-time
/// behavior) and the window closes, so nothing comes at garbage collection either.
#[test]
fn a_trigger_finishing_on_an_empty_firing_emits_only_with_fire_always() {
    // Early count(1), no late firings: the trigger finishes when the watermark passes the
    // end. The firing is ON_TIME (the output watermark had not passed the end) and final.
    for (closing, expected) in
        [(CloseAlways, vec![pane(&[], 9, Timing::OnTime, 1, 0, true)]), (CloseIfNonEmpty, vec![])]
    {
        let mut t = Tester::new(
            WindowSpec::fixed(10),
            "after_watermark(early=after_count(1))",
            5,
            Accumulation::Discarding,
            closing,
            OnTimeIfNonEmpty,
        );
        assert_eq!(t.input(&[1]), vec![pane(&[1], 9, Timing::Early, 0, -1, false)]);
        assert_eq!(t.watermark(10), expected, "{closing}");
        assert_eq!(t.input(&[2]), vec![], "{closing}: the window is closed");
        assert_eq!(t.watermark(15), vec![], "{closing}");
    }
}

/// Pipelines' per-key output watermark fires a window's timers one at a time, each at the
/// watermark that just passed it (deterministic whatever jumps the watermark makes): after a
/// jump, the end-of-window timer gives the ON_TIME pane (not last) and the
/// garbage-collection timer the final pane, which FIRE_ALWAYS emits empty. Its
/// garbage-collection hold is released with it.
#[test]
fn per_key_mode_gives_the_final_pane_after_a_jump() {
    use highwater_operators::reduce::OutputWatermarkMode;
    let s = WindowingStrategy::new(WindowSpec::fixed(10))
        .allowed_lateness(5)
        .closing_behavior(CloseAlways)
        .build()
        .unwrap();
    let mut r = WindowedReducer::new(s, Collect).with_output_watermark_mode(OutputWatermarkMode::PerKey);
    r.process_key("k", vec![(1, 1)], 0);
    r.advance_watermark(100, 0);
    let panes: Vec<Summary> = r.take_output().panes.iter().map(summary).collect();
    assert_eq!(panes, vec![pane(&[1], 9, Timing::OnTime, 0, 0, false), pane(&[], 9, Timing::Late, 1, 1, true)]);
    assert_eq!(r.min_hold(), None);
    assert_eq!(r.key_count(), 0);
}

/// Through the timely operator a pipeline runs: FIRE_ALWAYS gives the empty final pane after
/// a watermark jump, and it goes out no later than the window's garbage-collection time
/// (14), not at the watermark that collected it (100), so a downstream aggregation with the
/// same allowed lateness does not drop it.
#[test]
fn the_empty_final_pane_goes_out_at_the_garbage_collection_time() {
    use highwater_operators::clock::VirtualClock;
    use highwater_operators::operator::{windowed_aggregate_precombined, OutputWatermark};
    use highwater_operators::time::Time;
    use std::sync::{Arc, Mutex};
    use timely::dataflow::operators::{Input, Inspect};
    use timely::dataflow::InputHandle;

    // (the watermark a pane went out at, last, contents)
    type Seen = Vec<(i64, bool, Vec<i64>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let out = seen.clone();
    timely::execute(timely::Config::thread(), move |worker| {
        let mut input = InputHandle::new();
        let out = out.clone();
        worker.dataflow(|scope| {
            let stream = scope.input_from(&mut input).container::<Vec<(u32, i64, i64)>>();
            let s = WindowingStrategy::new(WindowSpec::fixed(10))
                .allowed_lateness(5)
                .closing_behavior(CloseAlways)
                .build()
                .unwrap();
            let clock = Arc::new(VirtualClock::new(0));
            let agg = windowed_aggregate_precombined(stream, "agg", s, Collect, clock, OutputWatermark::PerKey);
            agg.panes.inspect_core(move |event| {
                let Ok((stamp, panes)) = event else { return };
                let t = stamp.least().expect("sent at a time").watermark();
                for p in panes {
                    out.lock().unwrap().push((t, p.info.last, p.value.clone()));
                }
            });
        });
        input.send((7, 1, 1));
        for (tick, wm) in [(1, 0), (2, 10), (3, 100)] {
            input.advance_to(Time::new(wm, tick));
            for _ in 0..20 {
                worker.step();
            }
        }
    })
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    let contents: Vec<(bool, Vec<i64>)> = seen.iter().map(|(_, last, v)| (*last, v.clone())).collect();
    assert_eq!(contents, vec![(false, vec![1]), (true, vec![])]);
    assert!(seen.iter().all(|(t, _, _)| *t <= 14), "{seen:?}");
}
