//! Hopping windows (10 s, every 2 s) of bids per auction, with early firings every 500
//! bids' worth of data and late firings for stragglers within 5 s of allowed lateness.
//!
//! `cargo run -p highwater-examples --example sliding_early_late`

use highwater::model::pane::Pane;
use highwater::model::trigger::Trigger;
use highwater::pipeline::{run, Collector, RunConfig, Windowing};
use highwater_examples::{bundled_bids, Bid};
use std::time::Duration;

/// Runs the pipeline and returns its panes, sorted.
pub fn sliding_early_late(workers: usize) -> Vec<Pane<u64, u64>> {
    let panes = Collector::new();
    let sink = panes.clone();
    run(RunConfig::workers(workers), move |p| {
        let trigger =
            Trigger::after_watermark().with_early(Trigger::after_count(20)).with_late(Trigger::after_count(1));
        p.read("bids", bundled_bids())?
            .key_by(|b: &Bid| b.auction)
            .window(
                Windowing::sliding(Duration::from_secs(10), Duration::from_secs(2))
                    .trigger(trigger)
                    .allowed_lateness(Duration::from_secs(5))
                    .accumulating(),
            )
            .count("bids-per-auction")?
            .write(sink.clone());
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
