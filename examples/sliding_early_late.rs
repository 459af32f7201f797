//! Hopping windows (10 s, every 2 s) of bids per auction, with early firings every 500
//! bids' worth of data and late firings for stragglers within 5 s of allowed lateness.
//!
//! `cargo run -p highwater-examples --example sliding_early_late`

use highwater::model::pane::Pane;
use highwater::model::trigger::Trigger;
use highwater::pipeline::{run, BuildError, Collection, Collector, RunConfig, Windowing};
use highwater_examples::{bundled_bids, Bid};
use std::time::Duration;

/// The pipeline: bids per auction in hopping windows, with early and late firings.
pub fn bids_per_auction<'s>(bids: Collection<'s, Bid>) -> Result<Collection<'s, Pane<u64, u64>>, BuildError> {
    let trigger = Trigger::after_watermark().with_early(Trigger::after_count(20)).with_late(Trigger::after_count(1));
    bids.key_by(|b: &Bid| b.auction)
        .window(
            Windowing::sliding(Duration::from_secs(10), Duration::from_secs(2))
                .trigger(trigger)
                .allowed_lateness(Duration::from_secs(5))
                .accumulating(),
        )
        .count("bids-per-auction")
}

/// Runs the pipeline and returns its panes, sorted.
pub fn sliding_early_late(workers: usize) -> Vec<Pane<u64, u64>> {
    let panes = Collector::new();
    let sink = panes.clone();
    run(RunConfig::workers(workers), move |p| {
        bids_per_auction(p.read("bids", bundled_bids())?)?.write(sink.clone());
        Ok(())
    })
    .expect("the example pipeline runs");
    // Ticks cleared: a watermark-fired pane's tick depends on scheduling (see `Pane::tick`).
    let mut panes: Vec<_> = panes.take().into_iter().map(|(_, p)| p.without_tick()).collect();
    panes.sort_by_key(|p| (p.window, p.key, p.info.index));
    panes
}

fn main() {
    for p in sliding_early_late(2) {
        println!("{}", highwater::pipeline::pane_row(&p));
    }
}

#[test]
fn sliding_early_late_snapshot() {
    use highwater::model::pane::Timing;
    let panes = sliding_early_late(1);
    assert_eq!(sliding_early_late(2), panes, "same answer on 2 workers");
    let count = |t: Timing| panes.iter().filter(|p| p.info.timing == t).count();
    let late: Vec<String> = panes
        .iter()
        .filter(|p| p.info.timing == Timing::Late)
        .take(5)
        .map(|p| format!("auction {} {}: {} (pane {})", p.key, p.window, p.value, p.info.index))
        .collect();
    insta::assert_snapshot!(format!(
        "panes: {}\nearly: {}\non time: {}\nlate: {}\nfirst late panes:\n{}",
        panes.len(),
        count(Timing::Early),
        count(Timing::OnTime),
        count(Timing::Late),
        late.join("\n")
    ));
}

/// The same pipeline on a scripted history: 20 bids fire an early pane, the watermark an
/// on-time one, a straggler within the 5 s of lateness a late one, and one after it a
/// dead letter.
#[test]
fn early_on_time_and_late_panes_of_one_window() {
    use highwater::model::window::Window;
    use highwater::pipeline::DeadLetterKind;
    use highwater::testing::{Harness, TestStream};
    let bid = |t: i64| (t, Bid { auction: 7, bidder: 1, price: 10, date_time_ms: t });
    let stream = TestStream::new()
        .add_elements((0..20).map(|i| bid(1_000 + i))) // 0: the 20th bid fires early
        .add_element(9_000, bid(9_000).1) // 1
        .advance_watermark_to(10_000) // 2: [0, 10 s) on time
        .add_element(9_500, bid(9_500).1) // 3: late, within 5 s
        .advance_watermark_to(15_000) // 4: [0, 10 s) expires
        .add_element(9_600, bid(9_600).1); // 5: too late
    let result = Harness::new(stream)
        .run_on_each(&[1, 2], |p, input| bids_per_auction(p.read("bids", input)?))
        .unwrap_or_else(|e| panic!("{e}"));
    let first = result.panes_in(Window::new(0, 10_000));
    first.assert_actions([0, 2, 3]);
    first.assert_values([20, 21, 22]); // accumulating
    assert_eq!(result.dead_letters_of(DeadLetterKind::TooLate).actions(), vec![5], "only [0, 10 s) has expired");
}
