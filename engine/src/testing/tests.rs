//! The harness through real pipelines: processing time, late data, worker counts, the
//! failure messages, holds at the current watermark, a second stage.

use super::*;
use crate::dead_letter::DeadLetterKind;
use crate::pipeline::{run_with_clock, BuildError, Collection, Collector, Keyed, RunConfig, Windowing};
use highwater_operators::combine::Sum;
use highwater_operators::pane::Pane;
use highwater_operators::trigger::Trigger;
use highwater_operators::window::Window;
use std::sync::Arc;
use std::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sums per key in windows of 10 with early firings 1 000 ms (processing time) after the
/// first element of a pane, a late pane per late element and 5 of allowed lateness.
fn early_and_late<'s>(input: Keyed<'s, char, u64>) -> Result<Collection<'s, Pane<char, u64>>, BuildError> {
    let trigger = Trigger::after_watermark()
        .with_early(Trigger::after_processing_time(Duration::from_secs(1)))
        .with_late(Trigger::after_count(1));
    input
        .window(Windowing::fixed(Duration::from_millis(10)).trigger(trigger).allowed_lateness(Duration::from_millis(5)))
        .aggregate("sum", Sum::default())
}

#[test]
fn a_processing_time_trigger_fires_after_the_scripted_advance_and_not_before() {
    let stream = TestStream::new()
        .add_elements([(1, ('a', 5)), (2, ('a', 3))])
        .advance_processing_time(ms(600))
        .advance_processing_time(ms(400)) // 1 000: the delay has not passed yet (strictly after)
        .advance_processing_time(ms(1)) // 1 001
        .add_element(3, ('a', 2))
        .advance_processing_time(ms(1_000)) // the second early pane's delay starts at 1 001
        .advance_processing_time(ms(1))
        .advance_watermark_to(10);
    let result = run(stream, |p, input| early_and_late(p.read_keyed("input", input)?)).unwrap();
    let early = result.panes().early();
    early.assert_actions([3, 6]);
    early.assert_values([8, 2]);
    result.panes().on_time().assert_actions([7]);
    assert!(result.warnings().is_empty(), "{result}");
}

#[test]
fn a_late_element_fires_a_late_pane_and_a_too_late_one_becomes_a_dead_letter() {
    let stream = TestStream::new()
        .add_elements([(1, ('a', 1)), (2, ('b', 1))])
        .advance_watermark_to(10) // [0, 10) on time
        .add_element(3, ('a', 10)) // late: within 5 of allowed lateness (until 14)
        .advance_watermark_to(15) // [0, 10) expires
        .add_element(4, ('a', 100)); // too late
    let result = run(stream, |p, input| early_and_late(p.read_keyed("input", input)?)).unwrap();
    let w = Window::new(0, 10);
    result.panes_in(w).of_key(&'a').on_time().assert_values([1]);
    let late = result.panes_in(w).of_key(&'a').late().single();
    assert_eq!((late.value, late.tick, late.info.index), (10, 2, 1));
    result.panes_of(&'b').late().assert_empty();
    let dead = result.dead_letters_of(DeadLetterKind::TooLate);
    assert_eq!(dead.actions(), vec![4]);
    assert_eq!(dead.records(), vec!["100"]);
    assert_eq!(dead.single().step, "sum");
    result.dead_letters_of(DeadLetterKind::WindowClosed).assert_empty();
}

/// Several keys, early, on-time and late panes, a dead letter and a second stage.
fn busy_stream() -> TestStream<(char, u64)> {
    let keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    TestStream::new()
        .add_elements((0..30).map(|i| (i % 20, (keys[i as usize % keys.len()], i as u64))))
        .advance_processing_time(ms(1_001))
        .advance_watermark_to(9)
        .add_elements((0..10).map(|i| (5 + i, (keys[i as usize % 3], 1))))
        .advance_watermark_to(12)
        .add_elements([(3, ('a', 1000)), (11, ('b', 7))])
        .advance_processing_time(ms(1_001))
        .advance_watermark_to(30)
        .add_element(1, ('c', 5))
}

#[test]
fn the_same_panes_and_dead_letters_at_1_2_and_4_workers() {
    let result = Harness::new(busy_stream())
        .run_on_each(&[1, 2, 4], |p, input| early_and_late(p.read_keyed("input", input)?))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(result.warnings().is_empty(), "{result}");
    assert!(!result.panes().early().is_empty() && !result.panes().late().is_empty(), "{result}");
    assert_eq!(result.dead_letters().len(), 1, "{result}");
}

#[test]
fn a_second_stage_sees_the_first_stages_panes_at_every_worker_count() {
    let result = Harness::new(busy_stream())
        .run_on_each(&[1, 2, 4], |p, input| {
            // Per key, then the sum of the on-time sums of each window over all keys.
            p.read_keyed("input", input)?
                .window(Windowing::fixed(Duration::from_millis(10)))
                .aggregate("per-key", Sum::default())?
                .map_to_keyed(|pane: Pane<char, u64>| ((), pane.value))
                .window(Windowing::fixed(Duration::from_millis(10)))
                .aggregate("total", Sum::default())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let totals: Vec<(Window, u64)> = result.panes().iter().map(|p| (p.window, p.value)).collect();
    // [0, 10): 0..=9 and 20..=29 of the first bundle, five 1s; [10, 20): 10..=19, five 1s
    // and the 7 that came before the watermark passed it.
    assert_eq!(totals, vec![(Window::new(0, 10), 290 + 5), (Window::new(10, 20), 145 + 5 + 7)]);
    result.panes().assert_actions([4, 7]);
    // Too late for the first stage: 1 000 at 3 (after the watermark passed 12) and 5 at 1.
    assert_eq!(result.dead_letters().in_step("per-key").records(), vec!["1000", "5"]);
    assert!(result.warnings().is_empty(), "{result}");
}

#[test]
fn a_hold_at_the_current_watermark_does_not_stall_the_script() {
    // The watermark stands at 9, the maximum timestamp of [0, 10): the windows hold the
    // output there until it moves on, on the on-time operator and on the reducer.
    let stream = TestStream::new()
        .advance_watermark_to(9)
        .add_element(5, ('a', 1))
        .advance_processing_time(ms(1_001))
        .add_element(6, ('a', 2))
        .advance_processing_time(ms(1_001))
        .advance_watermark_to(10);
    let started = std::time::Instant::now();
    let on_time = Harness::new(stream.clone())
        .run_on_each(&[1, 2], |p, input| {
            p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("n")
        })
        .unwrap();
    on_time.panes().on_time().assert_actions([5]);
    let early =
        Harness::new(stream).run_on_each(&[1, 2], |p, input| early_and_late(p.read_keyed("input", input)?)).unwrap();
    early.panes().early().assert_actions([2, 4]);
    early.panes().early().assert_values([1, 2]);
    early.panes().on_time().assert_actions([5]);
    assert!(on_time.warnings().is_empty() && early.warnings().is_empty(), "{on_time}\n{early}");
    assert!(started.elapsed() < Duration::from_millis(super::gate::VALVE_MS as u64), "no action waited for the valve");
}

#[test]
fn a_failed_assertion_prints_the_whole_run() {
    let stream = TestStream::new().add_elements([(1, ('a', 1)), (12, ('b', 2))]).advance_watermark_to(10);
    let result = run(stream, |p, input| early_and_late(p.read_keyed("input", input)?)).unwrap();
    let failure = std::panic::catch_unwind(|| result.panes_in(Window::new(0, 10)).on_time().assert_values([5]))
        .expect_err("the values differ");
    let message = failure.downcast_ref::<String>().cloned().unwrap_or_default();
    for expected in [
        "expected values [5] among the panes of window [0, 10), on_time, found 1:",
        "key 'a', window [0, 10), on_time pane 0 (first): 1 (timestamp 9)",
        "0: elements ('a', 1) at 1, ('b', 2) at 12",
        "after action 1 (watermark to 10):",
        "at the end of the stream:",
        "key 'b', window [10, 20), on_time pane 0 (first): 2 (timestamp 19)",
    ] {
        assert!(message.contains(expected), "`{expected}` is missing from:\n{message}");
    }
}

#[test]
#[should_panic(expected = "expected exactly one pane among the panes of key 'z', found 0")]
fn single_panics_when_nothing_is_selected() {
    let stream = TestStream::new().add_element(1, ('a', 1));
    let result = run(stream, |p, input| early_and_late(p.read_keyed("input", input)?)).unwrap();
    result.panes_of(&'z').single();
}

#[test]
fn reading_the_stream_twice_is_refused() {
    let stream = TestStream::new().add_element(1, ('a', 1u64));
    let err = run(stream, |p, input| {
        let _twice = p.read_keyed("again", input.clone())?;
        early_and_late(p.read_keyed("input", input)?)
    })
    .unwrap_err();
    assert!(err.to_string().contains("read once per pipeline"), "{err}");
}

#[test]
fn outside_the_harness_the_stream_is_a_plain_source() {
    let stream = TestStream::new().add_elements([(1, 1u64), (2, 2)]).advance_watermark_to(10).add_element(3, 4);
    let out = Collector::new();
    let sink = out.clone();
    let s = stream.clone();
    run_with_clock(RunConfig::workers(2), Arc::new(stream.clock()), move |p| {
        p.read("input", s.clone())?
            .key_by(|_| ())
            .window(Windowing::fixed(Duration::from_millis(10)))
            .count("n")?
            .write(sink.clone());
        Ok(())
    })
    .unwrap();
    let counts: Vec<u64> = out.take().into_iter().map(|(_, p)| p.value).collect();
    assert_eq!(counts, vec![2], "the element at 3 came after the watermark passed its window");
}
