//! Live sockets end to end: the TCP source (concurrent clients, back-pressure, a disconnect
//! mid-line, an over-long line, watermark lines, an idle connection, a stop handle, a
//! connecting source), the TCP and CSV sinks, paced file replay, and `highwater run` on a
//! socket. Loopback only; every test ends by itself within seconds (a pipeline that does
//! not end fails its test at a deadline).

use highwater::pipeline::{
    pane_row, run, Collector, CsvFile, DeadLetter, Files, Memory, PipelineError, RunConfig, RunSummary, Tcp, TcpSink,
    Windowing,
};
use highwater_operators::pane::{Pane, Timing};
use highwater_operators::trigger::Trigger;
use highwater_operators::watermark::WatermarkStrategy;
use highwater_tests::temp_dir;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Bid {
    auction: u64,
    price: u64,
    time: i64,
}

/// How long any one pipeline of these tests may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// Runs `f` on a thread and waits for it at most [`DEADLINE`].
fn within_deadline<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(DEADLINE).unwrap_or_else(|_| panic!("{what} did not end within {DEADLINE:?}"))
}

fn bid_line(auction: u64, price: u64, time: i64) -> String {
    format!("{{\"auction\":{auction},\"price\":{price},\"time\":{time}}}\n")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("the test listener accepts");
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// A bid source on a free loopback port.
fn bids_source(strategy: WatermarkStrategy) -> (Tcp<Bid>, SocketAddr) {
    let src =
        Tcp::<Bid>::bind("127.0.0.1:0").expect("a free loopback port").event_time(|b: &Bid| b.time).watermark(strategy);
    let addr = src.local_addr().expect("bound");
    (src, addr)
}

/// Reads `src` into collectors of records and dead letters on `workers` workers.
fn collect(workers: usize, src: Tcp<Bid>) -> (Vec<Bid>, Vec<DeadLetter>, RunSummary) {
    let records = Collector::new();
    let dead = Collector::new();
    let (r, d) = (records.clone(), dead.clone());
    let summary = within_deadline("the socket pipeline", move || {
        run(RunConfig::workers(workers), move |p| {
            p.read("bids", src.clone())?.write(r.clone());
            p.dead_letters().write(d.clone());
            Ok(())
        })
    })
    .expect("the pipeline runs");
    let records = records.take().into_iter().map(|(_, b)| b).collect();
    let dead = dead.take().into_iter().map(|(_, d)| d).collect();
    (records, dead, summary)
}

#[test]
fn two_concurrent_clients_each_a_partition() {
    let (src, addr) = bids_source(WatermarkStrategy::bounded(Duration::from_secs(1)));
    let src = src.max_connections(2);
    let counter = src.clone();
    // Both clients connect before either sends, then send interleaved in time.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let clients: Vec<_> = (0..2u64)
        .map(|c| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut s = connect(addr);
                barrier.wait();
                for i in 0..500u64 {
                    s.write_all(bid_line(c, i, i as i64 * 10).as_bytes()).unwrap();
                    if i % 100 == 0 {
                        thread::sleep(Duration::from_millis(5));
                    }
                }
            })
        })
        .collect();
    let (records, dead, summary) = collect(2, src);
    for c in clients {
        c.join().unwrap();
    }
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(summary.records_read, 1_000);
    assert_eq!(counter.connections(), 2);
    for client in 0..2 {
        let prices: Vec<u64> = records.iter().filter(|b| b.auction == client).map(|b| b.price).collect();
        assert_eq!(prices, (0..500).collect::<Vec<_>>(), "client {client}: every line, in order");
    }
}

#[test]
fn many_clients_through_small_queues_lose_nothing() {
    // Queues of 16 lines: the readers stop and wait for the operator again and again.
    let (src, addr) = bids_source(WatermarkStrategy::bounded(Duration::from_secs(1)));
    let src = src.max_connections(8).queue_capacity(16).batch_size(10);
    let clients: Vec<_> = (0..8u64)
        .map(|c| {
            thread::spawn(move || {
                let mut s = connect(addr);
                let text: String = (0..3_000u64).map(|i| bid_line(c, i, i as i64)).collect();
                s.write_all(text.as_bytes()).unwrap();
            })
        })
        .collect();
    let (records, dead, summary) = collect(2, src);
    for c in clients {
        c.join().unwrap();
    }
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(summary.records_read, 24_000);
    for client in 0..8 {
        assert!(
            records.iter().filter(|b| b.auction == client).map(|b| b.price).eq(0..3_000),
            "client {client}: every line, in order"
        );
    }
}

#[test]
fn a_disconnect_mid_line_drops_only_that_line() {
    let (src, addr) = bids_source(WatermarkStrategy::bounded(Duration::from_secs(1)));
    let client = thread::spawn(move || {
        let mut s = connect(addr);
        let mut text = String::new();
        for i in 0..3 {
            text.push_str(&bid_line(7, i, 1_000 + i as i64));
        }
        text.push_str("{\"auction\":7,\"pri");
        s.write_all(text.as_bytes()).unwrap();
        // The peer disconnects mid-line.
        let peer = s.local_addr().unwrap();
        (peer, text.len() - "{\"auction\":7,\"pri".len())
    });
    let (records, dead, summary) = collect(2, src.max_connections(1));
    let (peer, offset) = client.join().unwrap();
    assert_eq!(
        records.iter().map(|b| b.price).collect::<Vec<_>>(),
        [0, 1, 2],
        "everything before the cut is processed"
    );
    assert_eq!(summary.records_read, 3);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].step, "bids");
    assert_eq!(
        dead[0].location,
        highwater::pipeline::Location::Peer { peer: peer.to_string(), line: 4, byte: offset as u64 }
    );
    assert_eq!(dead[0].kind, highwater::pipeline::DeadLetterKind::Disconnect);
    assert_eq!(
        dead[0].reason,
        "the connection closed in the middle of a line: the partial line of 17 bytes (no newline) is dropped"
    );
    assert_eq!(dead[0].record, "{\"auction\":7,\"pri");
}

#[test]
fn bad_lines_are_dead_letters_and_an_over_long_line_is_skipped_to_its_end() {
    let (src, addr) = bids_source(WatermarkStrategy::bounded(Duration::from_secs(1)));
    let client = thread::spawn(move || {
        let mut s = connect(addr);
        let long = format!("{{\"auction\":1,\"price\":1,\"time\":5,\"pad\":\"{}\"}}\n", "x".repeat(10_000));
        let mut bytes = bid_line(1, 10, 1_000).into_bytes();
        bytes.extend_from_slice(long.as_bytes());
        bytes.extend_from_slice(b"{\"auction\":1,\"price\":11,\"time\":\"soon\"}\n");
        bytes.extend_from_slice(b"{\"auction\":1,\"price\":12,\"time\":1,\"note\":\"\xff\xfe\"}\n");
        bytes.extend_from_slice(b"not json at all\n");
        bytes.extend_from_slice(bid_line(1, 13, 2_000).as_bytes());
        s.write_all(&bytes).unwrap();
    });
    let (records, dead, _) = collect(1, src.max_connections(1).max_line_length(100));
    client.join().unwrap();
    assert_eq!(records.iter().map(|b| b.price).collect::<Vec<_>>(), [10, 13], "the lines around the bad ones are read");
    let reasons: Vec<(String, String)> = dead
        .iter()
        .map(|d| (d.location.to_string().rsplit(", ").next().unwrap_or("").to_string(), d.reason.clone()))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(
        reasons[0],
        ("line 2 (byte 37)".to_string(), "line longer than 100 bytes: skipped up to the next newline".to_string())
    );
    assert!(
        reasons[1].0 == "line 3 (byte 10079)" && reasons[1].1.contains("invalid type: string \"soon\""),
        "{reasons:?}"
    );
    assert!(reasons[2].0.starts_with("line 4") && reasons[2].1.starts_with("invalid UTF-8"), "{reasons:?}");
    assert!(reasons[3].0.starts_with("line 5") && reasons[3].1.starts_with("not a valid record"), "{reasons:?}");
    assert_eq!(dead[0].record.len(), 200, "the start of the over-long line is kept");
}

/// A pipeline running on its own thread.
type Running = thread::JoinHandle<Result<RunSummary, PipelineError>>;

/// Starts a count per auction over `src`; returns its panes, its dead letters and the
/// running pipeline.
fn count_panes(src: Tcp<Bid>, windowing: Windowing) -> (Collector<Pane<u64, u64>>, Collector<DeadLetter>, Running) {
    let panes = Collector::new();
    let dead = Collector::new();
    let (p_sink, d_sink) = (panes.clone(), dead.clone());
    let handle = thread::spawn(move || {
        run(RunConfig::workers(2), move |p| {
            p.read("bids", src.clone())?
                .key_by(|b: &Bid| b.auction)
                .window(windowing.clone())
                .count("count")?
                .write(p_sink.clone());
            p.dead_letters().write(d_sink.clone());
            Ok(())
        })
    });
    (panes, dead, handle)
}

/// Waits for the pipeline thread at most [`DEADLINE`].
fn join(handle: Running) -> RunSummary {
    let start = Instant::now();
    while !handle.is_finished() {
        assert!(start.elapsed() < DEADLINE, "the socket pipeline did not end within {DEADLINE:?}");
        thread::sleep(Duration::from_millis(10));
    }
    handle.join().expect("the pipeline thread").expect("the pipeline runs")
}

/// Takes panes until `done` says enough, for at most [`DEADLINE`].
fn wait_for<T>(c: &Collector<T>, seen: &mut Vec<T>, done: impl Fn(&[T]) -> bool) {
    let start = Instant::now();
    loop {
        seen.extend(c.take().into_iter().map(|(_, x)| x));
        if done(seen) {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "waited {DEADLINE:?} in vain");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn watermark_lines_close_windows_and_later_records_are_late() {
    let (src, addr) = bids_source(WatermarkStrategy::Punctuated);
    let (panes, dead, handle) = count_panes(src.max_connections(1), Windowing::fixed(Duration::from_secs(10)));
    let mut s = connect(addr);
    let mut text = bid_line(1, 1, 1_000) + &bid_line(1, 2, 2_000) + &bid_line(2, 3, 15_000);
    text.push_str("{\"watermark\": 10000}\n");
    text.push_str(&bid_line(1, 4, 3_000)); // behind the watermark: too late
    text.push_str(&bid_line(1, 5, 12_000));
    s.write_all(text.as_bytes()).unwrap();
    // The first window is complete while the connection is still open.
    let mut seen = Vec::new();
    wait_for(&panes, &mut seen, |p: &[Pane<u64, u64>]| !p.is_empty());
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].key, seen[0].window.start, seen[0].value, seen[0].info.timing), (1, 0, 2, Timing::OnTime));
    drop(s);
    join(handle);
    seen.extend(panes.take().into_iter().map(|(_, p)| p));
    let mut rows: Vec<(u64, i64, u64)> = seen.iter().map(|p| (p.key, p.window.start, p.value)).collect();
    rows.sort();
    assert_eq!(rows, [(1, 0, 2), (1, 10_000, 1), (2, 10_000, 1)]);
    let dead: Vec<DeadLetter> = dead.take().into_iter().map(|(_, d)| d).collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].step, "count");
    assert!(dead[0].reason.starts_with("too late"), "{dead:?}");
    // The record itself is kept (it used to be only "event time X, watermark Y").
    assert!(dead[0].record.contains("\"time\":3000") && dead[0].record.contains("\"price\":4"), "{dead:?}");
    assert!(dead[0].location.to_string().contains("event time 3000"), "{dead:?}");
}

#[test]
fn an_idle_connection_stops_holding_the_watermark_back() {
    let (src, addr) = bids_source(WatermarkStrategy::Punctuated);
    let src = src.max_connections(2).idle_timeout(Duration::from_millis(300));
    let counter = src.clone();
    let (panes, _dead, handle) = count_panes(src, Windowing::fixed(Duration::from_secs(10)));
    let silent = connect(addr);
    let start = Instant::now();
    while counter.connections() < 1 {
        assert!(start.elapsed() < DEADLINE);
        thread::sleep(Duration::from_millis(5));
    }
    let mut busy = connect(addr);
    busy.write_all((bid_line(1, 1, 1_000) + &bid_line(1, 2, 2_000) + "{\"watermark\": 20000}\n").as_bytes()).unwrap();
    // The silent connection would hold the watermark at its start for ever; idle, it
    // does not, and the window fires while both connections are open.
    let mut seen = Vec::new();
    wait_for(&panes, &mut seen, |p: &[Pane<u64, u64>]| !p.is_empty());
    assert_eq!((seen[0].key, seen[0].window.start, seen[0].value), (1, 0, 2));
    assert!(start.elapsed() >= Duration::from_millis(300), "not before the idle timeout");
    drop((silent, busy));
    join(handle);
}

#[test]
fn processing_time_triggers_fire_while_the_connection_is_quiet() {
    let (src, addr) = bids_source(WatermarkStrategy::bounded(Duration::from_secs(1)));
    let windowing = Windowing::fixed(Duration::from_secs(3600))
        .trigger(Trigger::after_watermark().with_early(Trigger::after_processing_time(Duration::from_millis(100))))
        .accumulating();
    let (panes, _dead, handle) = count_panes(src.max_connections(1), windowing);
    let mut s = connect(addr);
    s.write_all((bid_line(1, 1, 1_000) + &bid_line(1, 2, 2_000) + &bid_line(1, 3, 3_000)).as_bytes()).unwrap();
    let mut seen = Vec::new();
    wait_for(&panes, &mut seen, |p: &[Pane<u64, u64>]| p.iter().any(|p| p.value == 3));
    assert!(seen.iter().all(|p| p.info.timing == Timing::Early), "{seen:?}");
    drop(s);
    join(handle);
    seen.extend(panes.take().into_iter().map(|(_, p)| p));
    let last = seen.last().expect("panes");
    assert_eq!((last.value, last.info.timing), (3, Timing::OnTime));
}

#[test]
fn a_stop_handle_ends_the_listener() {
    let (src, addr) = bids_source(WatermarkStrategy::bounded(Duration::from_secs(1)));
    let stop = src.stop_handle();
    let client = thread::spawn(move || {
        let mut s = connect(addr);
        s.write_all((bid_line(1, 1, 1_000) + &bid_line(1, 2, 2_000)).as_bytes()).unwrap();
        drop(s);
        // The listener keeps accepting until it is told to stop.
        thread::sleep(Duration::from_millis(200));
        let mut again = connect(addr);
        again.write_all(bid_line(2, 3, 3_000).as_bytes()).unwrap();
        drop(again);
        thread::sleep(Duration::from_millis(200));
        stop.stop();
    });
    let (records, dead, _) = collect(2, src);
    client.join().unwrap();
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(records.iter().map(|b| b.price).collect::<Vec<_>>(), [1, 2, 3]);
}

#[test]
fn csv_over_a_connection_the_source_makes() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let feeder = thread::spawn(move || {
        let (mut conn, _) = server.accept().unwrap();
        conn.write_all(b"time,auction,price\n1000,1,10\n2000,2,oops\n\n3000,1,30\n").unwrap();
    });
    let src = Tcp::<Bid>::connect(addr.to_string())
        .csv()
        .event_time(|b: &Bid| b.time)
        .watermark(WatermarkStrategy::Ascending);
    let (records, dead, _) = collect(2, src);
    feeder.join().unwrap();
    assert_eq!(records, [Bid { auction: 1, price: 10, time: 1_000 }, Bid { auction: 1, price: 30, time: 3_000 }]);
    assert_eq!(dead.len(), 1);
    assert!(dead[0].reason.contains("field 3 `price`"), "{dead:?}");
    assert!(dead[0].location.to_string().ends_with(", line 3 (byte 29)"), "{dead:?}");
}

#[test]
fn csv_with_the_header_given_in_the_builder() {
    let (src, addr) = bids_source(WatermarkStrategy::Ascending);
    let client = thread::spawn(move || connect(addr).write_all(b"1,10,1000\n2,20,2000\n").unwrap());
    let (records, dead, _) = collect(1, src.csv_with_header(["auction", "price", "time"]).max_connections(1));
    client.join().unwrap();
    assert!(dead.is_empty(), "{dead:?}");
    assert_eq!(records.iter().map(|b| b.price).collect::<Vec<_>>(), [10, 20]);
}

#[test]
fn a_connecting_source_that_finds_no_server_fails_the_build() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let src = Tcp::<Bid>::connect(format!("127.0.0.1:{port}"))
        .event_time(|b: &Bid| b.time)
        .watermark(WatermarkStrategy::Ascending)
        .connect_timeout(Duration::from_millis(500));
    let err = within_deadline("the failing build", move || {
        run(RunConfig::workers(1), move |p| p.read("bids", src.clone()).map(|_| ()))
    })
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("source `bids`: cannot connect to 127.0.0.1:") && text.contains("is the server running?"),
        "{text}"
    );
}

#[test]
fn the_tcp_sink_writes_json_lines_and_fails_when_nobody_listens() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let sink = TcpSink::<Pane<u64, u64>>::connect(server.local_addr().unwrap().to_string()).format(pane_row);
    let reader = thread::spawn(move || {
        let (conn, _) = server.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        BufReader::new(conn).lines().map(|l| l.unwrap()).collect::<Vec<String>>()
    });
    let bids: Vec<(i64, Bid)> =
        (0..100).map(|i| (i * 100, Bid { auction: (i % 2) as u64, price: i as u64, time: i * 100 })).collect();
    within_deadline("the sink pipeline", move || {
        run(RunConfig::workers(2), move |p| {
            p.read("bids", Memory::new(vec![bids.clone()], WatermarkStrategy::Ascending))?
                .key_by(|b: &Bid| b.auction)
                .window(Windowing::fixed(Duration::from_secs(5)))
                .count("count")?
                .write(sink.clone());
            Ok(())
        })
    })
    .expect("the pipeline runs");
    let mut lines = reader.join().unwrap();
    lines.sort();
    assert_eq!(lines.len(), 4, "one connection per process, closed at the end: {lines:?}");
    assert_eq!(
        lines[0],
        r#"{"key":0,"window":{"start":0,"end":5000},"value":25,"timestamp":4999,"pane":{"index":0,"nonspeculative_index":0,"timing":"on_time","first":true,"last":true},"retraction":false}"#
    );

    // Nobody listens: the sink retries, then the run fails saying so.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let sink = TcpSink::<u64>::connect(format!("127.0.0.1:{port}")).retry_for(Duration::from_millis(300));
    let err = within_deadline("the failing sink", move || {
        run(RunConfig::workers(1), move |p| {
            p.read("n", Memory::new(vec![vec![(1, 1u64)]], WatermarkStrategy::Ascending))?.write(sink.clone());
            Ok(())
        })
    })
    .unwrap_err();
    assert!(
        matches!(&err, PipelineError::Runtime(m) if m[0].starts_with(&format!("TCP sink: cannot connect to 127.0.0.1:{port}"))),
        "{err}"
    );
}

#[test]
fn the_csv_file_sink_writes_a_header_and_one_row_per_record() {
    let dir = temp_dir("tcp-csv-sink");
    let path = dir.join("bids.csv");
    let out = path.clone();
    let bids: Vec<(i64, Bid)> = (0..50).map(|i| (i, Bid { auction: i as u64 % 3, price: i as u64, time: i })).collect();
    within_deadline("the CSV pipeline", move || {
        run(RunConfig::workers(2), move |p| {
            p.read("bids", Memory::new(vec![bids[..25].to_vec(), bids[25..].to_vec()], WatermarkStrategy::Ascending))?
                .write(CsvFile::create(&out));
            Ok(())
        })
    })
    .expect("the pipeline runs");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.remove(0), "auction,price,time", "one header, from the field names");
    lines.sort_by_key(|l| l.split(',').nth(1).and_then(|p| p.parse::<u64>().ok()));
    assert_eq!(lines.len(), 50);
    assert_eq!(lines[7], "1,7,7");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn paced_replay_releases_records_at_their_event_time_speed() {
    let dir = temp_dir("tcp-paced");
    let path = dir.join("bids.jsonl");
    let text: String = (0..=10).map(|i| bid_line(1, i, 1_000 + i as i64 * 100)).collect();
    std::fs::write(&path, text).unwrap();
    let file = path.display().to_string();
    let start = Instant::now();
    let records = Collector::new();
    let r = records.clone();
    within_deadline("the paced replay", move || {
        run(RunConfig::workers(1), move |p| {
            let src = Files::<Bid>::json_lines([file.clone()])
                .event_time(|b: &Bid| b.time)
                .watermark(WatermarkStrategy::Ascending)
                .paced(4.0);
            p.read("bids", src)?.write(r.clone());
            Ok(())
        })
    })
    .expect("the pipeline runs");
    let took = start.elapsed();
    // One second of event time at 4x: 250 ms (less the clock's millisecond rounding).
    assert!(took >= Duration::from_millis(240), "{took:?}");
    assert_eq!(records.take().len(), 11);
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_args(argv: &[&str]) -> highwater::cli::run::RunArgs {
    use clap::Parser;
    highwater::cli::run::RunArgs::try_parse_from(argv).expect("valid flags")
}

#[test]
fn highwater_run_connects_to_a_csv_socket() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let feeder = thread::spawn(move || {
        let (mut conn, _) = server.accept().unwrap();
        conn.write_all(b"k,price,t\na,5,1000\na,7,4000\nb,x,5000\nb,1,12000\na,2,13000\n").unwrap();
    });
    let dir = temp_dir("tcp-run-connect");
    let (out, dead) = (dir.join("panes.jsonl"), dir.join("dead.jsonl"));
    let args = run_args(&[
        "run",
        "--connect",
        &addr,
        "--format",
        "csv",
        "--time-field",
        "t",
        "--key-field",
        "k",
        "--count",
        "--sum",
        "price",
        "--window",
        "fixed(10s)",
        "--output",
        out.to_str().unwrap(),
        "--dead-letters",
        dead.to_str().unwrap(),
    ]);
    let summary =
        within_deadline("highwater run --connect", move || highwater::cli::run::run(&args)).expect("the job runs");
    feeder.join().unwrap();
    assert_eq!((summary.connections, summary.records_read, summary.malformed, summary.panes_emitted), (1, 4, 1, 3));
    assert_eq!(
        summary.to_string(),
        "4 records read from 1 connection(s), 3 panes emitted, 0 late-dropped, 1 malformed"
    );
    let mut panes: Vec<String> = std::fs::read_to_string(&out).unwrap().lines().map(String::from).collect();
    panes.sort();
    assert_eq!(
        panes[0],
        r#"{"key":"a","window":{"start":0,"end":10000},"value":{"count":2,"sum_price":12},"timestamp":9999,"pane":{"index":0,"nonspeculative_index":0,"timing":"on_time","first":true,"last":true},"retraction":false}"#
    );
    let dead = std::fs::read_to_string(&dead).unwrap();
    let dead: serde_json::Value = serde_json::from_str(dead.trim()).unwrap();
    assert_eq!(dead["kind"], "malformed");
    assert!(dead["location"]["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{dead}");
    assert_eq!(
        (dead["location"]["line"].as_u64(), dead["location"]["byte_offset"].as_u64()),
        (Some(4), Some(28)),
        "{dead}"
    );
    assert_eq!(dead["reason"], "field `price` is not a number: `x`");
    assert_eq!(dead["line"], "b,x,5000");
}

#[test]
fn highwater_run_listens_for_json_lines_with_watermarks() {
    // A free port: bound, read, released (the job binds it again at once).
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let dir = temp_dir("tcp-run-listen");
    let out = dir.join("panes.jsonl");
    let args = run_args(&[
        "run",
        "--listen",
        &addr,
        "--max-connections",
        "2",
        "--format",
        "jsonl",
        "--watermark",
        "punctuated",
        "--time-field",
        "t",
        "--key-field",
        "k",
        "--count",
        "--window",
        "fixed(10s)",
        "--output",
        out.to_str().unwrap(),
    ]);
    let job = thread::spawn(move || highwater::cli::run::run(&args));
    // One client after the other: a connection starts at the watermark the source has
    // reached, so the second sends only what is not late by then.
    for text in [
        "{\"k\":\"a\",\"t\":1000}\n{\"k\":\"a\",\"t\":2000}\n{\"watermark\":10000}\n{\"k\":\"a\",\"t\":15000}\n",
        "{\"k\":\"b\",\"t\":16000}\n{\"k\":\"b\",\"t\":17000}\n{\"watermark\":20000}\n",
    ] {
        let start = Instant::now();
        let mut s = loop {
            match TcpStream::connect(&addr) {
                Ok(s) => break s,
                Err(e) => assert!(start.elapsed() < DEADLINE, "the job never listened: {e}"),
            }
            thread::sleep(Duration::from_millis(20));
        };
        s.write_all(text.as_bytes()).unwrap();
    }
    let start = Instant::now();
    while !job.is_finished() {
        assert!(start.elapsed() < DEADLINE, "highwater run --listen did not end");
        thread::sleep(Duration::from_millis(10));
    }
    let summary = job.join().unwrap().expect("the job runs");
    assert_eq!((summary.connections, summary.records_read, summary.panes_emitted, summary.late_dropped), (2, 5, 3, 0));
    let text = std::fs::read_to_string(&out).unwrap();
    let mut rows: Vec<(String, i64, u64)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                v["key"].as_str().unwrap().to_string(),
                v["window"]["start"].as_i64().unwrap(),
                v["value"]["count"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(rows, [("a".into(), 0, 2), ("a".into(), 10_000, 1), ("b".into(), 10_000, 2)]);
}

#[test]
fn highwater_run_writes_each_pane_while_the_connection_is_open() {
    // A live job's output is flushed as panes are made: a reader of the output file sees
    // a window's pane as soon as the watermark passes it, not when the job ends.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let dir = temp_dir("tcp-run-live-flush");
    let out = dir.join("panes.jsonl");
    let args = run_args(&[
        "run",
        "--listen",
        &addr,
        "--max-connections",
        "1",
        "--format",
        "csv",
        "--time-field",
        "t",
        "--key-field",
        "k",
        "--count",
        "--window",
        "fixed(1s)",
        "--max-out-of-orderness",
        "0s",
        "--output",
        out.to_str().unwrap(),
    ]);
    let job = thread::spawn(move || highwater::cli::run::run(&args));
    let start = Instant::now();
    let mut s = loop {
        match TcpStream::connect(&addr) {
            Ok(s) => break s,
            Err(e) => assert!(start.elapsed() < DEADLINE, "the job never listened: {e}"),
        }
        thread::sleep(Duration::from_millis(20));
    };
    s.write_all(b"k,t\n").unwrap();
    for i in 0..30 {
        s.write_all(format!("a,{}\n", i * 100).as_bytes()).unwrap();
    }
    // The watermark is at 2900: [0, 1000) and [1000, 2000) are complete.
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.lines().count() >= 2 {
            assert!(
                text.contains(r#""window":{"start":0,"end":1000},"value":{"count":10}"#)
                    && text.contains(r#""window":{"start":1000,"end":2000},"value":{"count":10}"#),
                "{text}"
            );
            break;
        }
        assert!(start.elapsed() < DEADLINE, "no pane written while the connection is open: {text:?}");
        assert!(!job.is_finished(), "the job ended early");
        thread::sleep(Duration::from_millis(20));
    }
    drop(s);
    let summary = within_deadline("the job", move || job.join().unwrap()).expect("the job runs");
    assert_eq!((summary.records_read, summary.panes_emitted), (30, 3));
    let _ = std::fs::remove_dir_all(&dir);
}
