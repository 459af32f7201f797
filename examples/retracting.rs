//! Accumulating-and-retracting panes: per-auction bid counts in 1-minute windows with
//! early firings every 25 bids. Every refinement is preceded by the retraction of the
//! pane it replaces, so summing the `diff` column gives the latest count of each window.
//!
//! `cargo run -p highwater-examples --example retracting`

use highwater::model::pane::Pane;
use highwater::model::trigger::Trigger;
use highwater::pipeline::{run, Collector, RunConfig, Windowing};
use highwater_examples::{bundled_bids, Bid};
use std::collections::BTreeMap;
use std::time::Duration;

/// Runs the pipeline; returns the changelog in emission order per key.
pub fn retracting(workers: usize) -> Vec<Pane<u64, u64>> {
    let panes = Collector::new();
    let sink = panes.clone();
    run(RunConfig::workers(workers), move |p| {
        p.read("bids", bundled_bids())?
            .key_by(|b: &Bid| b.auction)
            .window(
                Windowing::fixed(Duration::from_secs(60))
                    .trigger(Trigger::after_watermark().with_early(Trigger::after_count(25)))
                    .retracting(),
            )
            .count("bids-per-minute")?
            .write(sink.clone());
        Ok(())
    })
    .expect("the example pipeline runs");
    panes.take().into_iter().map(|(_, p)| p).collect()
}

/// Sums the changelog: the latest count of each (auction, window).
pub fn latest(changelog: &[Pane<u64, u64>]) -> BTreeMap<(u64, i64), i64> {
    let mut m: BTreeMap<(u64, i64), i64> = BTreeMap::new();
    for p in changelog {
        *m.entry((p.key, p.window.start)).or_default() += p.diff() * p.value as i64;
    }
    m.retain(|_, v| *v != 0);
    m
}

fn main() {
    for p in retracting(2) {
        println!("{}", highwater::pipeline::pane_row(&p));
    }
}

#[test]
fn retracting_snapshot() {
    let log = retracting(1);
    let final_counts = latest(&log);
    assert_eq!(latest(&retracting(2)), final_counts, "same final collection on 2 workers");
    // The final collection equals a plain count of the same bids.
    let total: i64 = final_counts.values().sum();
    let retractions = log.iter().filter(|p| p.retraction).count();
    insta::assert_snapshot!(format!(
        "changelog rows: {}\nretractions: {}\nwindows: {}\nbids in the final collection: {}",
        log.len(),
        retractions,
        final_counts.len(),
        total
    ));
}
