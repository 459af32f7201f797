//! A live socket pipeline: bids arrive as CSV lines on a TCP connection (the header line
//! first), with watermark lines `{"watermark": MILLIS}` from the sender, and are counted
//! per auction in tumbling 10-second windows. Bad lines — and a last line cut by the
//! disconnect — become dead letters naming the connection, the line and the byte offset.
//!
//! `cargo run -p highwater-examples --example socket` feeds the bundled bids to the
//! pipeline itself. To feed it yourself, give an address and send lines, e.g.
//!
//! ```text
//! cargo run -p highwater-examples --example socket -- 127.0.0.1:9000 &
//! nc 127.0.0.1 9000 < examples/data/bids.csv   # one connection; the job ends when it closes
//! ```
//!
//! (without watermark lines in the data the windows fire when the connection closes).

use highwater::model::pane::Pane;
use highwater::model::watermark::WatermarkStrategy;
use highwater::pipeline::{run, Collector, DeadLetter, RunConfig, Tcp, Windowing};
use highwater_examples::{Bid, CountMax, CountMaxFn};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Runs the pipeline on `listen` (port 0: a free port) until one connection has come and
/// gone; `feed` is called on a thread with the bound address to send the data. Returns the
/// panes (sorted) and the dead letters.
pub fn socket_pipeline(
    workers: usize,
    listen: &str,
    feed: impl FnOnce(SocketAddr) + Send + 'static,
) -> (Vec<Pane<u64, CountMax>>, Vec<DeadLetter>) {
    let source = Tcp::<Bid>::bind(listen)
        .expect("a free address to listen on")
        .csv()
        .event_time(|b: &Bid| b.date_time_ms)
        .watermark(WatermarkStrategy::Punctuated)
        .max_connections(1);
    let address = source.local_addr().expect("bound");
    let feeder = std::thread::spawn(move || feed(address));
    let panes = Collector::new();
    let dead = Collector::new();
    let (p_sink, d_sink) = (panes.clone(), dead.clone());
    run(RunConfig::workers(workers), move |p| {
        p.read("bids", source.clone())?
            .key_by(|b: &Bid| b.auction)
            .map_values(|b| b.price)
            .window(Windowing::fixed(Duration::from_secs(10)))
            .aggregate("count-max", CountMaxFn)?
            .write(p_sink.clone());
        p.dead_letters().write(d_sink.clone());
        Ok(())
    })
    .expect("the example pipeline runs");
    feeder.join().expect("the feeder ends");
    // Ticks cleared: a watermark-fired pane's tick depends on scheduling (see `Pane::tick`).
    let mut panes: Vec<_> = panes.take().into_iter().map(|(_, p)| p.without_tick()).collect();
    panes.sort_by_key(|p| (p.window, p.key));
    let dead = dead.take().into_iter().map(|(_, d)| d).collect();
    (panes, dead)
}

/// Sends the bundled bids to `address` as a client would: the CSV lines as they are, a
/// watermark line 2 s behind the latest event time after every 100 lines, and a last
/// line cut short by the disconnect.
pub fn send_bundled_bids(address: SocketAddr) {
    let data =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/bids.csv")).expect("the bundled bids");
    let mut out = String::new();
    let mut latest = i64::MIN;
    for (i, line) in data.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if let Some(t) = line.rsplit(',').next().and_then(|t| t.parse::<i64>().ok()) {
            latest = latest.max(t);
        }
        if i % 100 == 99 {
            out.push_str(&format!("{{\"watermark\": {}}}\n", latest - 2_000));
        }
    }
    out.push_str("1001,17,5"); // the connection closes in the middle of this line
    let mut s = TcpStream::connect(address).expect("the pipeline listens");
    s.write_all(out.as_bytes()).expect("the pipeline reads");
}

fn main() {
    let listen = std::env::args().nth(1);
    let (panes, dead) = match &listen {
        Some(address) => {
            eprintln!("listening on {address}: send CSV lines (header first) on one connection");
            socket_pipeline(2, address, |_| {})
        }
        None => socket_pipeline(2, "127.0.0.1:0", send_bundled_bids),
    };
    for p in &panes {
        println!("{}", highwater::pipeline::pane_row(p));
    }
    for d in &dead {
        eprintln!("dead letter: {} {}: {} ({})", d.step, d.location, d.reason, d.record);
    }
}

#[test]
fn socket_snapshot() {
    // Stamps' ticks follow processing time on a live source: compare everything else.
    let view = |(panes, dead): (Vec<Pane<u64, CountMax>>, Vec<DeadLetter>)| {
        let panes: Vec<_> = panes.into_iter().map(|p| (p.key, p.window, p.value, p.info)).collect();
        // The peer's port changes from run to run: keep what follows it.
        let location = |l: &str| {
            if l.starts_with("tcp ") {
                l.split_once(", ").map_or(String::new(), |x| x.1.to_string())
            } else {
                l.to_string()
            }
        };
        let mut dead: Vec<String> = dead
            .iter()
            .map(|d| format!("{} | {} | {} | {}", d.step, location(&d.location.to_string()), d.reason, d.record))
            .collect();
        dead.sort();
        (panes, dead)
    };
    let (panes, dead) = view(socket_pipeline(1, "127.0.0.1:0", send_bundled_bids));
    assert_eq!(
        view(socket_pipeline(2, "127.0.0.1:0", send_bundled_bids)),
        (panes.clone(), dead.clone()),
        "same answer on 2 workers"
    );
    let total: u64 = panes.iter().map(|p| p.2.count).sum();
    let mut busiest = panes.clone();
    busiest.sort_by_key(|p| std::cmp::Reverse((p.2.count, p.1, p.0)));
    let top: Vec<String> = busiest
        .iter()
        .take(5)
        .map(|p| format!("auction {} {}: {} bids, max {}", p.0, p.1, p.2.count, p.2.max))
        .collect();
    insta::assert_snapshot!(format!(
        "panes: {}\nbids counted: {}\ntop:\n{}\ndead letters:\n{}",
        panes.len(),
        total,
        top.join("\n"),
        dead.join("\n")
    ));
}
