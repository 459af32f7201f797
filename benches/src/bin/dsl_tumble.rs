//! The tumble query written with the pipeline DSL over a bid CSV file: count and highest
//! price per auction in 10-second windows. `dsl_tumble FILE WORKERS`.

use highwater::pipeline::{run, Files, RunConfig, Windowing};
use highwater_benches::{Bid, Count, CountMax};
use highwater_operators::watermark::WatermarkStrategy;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).cloned().expect("usage: dsl_tumble FILE [WORKERS] [read|key|full|noprecombine]");
    let workers: usize = args.get(2).and_then(|w| w.parse().ok()).unwrap_or(1);
    // Stages, to see where the time goes: read | key | full (default) | noprecombine.
    let stage = args.get(3).cloned().unwrap_or_else(|| "full".into());
    let rows = Arc::new(AtomicU64::new(0));
    let r = rows.clone();
    let start = std::time::Instant::now();
    let summary = run(RunConfig::workers(workers), move |p| {
        let src = Files::<Bid>::csv([path.clone()])
            .event_time(|b: &Bid| b.date_time_ms)
            .watermark(WatermarkStrategy::bounded(Duration::from_secs(2)));
        let bids = p.read("bids", src)?;
        match stage.as_str() {
            "read" => bids.write(Count(r.clone())),
            "key" => bids.map_to_keyed(|b: Bid| (b.auction, b.price)).into_pairs().write(Count(r.clone())),
            "noprecombine" => bids
                .map_to_keyed(|b: Bid| (b.auction, b.price))
                .window(Windowing::fixed(Duration::from_secs(10)))
                .without_precombining()
                .aggregate("tumble", CountMax)?
                .write(Count(r.clone())),
            _ => bids
                .map_to_keyed(|b: Bid| (b.auction, b.price))
                .window(Windowing::fixed(Duration::from_secs(10)))
                .aggregate("tumble", CountMax)?
                .write(Count(r.clone())),
        }
        Ok(())
    })
    .expect("runs");
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{} records, {} panes, {:.3} s, {:.2} M records/s",
        summary.records_read,
        rows.load(Ordering::Relaxed),
        secs,
        summary.records_read as f64 / secs / 1e6
    );
}
