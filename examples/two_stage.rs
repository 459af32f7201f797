//! A two-stage retracting pipeline over the bundled bids: stage 1 counts bids per auction
//! in 1-minute windows with early firings every 50 bids and late firings, in
//! accumulating-and-retracting mode; stage 2 keeps the busiest auction of each window. When
//! an early or late pane changes a count, stage 1 retracts the pane it replaces and stage 2
//! retracts the winner it no longer has. Printed as upserts and deletes.
//!
//! `cargo run -p highwater-examples --example two_stage` — explained in
//! `docs/retractions.md`.

use highwater::model::combine::Count;
use highwater::model::trigger::Trigger;
use highwater::pipeline::{run, Collector, RunConfig, Upsert, Windowing};
use highwater_examples::{bundled_bids, Bid};
use std::time::Duration;

/// The stage-2 upserts and deletes, in the order they were produced (per worker), and the
/// number of stage-1 pane changes.
pub fn two_stage(workers: usize) -> Vec<Upsert<(), (u64, Vec<u64>)>> {
    let out = Collector::new();
    let sink = out.clone();
    run(RunConfig::workers(workers), move |p| {
        let windowing = Windowing::fixed(Duration::from_secs(60))
            .trigger(Trigger::after_watermark().with_early(Trigger::after_count(50)).with_late(Trigger::after_count(1)))
            .allowed_lateness(Duration::from_secs(10))
            .retracting();
        p.read("bids", bundled_bids())?
            .map_to_keyed(|b: Bid| (b.auction, ()))
            .window(windowing)
            .changelog("bids-per-auction", Count)?
            .max_per_window(|n: &u64| *n)
            .into_upserts()
            .write(sink.clone());
        Ok(())
    })
    .expect("the example pipeline runs");
    out.take().into_iter().map(|(_, u)| u).collect()
}

fn main() {
    for u in two_stage(2) {
        println!("{}", serde_json::to_string(&u).expect("serializable"));
    }
}

#[test]
fn two_stage_snapshot() {
    let log = two_stage(1);
    // The final winner of each window: the last upsert per window.
    let final_winners = |log: &[Upsert<(), (u64, Vec<u64>)>]| {
        let mut m = std::collections::BTreeMap::new();
        for u in log {
            match u {
                Upsert::Upsert { window, value, .. } => {
                    m.insert(window.start, value.clone());
                }
                Upsert::Delete { window, .. } => {
                    m.remove(&window.start);
                }
            }
        }
        m
    };
    let fin = final_winners(&log);
    assert_eq!(final_winners(&two_stage(2)), fin, "same final answer on 2 workers");
    let changes = log.len() - fin.len();
    let first: Vec<String> = log.iter().take(6).map(|u| serde_json::to_string(u).unwrap()).collect();
    let winners: Vec<String> = fin.iter().map(|(w, (n, a))| format!("{w}: auction(s) {a:?} with {n} bids")).collect();
    insta::assert_snapshot!(format!(
        "upserts and deletes: {}\nrevisions before the final answer: {changes}\nfirst rows:\n{}\nfinal winners:\n{}",
        log.len(),
        first.join("\n"),
        winners.join("\n")
    ));
}
