//! In-memory generated numeric events through a windowed count: `generated tumble|hop|session
//! WORKERS EVENTS [noprecombine]`. Prints events/s (whole pipeline, not counting start-up).

use highwater::pipeline::{run, Generated, RunConfig, Windowing};
use highwater_benches::Count;
use highwater_operators::watermark::WatermarkStrategy;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).cloned().unwrap_or_else(|| "tumble".into());
    let workers: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let events: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let precombine = args.get(4).is_none_or(|s| s != "noprecombine");
    let windowing = match kind.as_str() {
        "hop" => Windowing::sliding(Duration::from_secs(10), Duration::from_secs(2)),
        "session" => Windowing::sessions(Duration::from_millis(10)),
        _ => Windowing::fixed(Duration::from_secs(10)),
    };
    let out = Arc::new(AtomicU64::new(0));
    let o = out.clone();
    let start = std::time::Instant::now();
    run(RunConfig::workers(workers), move |p| {
        let src = Generated::new(events, 4 * p.peers() as u64, WatermarkStrategy::Ascending, |n| {
            let auction = if n % 2 == 0 { 0 } else { n.wrapping_mul(2654435761) % 1000 };
            (n as i64, (auction, n % 997))
        });
        let w = p.read("events", src)?.map_to_keyed(|(a, price): (u64, u64)| (a, price)).window(windowing.clone());
        let w = if precombine { w } else { w.without_precombining() };
        w.count("count")?.write(Count(o.clone()));
        Ok(())
    })
    .expect("runs");
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{kind} workers={workers} precombine={precombine}: {events} events, {} panes, {secs:.3} s, {:.2} M events/s",
        out.load(Ordering::Relaxed),
        events as f64 / secs / 1e6
    );
}
