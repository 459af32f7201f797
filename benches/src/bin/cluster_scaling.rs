//! Scaling of a file replay over workers and processes.
//!
//! The tumble query (count and highest price per auction in 10-second windows, with the
//! pipeline DSL) over Nexmark bids split into several CSV files (one partition each,
//! interleaved so each file spans the whole time range), run at:
//!
//! - 1 worker,
//! - 2 workers in one process,
//! - 2 processes × 1 worker: two timely processes inside this one OS process, talking over
//!   loopback TCP exactly as separate processes do (the exchange is serialised).
//!
//! Reports the best of REPEATS runs as events/s and the ratio to 1 worker, and checks
//! that every configuration emits the same number of panes.
//!
//! `cargo run --release -p highwater-benches --bin cluster_scaling -- [EVENTS] [FILES] [REPEATS]`
//! (defaults: 2000000 4 3).

use highwater::nexmark::{Generator, BIDS_CSV_HEADER};
use highwater::pipeline::{run, Files, RunConfig, Windowing};
use highwater_benches::{Bid, Count, CountMax};
use highwater_operators::watermark::WatermarkStrategy;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

/// Writes `events` generated events' bids into `files` CSV files, event `n` to file
/// `n % files`.
fn write_files(dir: &Path, events: u64, files: u64) -> Vec<String> {
    let generator = Generator::default();
    let paths: Vec<PathBuf> = (0..files).map(|f| dir.join(format!("bids-{f}.csv"))).collect();
    let mut outs: Vec<BufWriter<std::fs::File>> =
        paths.iter().map(|p| BufWriter::new(std::fs::File::create(p).expect("create a bid file"))).collect();
    for o in &mut outs {
        writeln!(o, "{BIDS_CSV_HEADER}").expect("write");
    }
    for n in 0..events {
        if let Some(b) = generator.bid_row(n) {
            writeln!(outs[(n % files) as usize], "{},{},{},{}", b.auction, b.bidder, b.price, b.date_time)
                .expect("write");
        }
    }
    for o in &mut outs {
        o.flush().expect("flush");
    }
    paths.iter().map(|p| p.display().to_string()).collect()
}

/// One run of the query on `config`; returns (records read, panes).
fn tumble(config: RunConfig, files: Vec<String>) -> (u64, u64) {
    let panes = Arc::new(AtomicU64::new(0));
    let p = panes.clone();
    let summary = run(config, move |pipe| {
        let src = Files::<Bid>::csv(files.clone())
            .event_time(|b: &Bid| b.date_time_ms)
            .watermark(WatermarkStrategy::bounded(Duration::from_secs(2)));
        pipe.read("bids", src)?
            .key_by(|b: &Bid| b.auction)
            .map_values(|b| b.price)
            .window(Windowing::fixed(Duration::from_secs(10)))
            .aggregate("tumble", CountMax)?
            .write(Count(p.clone()));
        Ok(())
    })
    .expect("the query runs");
    (summary.records_read, panes.load(Ordering::Relaxed))
}

/// Two processes of one worker each, as two threads of this process over loopback.
fn two_processes(files: Vec<String>) -> (u64, u64) {
    let listeners: Vec<_> = (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port")).collect();
    let hosts: Vec<String> = listeners.iter().map(|l| l.local_addr().expect("port").to_string()).collect();
    drop(listeners);
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let (hosts, files) = (hosts.clone(), files.clone());
            std::thread::spawn(move || tumble(RunConfig::cluster(1, i, hosts), files))
        })
        .collect();
    handles.into_iter().map(|h| h.join().expect("a process")).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let events: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let nfiles: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(4).max(1);
    let repeats: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(3).max(1);
    let dir = std::env::temp_dir().join(format!("highwater-cluster-scaling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let files = write_files(&dir, events, nfiles);
    eprintln!(
        "{events} events ({} cores), bids in {nfiles} files under {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        dir.display()
    );

    type Config = (&'static str, fn(Vec<String>) -> (u64, u64));
    let configs: [Config; 3] = [
        ("1 worker", |f| tumble(RunConfig::workers(1), f)),
        ("2 workers", |f| tumble(RunConfig::workers(2), f)),
        ("2 processes x 1 worker", two_processes),
    ];
    let mut base = None;
    let mut panes_seen = None;
    for (name, f) in configs {
        let mut best = f64::INFINITY;
        let mut records = 0;
        for _ in 0..repeats {
            let start = Instant::now();
            let (r, panes) = f(files.clone());
            best = best.min(start.elapsed().as_secs_f64());
            records = r;
            assert_eq!(*panes_seen.get_or_insert(panes), panes, "{name} emitted a different number of panes");
        }
        let rate = records as f64 / best;
        let ratio = rate / *base.get_or_insert(rate);
        println!("{name:>24}: {records} bids in {best:.3} s = {:.2} M events/s ({ratio:.2}x 1 worker)", rate / 1e6);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
