//! Tumbling 10-second windows over the bundled bids: bids and highest price per auction.
//!
//! `cargo run -p highwater-examples --example fixed_windows`

use highwater::model::pane::Pane;
use highwater::pipeline::{run, Collector, DeadLetter, RunConfig, Windowing};
use highwater_examples::{bundled_bids, Bid, CountMax, CountMaxFn};
use std::time::Duration;

/// Runs the pipeline; returns the panes (sorted) and the dead letters.
pub fn fixed_windows(workers: usize) -> (Vec<Pane<u64, CountMax>>, Vec<DeadLetter>) {
    let panes = Collector::new();
    let dead = Collector::new();
    let (p_sink, d_sink) = (panes.clone(), dead.clone());
    run(RunConfig::workers(workers), move |p| {
        p.read("bids", bundled_bids())?
            .key_by(|b: &Bid| b.auction)
            .map_values(|b| b.price)
            .window(Windowing::fixed(Duration::from_secs(10)))
            .aggregate("count-max", CountMaxFn)?
            .write(p_sink.clone());
        p.dead_letters().write(d_sink.clone());
        Ok(())
    })
    .expect("the example pipeline runs");
    // Ticks cleared: a watermark-fired pane's tick depends on scheduling (see `Pane::tick`).
    let mut panes: Vec<_> = panes.take().into_iter().map(|(_, p)| p.without_tick()).collect();
    panes.sort_by_key(|p| (p.window, p.key));
    let mut dead: Vec<_> = dead.take().into_iter().map(|(_, d)| d).collect();
    dead.sort_by(|a, b| a.location.cmp(&b.location));
    (panes, dead)
}

fn main() {
    let (panes, dead) = fixed_windows(2);
    for p in &panes {
        println!("{}", highwater::pipeline::pane_row(p));
    }
    for d in &dead {
        eprintln!("dead letter: {} {}: {} ({})", d.step, d.location, d.reason, d.record);
    }
}

#[test]
fn fixed_windows_snapshot() {
    let (panes, dead) = fixed_windows(1);
    assert_eq!(fixed_windows(2), (panes.clone(), dead.clone()), "same answer on 2 workers");
    let total: u64 = panes.iter().map(|p| p.value.count).sum();
    let mut busiest = panes.clone();
    busiest.sort_by_key(|p| std::cmp::Reverse((p.value.count, p.window, p.key)));
    let top: Vec<String> = busiest
        .iter()
        .take(5)
        .map(|p| format!("auction {} {}: {} bids, max {}", p.key, p.window, p.value.count, p.value.max))
        .collect();
    let dead: Vec<String> = dead
        .iter()
        .map(|d| format!("{} | {} | {}", d.step, d.location.to_string().rsplit('/').next().unwrap_or(""), d.reason))
        .collect();
    insta::assert_snapshot!(format!(
        "panes: {}\nbids counted: {}\ntop:\n{}\ndead letters:\n{}",
        panes.len(),
        total,
        top.join("\n"),
        dead.join("\n")
    ));
}
