//! Bidder sessions: bids per bidder with a 30-second inactivity gap.
//!
//! `cargo run -p highwater-examples --example sessions`

use highwater::model::pane::Pane;
use highwater::pipeline::{run, Collector, RunConfig, Windowing};
use highwater_examples::{bundled_bids, Bid};
use std::time::Duration;

/// Runs the pipeline and returns the sessions, sorted.
pub fn sessions(workers: usize) -> Vec<Pane<u64, u64>> {
    let panes = Collector::new();
    let sink = panes.clone();
    run(RunConfig::workers(workers), move |p| {
        p.read("bids", bundled_bids())?
            .key_by(|b: &Bid| b.bidder)
            .window(Windowing::sessions(Duration::from_secs(30)))
            .count("bids-per-session")?
            .write(sink.clone());
        Ok(())
    })
    .expect("the example pipeline runs");
    // Ticks cleared: a watermark-fired pane's tick depends on scheduling (see `Pane::tick`).
    let mut panes: Vec<_> = panes.take().into_iter().map(|(_, p)| p.without_tick()).collect();
    panes.sort_by_key(|p| (p.key, p.window));
    panes
}

fn main() {
    for p in sessions(2) {
        println!("{}", highwater::pipeline::pane_row(&p));
    }
}

#[test]
fn sessions_snapshot() {
    let panes = sessions(1);
    assert_eq!(sessions(2), panes, "same answer on 2 workers");
    let longest = panes.iter().max_by_key(|p| (p.window.end - p.window.start, p.key)).unwrap();
    let busiest = panes.iter().max_by_key(|p| (p.value, p.key)).unwrap();
    insta::assert_snapshot!(format!(
        "sessions: {}\nbidders: {}\nbids: {}\nlongest: bidder {} {} ({} bids)\nbusiest: bidder {} {} ({} bids)",
        panes.len(),
        panes.iter().map(|p| p.key).collect::<std::collections::BTreeSet<_>>().len(),
        panes.iter().map(|p| p.value).sum::<u64>(),
        longest.key,
        longest.window,
        longest.value,
        busiest.key,
        busiest.window,
        busiest.value
    ));
}
