//! The keyed windowed aggregate through the pipeline DSL over in-memory generated events:
//! tumble, hop and session windows, at 1 and 2 workers, with pre-combining on (the on-time
//! operators: the default trigger fires one pane per key and window) and off (every record
//! through the exchange into the general reducer), plus per-stamp combiner lifting (a
//! strategy with allowed lateness, which the on-time operators do not take); and file
//! replay of a generated bid CSV. Run with `cargo bench -p highwater-benches`.
//!
//! Each iteration processes `EVENTS` events; divan reports the time per iteration (divide
//! to get events/s; `benches/README.md` records the figures).

use highwater::pipeline::{run, Files, Generated, RunConfig, Windowing};
use highwater_benches::{Bid, Count};
use highwater_operators::watermark::WatermarkStrategy;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const EVENTS: u64 = 1_000_000;

fn main() {
    divan::main();
}

/// Generated `(auction, price)` events, 1 ms apart, 1000 auctions with a hot one.
fn events(partitions: u64) -> Generated<(u64, u64)> {
    Generated::new(EVENTS, partitions, WatermarkStrategy::Ascending, |n| {
        let auction = if n % 2 == 0 { 0 } else { n.wrapping_mul(2654435761) % 1000 };
        (n as i64, (auction, n % 997))
    })
}

fn windowed(workers: usize, windowing: Windowing, precombine: bool) -> u64 {
    let out = Arc::new(AtomicU64::new(0));
    let o = out.clone();
    run(RunConfig::workers(workers), move |p| {
        let w = p.read("events", events(4))?.map_to_keyed(|(a, price)| (a, price)).window(windowing.clone());
        let w = if precombine { w } else { w.without_precombining() };
        w.count("count")?.write(Count(o.clone()));
        Ok(())
    })
    .expect("runs");
    out.load(Ordering::Relaxed)
}

#[divan::bench(args = [1, 2], sample_count = 5)]
fn tumble(workers: usize) -> u64 {
    windowed(workers, Windowing::fixed(Duration::from_secs(10)), true)
}

#[divan::bench(args = [1, 2], sample_count = 5)]
fn tumble_without_precombining(workers: usize) -> u64 {
    windowed(workers, Windowing::fixed(Duration::from_secs(10)), false)
}

/// Allowed lateness keeps late panes possible: per-stamp combiner lifting into the reducer.
#[divan::bench(args = [1, 2], sample_count = 5)]
fn tumble_lifting_per_stamp(workers: usize) -> u64 {
    windowed(workers, Windowing::fixed(Duration::from_secs(10)).allowed_lateness(Duration::from_secs(1)), true)
}

#[divan::bench(args = [1, 2], sample_count = 5)]
fn hop(workers: usize) -> u64 {
    windowed(workers, Windowing::sliding(Duration::from_secs(10), Duration::from_secs(2)), true)
}

#[divan::bench(args = [1, 2], sample_count = 5)]
fn hop_without_precombining(workers: usize) -> u64 {
    windowed(workers, Windowing::sliding(Duration::from_secs(10), Duration::from_secs(2)), false)
}

#[divan::bench(args = [1, 2], sample_count = 5)]
fn session(workers: usize) -> u64 {
    windowed(workers, Windowing::sessions(Duration::from_millis(10)), true)
}

#[divan::bench(args = [1, 2], sample_count = 5)]
fn session_without_precombining(workers: usize) -> u64 {
    windowed(workers, Windowing::sessions(Duration::from_millis(10)), false)
}

/// File replay: parse a 1 M-bid CSV (written once) and count per auction in tumbling windows.
#[divan::bench(args = [1, 2], sample_count = 5)]
fn file_replay_tumble(bencher: divan::Bencher, workers: usize) {
    let path = std::env::temp_dir().join("highwater-bench-bids-1m.csv");
    if !path.exists() {
        let g = highwater::nexmark::Generator::default();
        let f = std::fs::File::create(&path).expect("temp file");
        highwater::nexmark::write_bids_csv(&g, 0..1_087_000, f).expect("written");
    }
    let path = path.display().to_string();
    bencher.bench(|| {
        let out = Arc::new(AtomicU64::new(0));
        let (o, path) = (out.clone(), path.clone());
        run(RunConfig::workers(workers), move |p| {
            let src = Files::<Bid>::csv([path.clone()])
                .event_time(|b: &Bid| b.date_time_ms)
                .watermark(WatermarkStrategy::bounded(Duration::from_secs(2)));
            p.read("bids", src)?
                .map_to_keyed(|b: Bid| (b.auction, b.price))
                .window(Windowing::fixed(Duration::from_secs(10)))
                .count("tumble")?
                .write(Count(o.clone()));
            Ok(())
        })
        .expect("runs");
        out.load(Ordering::Relaxed)
    });
}
