//! Observability end to end, over real loopback HTTP: `/metrics` scraped during a socket
//! job (`highwater run` as a process) and during a file replay (the DSL in this process),
//! checked against what was sent; the stall warning naming a silent connection; and the
//! endpoint surviving hostile clients (a connection that never sends, a 1 MiB request
//! line, 100 parallel scrapes) while a concurrent scrape is served at once; and the status
//! page loaded in real headless Chromium during a socket job, showing both connections, then
//! their new counts.

use highwater::model::combine::Count;
use highwater::model::watermark::WatermarkStrategy;
use highwater::pipeline::{run, Files, RunConfig, Windowing};
use highwater::runtime::metrics::MetricsServer;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn highwater() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_highwater"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("highwater-metrics-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `GET path` over a fresh connection: (status line, body).
fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut c = TcpStream::connect(addr).expect("the metrics endpoint accepts");
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).expect("a response");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.lines().next().unwrap_or("").to_string(), body.to_string())
}

/// The samples of an exposition text: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    assert!(body.ends_with("# EOF\n"), "{body}");
    samples(&body)
}

/// Scrapes until `done` holds (at most 20 s); returns the last scrape.
fn scrape_until(addr: SocketAddr, what: &str, done: impl Fn(&BTreeMap<String, f64>) -> bool) -> BTreeMap<String, f64> {
    let start = Instant::now();
    loop {
        let s = scrape(addr);
        if done(&s) {
            return s;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{what} never seen; last scrape: {s:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `highwater run` as a process, its standard error read line by line on a thread.
struct Job {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Job {
    fn start(args: &[&str]) -> Job {
        let mut child = Command::new(highwater())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn highwater");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Job { child, lines, seen: Vec::new() }
    }
    /// The first line of standard error containing `needle` (within 20 s).
    fn wait_line(&mut self, needle: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no line with `{needle}` on stderr; saw:\n{}", self.seen.join("\n"));
                }
            }
        }
    }
    /// The address after `needle` on its line (`listening on ADDR`, `metrics at http://ADDR/metrics`).
    fn address(&mut self, needle: &str) -> SocketAddr {
        let line = self.wait_line(needle);
        let rest = line.split(needle).nth(1).unwrap().trim();
        let rest = rest.trim_start_matches("http://").trim_end_matches("/metrics");
        rest.parse().unwrap_or_else(|_| panic!("no address in `{line}`"))
    }
    /// Waits for the exit (within 20 s); returns its status and every stderr line.
    fn finish(mut self) -> (Option<i32>, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the job did not end; stderr:\n{}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        (status.code(), self.seen.join("\n"))
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("the job listens");
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

#[test]
fn a_scrape_during_a_socket_job_counts_what_was_sent() {
    let dir = temp_dir("socket");
    let out = dir.join("panes.jsonl");
    let mut job = Job::start(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--format",
        "csv",
        "--time-field",
        "t",
        "--key-field",
        "k",
        "--window",
        "fixed(1s)",
        "--watermark",
        "ascending",
        "--max-connections",
        "2",
        "--metrics-addr",
        "127.0.0.1:0",
        "--output",
        out.to_str().unwrap(),
    ]);
    let listen = job.address("listening on ");
    let metrics = job.address("metrics at ");
    assert!(metrics.ip().is_loopback());
    let mut a = connect(listen);
    let mut b = connect(listen);
    let a_name = format!("tcp {}", a.local_addr().unwrap());
    let b_name = format!("tcp {}", b.local_addr().unwrap());
    // A connection starts at the source's watermark when it arrives: both start at 1 s.
    a.write_all(b"k,t\na,1000\n").unwrap();
    b.write_all(b"k,t\nb,1000\n").unwrap();
    scrape_until(metrics, "the first record of each", |s| s.get("highwater_records_read_total") == Some(&2.0));
    // Seven records in all, one malformed line; windows [1 s, 2 s) of a and b and
    // [2 s, 3 s) of a close when both connections reach 10 s.
    a.write_all(b"a,1500\na,2500\noops\na,10000\n").unwrap();
    b.write_all(b"b,1200\nb,10000\n").unwrap();
    let wm = |name: &str| format!("highwater_source_watermark_ms{{source=\"input\",partition=\"{name}\"}}");
    let (wa, wb) = (wm(&a_name), wm(&b_name));
    let s = scrape_until(metrics, "the three on-time panes and both partitions at 10 s", |s| {
        s.get("highwater_panes_emitted_total{step=\"run\",timing=\"on_time\"}") == Some(&3.0)
            && s.get(&wa) == Some(&9999.0)
            && s.get(&wb) == Some(&9999.0)
    });
    assert_eq!(s["highwater_records_read_total"], 7.0);
    assert_eq!(s["highwater_dead_letters_total{kind=\"malformed\"}"], 1.0);
    assert_eq!(s["highwater_dead_letters_total{kind=\"too_late\"}"], 0.0);
    assert_eq!(s["highwater_late_dropped_total{step=\"run\"}"], 0.0);
    assert_eq!(s["highwater_panes_emitted_total{step=\"run\",timing=\"early\"}"], 0.0);
    // The windows [10 s, 11 s) of a and b are still open; the output watermark stands
    // at their end at most.
    let out_wm = s["highwater_output_watermark_ms{step=\"run\"}"];
    assert!((2_999.0..=9_999.0).contains(&out_wm), "{out_wm}");
    assert!(s.contains_key("highwater_watermark_lag_ms{source=\"input\"}"), "{s:#?}");
    let (status, page) = get(metrics, "/");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(page.contains(&a_name) && page.contains("http-equiv=\"refresh\""), "{page}");
    drop((a, b));
    let (code, stderr) = job.finish();
    assert_eq!(code, Some(0), "{stderr}");
    // The end summary's table: one row for the source.
    assert!(stderr.contains("source  partitions  records  dead letters  last watermark"), "{stderr}");
    assert!(stderr.contains("input   2           7        1             9999 ms"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scrape_during_a_file_replay_counts_what_the_file_holds() {
    let dir = temp_dir("replay");
    let path = dir.join("bids.csv");
    // Ten records 100 ms apart and two malformed lines, then one more 2 s later: paced at
    // event-time speed, the replay waits 2 s with the first ten read.
    let mut text = String::from("k,t\n");
    for i in 0..10 {
        text.push_str(&format!("a,{}\n", i * 100));
        if i == 3 || i == 6 {
            text.push_str("a,not-a-time\n");
        }
    }
    text.push_str("a,3000\n");
    std::fs::write(&path, text).unwrap();
    let file = path.display().to_string();
    let config = RunConfig::workers(2).metrics_addr("127.0.0.1:0");
    let progress = config.progress();
    let job = std::thread::spawn(move || {
        run(config, move |p| {
            let src = Files::by_name([file.clone()])
                .decoder(highwater::format::Schema {
                    time_field: "t".into(),
                    time_unit: highwater::format::TimeUnit::Millis,
                    key_fields: vec!["k".into()],
                    value_fields: Vec::new(),
                })
                .watermark(WatermarkStrategy::Ascending)
                .paced(1.0);
            p.read_keyed("bids", src)?
                .window(Windowing::fixed(Duration::from_millis(500)))
                .aggregate("counts", Count)?;
            Ok(())
        })
    });
    let start = Instant::now();
    let addr = loop {
        if let Some(a) = progress.metrics_addr() {
            break a;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "the endpoint never started");
        std::thread::sleep(Duration::from_millis(10));
    };
    let partition = format!("highwater_source_watermark_ms{{source=\"bids\",partition=\"{}\"}}", path.display());
    let s = scrape_until(addr, "the first ten records read", |s| {
        s.get("highwater_records_read_total") == Some(&10.0) && s.get(&partition) == Some(&899.0)
    });
    assert_eq!(s["highwater_dead_letters_total{kind=\"malformed\"}"], 2.0);
    // [0, 500) closed at watermark 899; [500, 1000) is open.
    assert_eq!(s["highwater_panes_emitted_total{step=\"counts\",timing=\"on_time\"}"], 1.0);
    assert_eq!(s["highwater_open_windows{step=\"counts\"}"], 1.0);
    assert_eq!(s["highwater_state_keys{step=\"counts\"}"], 1.0);
    // The same, in the DSL.
    let status = progress.status();
    assert_eq!((status.sources[0].records, status.sources[0].dead_letters), (10, 2));
    let held = status.holding_back().expect("the file is still read");
    assert_eq!((held.source.as_str(), held.partition.watermark), ("bids", Some(899)));
    job.join().unwrap().expect("the replay runs");
    assert_eq!(progress.metrics_addr(), None, "the endpoint stops with the run");
    let end = progress.status();
    assert_eq!(end.records_read, 11);
    assert_eq!(end.steps[0].panes_on_time, 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_silent_connection_is_named_when_the_output_watermark_stalls() {
    let mut job = Job::start(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--format",
        "csv",
        "--time-field",
        "t",
        "--window",
        "fixed(1s)",
        "--watermark",
        "ascending",
        "--max-connections",
        "2",
        "--stall-warning",
        "1s",
        "--output",
        "/dev/null",
    ]);
    let listen = job.address("listening on ");
    let mut busy = connect(listen);
    let mut silent = connect(listen);
    let silent_name = format!("tcp {}", silent.local_addr().unwrap());
    silent.write_all(b"t\n500\n").unwrap();
    busy.write_all(b"t\n").unwrap();
    // The busy connection goes on; the silent one holds the watermark at 499.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let feeder = std::thread::spawn(move || {
        let mut t = 1_000;
        while stop_rx.try_recv().is_err() {
            if busy.write_all(format!("{t}\n").as_bytes()).is_err() {
                break;
            }
            t += 100;
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let warning = job.wait_line("held back by");
    assert!(warning.contains(&format!("partition `{silent_name}`")), "{warning}");
    assert!(warning.contains("watermark 499 ms"), "{warning}");
    assert!(warning.contains("silent for"), "{warning}");
    assert!(warning.contains("--idle-timeout"), "{warning}");
    let _ = stop_tx.send(());
    feeder.join().unwrap();
    drop(silent);
    let (code, stderr) = job.finish();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn hostile_clients_do_not_block_a_scrape() {
    let config = RunConfig::workers(1);
    let server = MetricsServer::start("127.0.0.1:0", config.progress()).expect("a free loopback port");
    let addr = server.local_addr();
    // A connection that never sends.
    let _mute = TcpStream::connect(addr).unwrap();
    // A 1 MiB request line, sent from a thread (the server stops reading it).
    let flood = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(1 << 20));
        let _ = c.write_all(line.as_bytes());
        let mut reply = Vec::new();
        let _ = c.read_to_end(&mut reply);
        String::from_utf8_lossy(&reply).lines().next().unwrap_or("").to_string()
    });
    let start = Instant::now();
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("highwater_records_read_total 0"), "{body}");
    assert!(start.elapsed() < Duration::from_secs(2), "a scrape took {:?}", start.elapsed());
    // The over-long request is refused (or its connection closed), not served.
    let reply = flood.join().unwrap();
    assert!(reply.is_empty() || reply.contains("431"), "{reply}");
    // 100 parallel scrapes, all answered.
    let scrapes: Vec<_> = (0..100).map(|_| std::thread::spawn(move || get(addr, "/metrics").0)).collect();
    for s in scrapes {
        assert_eq!(s.join().unwrap(), "HTTP/1.1 200 OK");
    }
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    // Another path and another method.
    assert_eq!(get(addr, "/nothing").0, "HTTP/1.1 404 Not Found");
}

#[test]
fn a_metrics_address_that_cannot_be_bound_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = Command::new(highwater())
        .args(["run", "--input", "nothing.csv", "--time-field", "t", "--metrics-addr", &address])
        .output()
        .expect("run highwater");
    // `nothing.csv` does not exist: the input is checked first (exit 2 either way); with
    // a real input the address is what fails.
    assert_ne!(out.status.code(), Some(0));
    let dir = temp_dir("bind");
    let input = dir.join("in.csv");
    std::fs::write(&input, "t\n1\n").unwrap();
    let out = Command::new(highwater())
        .args(["run", "--input", input.to_str().unwrap(), "--time-field", "t", "--metrics-addr", &address])
        .output()
        .expect("run highwater");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("metrics address `{address}` cannot be bound")), "{stderr}");
    let out = Command::new(highwater())
        .args(["run", "--input", input.to_str().unwrap(), "--time-field", "t", "--metrics-addr", "no-such-host:x"])
        .output()
        .expect("run highwater");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("metrics address `no-such-host:x`"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The headless browser the status page is tested in (`.ci/run` installs it).
const CHROMIUM: &str = "/usr/bin/chromium";

/// The DOM of `url` after headless Chromium loaded it and ran its scripts (`--dump-dom`),
/// Chromium killed (its whole process group) if it takes more than 60 s.
fn browse(url: &str, dir: &std::path::Path) -> String {
    use std::os::unix::process::CommandExt;
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the status page is tested in headless Chromium \
         (apt-get install chromium; .ci/run installs it)"
    );
    let n = std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    let profile = dir.join(format!("profile-{n}"));
    let (out, err) = (dir.join(format!("dom-{n}.html")), dir.join(format!("chromium-{n}.log")));
    // A virtual-time budget under the page's 2 s refresh: Chromium dumps the first load
    // (past the refresh, it follows the reload and never dumps).
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
            "--virtual-time-budget=1000",
            "--dump-dom",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{CHROMIUM} does not start: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            let log = std::fs::read_to_string(&err).unwrap_or_default();
            panic!("headless Chromium did not dump {url} within 60 s; its stderr:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let dom = std::fs::read_to_string(&out).unwrap();
    let log = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(status.success() && !dom.is_empty(), "headless Chromium on {url}: {status}; its stderr:\n{log}");
    dom
}

/// The cells of the table row whose second cell is `partition`.
fn partition_row(dom: &str, partition: &str) -> Vec<String> {
    let cell = format!("<td>{partition}</td>");
    let at = dom.find(&cell).unwrap_or_else(|| panic!("no row for `{partition}` in the page:\n{dom}"));
    let start = dom[..at].rfind("<tr>").unwrap();
    let end = at + dom[at..].find("</tr>").unwrap();
    dom[start + 4..end].split("<td>").skip(1).map(|c| c.trim_end_matches("</td>").to_string()).collect()
}

#[test]
fn the_status_page_in_headless_chromium_shows_both_connections_and_updates() {
    let dir = temp_dir("chromium");
    let mut job = Job::start(&[
        "run",
        "--listen",
        "127.0.0.1:0",
        "--format",
        "csv",
        "--time-field",
        "t",
        "--key-field",
        "k",
        "--window",
        "fixed(1s)",
        "--watermark",
        "ascending",
        "--max-connections",
        "2",
        "--metrics-addr",
        "127.0.0.1:0",
        "--output",
        "/dev/null",
    ]);
    let listen = job.address("listening on ");
    let metrics = job.address("metrics at ");
    let url = format!("http://{metrics}/");
    let mut a = connect(listen);
    let mut b = connect(listen);
    let a_name = format!("tcp {}", a.local_addr().unwrap());
    let b_name = format!("tcp {}", b.local_addr().unwrap());
    a.write_all(b"k,t\na,1000\n").unwrap();
    b.write_all(b"k,t\nb,1000\n").unwrap();
    let wm = |name: &str| format!("highwater_source_watermark_ms{{source=\"input\",partition=\"{name}\"}}");
    let (wa, wb) = (wm(&a_name), wm(&b_name));
    scrape_until(metrics, "the first record of each", |s| {
        s.get("highwater_records_read_total") == Some(&2.0) && s.get(&wa) == Some(&999.0) && s.get(&wb) == Some(&999.0)
    });

    let first = browse(&url, &dir);
    // Loaded, and parsed by the browser (it adds the `<tbody>` the page leaves out).
    assert!(first.contains("<title>highwater</title>") && first.contains("<h1>highwater</h1>"), "{first}");
    assert!(first.contains("<tbody>"), "not a browser's DOM:\n{first}");
    assert!(first.contains("<meta http-equiv=\"refresh\" content=\"2\">"), "{first}");
    assert!(first.contains("<p>2 records read;"), "{first}");
    // Both connections, one record each, not idle.
    let (ra, rb) = (partition_row(&first, &a_name), partition_row(&first, &b_name));
    assert_eq!((ra[4].as_str(), rb[4].as_str()), ("1", "1"), "{ra:?} {rb:?}");
    assert!(ra[2].starts_with("999 ms =") && rb[2].starts_with("999 ms ="), "{ra:?} {rb:?}");

    // Three more on a, two more on b: the page, loaded again, shows them.
    a.write_all(b"a,1500\na,2500\na,3000\n").unwrap();
    b.write_all(b"b,1200\nb,2000\n").unwrap();
    scrape_until(metrics, "all seven records", |s| {
        s.get("highwater_records_read_total") == Some(&7.0)
            && s.get(&wa) == Some(&2999.0)
            && s.get(&wb) == Some(&1999.0)
    });
    let second = browse(&url, &dir);
    assert!(second.contains("<p>7 records read;"), "{second}");
    let (ra, rb) = (partition_row(&second, &a_name), partition_row(&second, &b_name));
    assert_eq!((ra[4].as_str(), rb[4].as_str()), ("4", "3"), "{ra:?} {rb:?}");
    assert!(ra[2].starts_with("2999 ms =") && rb[2].starts_with("1999 ms ="), "{ra:?} {rb:?}");

    drop((a, b));
    let (code, stderr) = job.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
