//! Real multi-process clusters on loopback: the same panes at 2 processes × 1 and × 2
//! workers as on one worker (fixed, sliding and session windows with early and late
//! firings), per-process output files, and failure that is loud and fast — a killed peer,
//! a peer that never comes.
//!
//! These tests run the `highwater` binary; they live in the `highwater` package so that
//! cargo builds that binary (fresh) before running them (`CARGO_BIN_EXE_highwater`). Every
//! port is on 127.0.0.1 and every child is bounded in time and killed on failure.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `highwater` binary of this build.
fn highwater() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_highwater"))
}

/// A fresh, empty temp folder for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("highwater-cluster-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A child that is killed if the test ends before it does.
struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    fn spawn(name: &str, args: &[String]) -> Proc {
        let child = Command::new(highwater())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc { child, name: name.to_string() }
    }
    /// Waits at most `limit`; returns (success, stdout, stderr, elapsed).
    fn wait(mut self, limit: Duration) -> (bool, String, String, Duration) {
        let start = Instant::now();
        // Drain the pipes on threads so a chatty child never blocks on a full pipe.
        let mut out = self.child.stdout.take().expect("piped stdout");
        let mut err = self.child.stderr.take().expect("piped stderr");
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let (o, e) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
                panic!(
                    "{} did not finish within {limit:?}\n--- stdout (tail)\n{}\n--- stderr\n{e}",
                    self.name,
                    tail(&o)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = start.elapsed();
        (status.success(), out.join().unwrap_or_default(), err.join().unwrap_or_default(), elapsed)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// `n` free ports on 127.0.0.1, as a host file's lines.
fn loopback_hosts(n: usize) -> Vec<String> {
    let ls: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("a free port")).collect();
    ls.iter().map(|l| l.local_addr().expect("port").to_string()).collect()
}

/// Deterministic bids (auction, price, event time ms) out of order by up to `disorder`
/// ms, so that with a watermark bound below `disorder` some arrive late.
fn bids(n: usize, seed: u64, disorder: i64) -> Vec<(u64, i64, i64)> {
    let mut x = seed;
    let mut next = move || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x >> 33
    };
    let mut t = 1_000_000i64;
    (0..n)
        .map(|_| {
            t += (next() % 40) as i64;
            let auction = next() % 7;
            let price = (next() % 500) as i64 + 1;
            let late = if next() % 10 == 0 { (next() as i64) % (disorder + 1) } else { 0 };
            (auction, price, t - late)
        })
        .collect()
}

/// Writes `files` CSV files of bids into a new `input` folder under `dir`.
fn write_inputs(dir: &Path, files: usize) -> PathBuf {
    let input = dir.join("input");
    std::fs::create_dir_all(&input).expect("input dir");
    for f in 0..files {
        let mut s = String::from("auction,price,date_time_ms\n");
        for (a, p, t) in bids(2_500, 11 + f as u64, 4_000) {
            s.push_str(&format!("{a},{p},{t}\n"));
        }
        std::fs::write(input.join(format!("bids-{f}.csv")), s).expect("write csv");
    }
    input
}

/// The flags of `highwater run` for one pipeline over `input`: early panes every 5
/// elements, late panes for every late element, accumulating.
fn pipeline(input: &Path, window: &str) -> Vec<String> {
    [
        "run",
        "--input",
        input.to_str().expect("utf-8 path"),
        "--time-field",
        "date_time_ms",
        "--key-field",
        "auction",
        "--count",
        "--sum",
        "price",
        "--max",
        "price",
        "--window",
        window,
        "--trigger",
        "after_watermark(early=after_count(5), late=after_count(1))",
        "--allowed-lateness",
        "2s",
        "--max-out-of-orderness",
        "1s",
        "--accumulation",
        "accumulating",
        "--batch-size",
        "200",
        "--dead-letters",
        "-",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The output lines as a multiset.
fn multiset(text: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        *m.entry(l.to_string()).or_insert(0) += 1;
    }
    m
}

fn count_matching(m: &BTreeMap<String, usize>, needle: &str) -> usize {
    m.iter().filter(|(l, _)| l.contains(needle)).map(|(_, n)| n).sum()
}

const LIMIT: Duration = Duration::from_secs(120);

/// The 1-worker, single-process answer.
fn reference(flags: &[String]) -> BTreeMap<String, usize> {
    let (ok, out, err, _) = Proc::spawn("highwater run (1 worker)", flags).wait(LIMIT);
    assert!(ok, "the reference run failed:\n{err}");
    multiset(&out)
}

/// The pipeline exercises every kind of firing and dead letter, or the comparison proves
/// little.
fn assert_every_kind_of_line(m: &BTreeMap<String, usize>) {
    for needle in [r#""timing":"early""#, r#""timing":"on_time""#, r#""timing":"late""#, r#""kind":"too_late""#] {
        assert!(count_matching(m, needle) > 0, "the reference has no {needle} line");
    }
}

/// The answer of `highwater cluster --processes 2 --workers W -- FLAGS`.
fn local_cluster(flags: &[String], workers: usize) -> BTreeMap<String, usize> {
    let mut args: Vec<String> =
        ["cluster", "--processes", "2", "--workers", &workers.to_string(), "--connect-timeout", "20s", "--"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(flags.iter().cloned());
    let (ok, out, err, _) = Proc::spawn("highwater cluster", &args).wait(LIMIT);
    assert!(ok, "the cluster failed:\n{err}");
    // Both processes ran and reported, through the launcher's prefixes.
    assert!(
        err.contains("[p0] highwater run (process 0 of 2)") && err.contains("[p1] highwater run (process 1 of 2)"),
        "{err}"
    );
    multiset(&out)
}

fn same_answer_at_2_processes(name: &str, window: &str) {
    let dir = temp_dir(name);
    let input = write_inputs(&dir, 5);
    let flags = pipeline(&input, window);
    let one = reference(&flags);
    assert_every_kind_of_line(&one);
    eprintln!(
        "{window}: {} lines ({} early, {} late, {} too late)",
        one.values().sum::<usize>(),
        count_matching(&one, r#""timing":"early""#),
        count_matching(&one, r#""timing":"late""#),
        count_matching(&one, r#""kind":"too_late""#)
    );
    for workers in [1, 2] {
        let cluster = local_cluster(&flags, workers);
        assert!(
            cluster == one,
            "{window}: 2 processes x {workers} workers differ from 1 worker: {} vs {} lines",
            cluster.values().sum::<usize>(),
            one.values().sum::<usize>()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fixed_windows_agree_at_two_processes() {
    same_answer_at_2_processes("fixed", "fixed(10s)");
}

#[test]
fn sliding_windows_agree_at_two_processes() {
    same_answer_at_2_processes("sliding", "sliding(10s, 5s)");
}

#[test]
fn session_windows_agree_at_two_processes() {
    same_answer_at_2_processes("sessions", "sessions(150ms)");
}

/// Processes started by hand with a host file; `--output FILE` is written as `FILE.p<I>`
/// by each process, and the files together hold the 1-worker answer.
#[test]
fn processes_started_by_hand_write_one_file_each() {
    let dir = temp_dir("by-hand");
    let input = write_inputs(&dir, 4);
    let flags: Vec<String> =
        pipeline(&input, "fixed(5s)").into_iter().filter(|f| f != "--dead-letters").filter(|f| f != "-").collect();
    let one = reference(
        &[flags.clone(), vec!["--dead-letters".into(), dir.join("ref-dead.jsonl").display().to_string()]].concat(),
    );
    assert!(count_matching(&one, r#""timing":"late""#) > 0, "no late panes");

    let hostfile = dir.join("hosts.txt");
    std::fs::write(&hostfile, loopback_hosts(2).join("\n")).expect("host file");
    let out = dir.join("panes.jsonl");
    let procs: Vec<Proc> = (0..2)
        .map(|i| {
            let mut a = flags.clone();
            a.extend([
                "--output".into(),
                out.display().to_string(),
                "--workers".into(),
                "2".into(),
                "--processes".into(),
                "2".into(),
                "--process".into(),
                i.to_string(),
                "--hostfile".into(),
                hostfile.display().to_string(),
            ]);
            Proc::spawn(&format!("process {i}"), &a)
        })
        .collect();
    for p in procs {
        let (ok, _, err, _) = p.wait(LIMIT);
        assert!(ok, "{err}");
    }
    assert!(!out.exists(), "a cluster writes one file per process, not {}", out.display());
    let mut both = String::new();
    for i in 0..2 {
        both.push_str(&std::fs::read_to_string(format!("{}.p{i}", out.display())).expect("the process's file"));
    }
    assert!(multiset(&both) == one, "the per-process files differ from the 1-worker answer");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A long job on two processes; process 1 is killed; process 0 must exit non-zero within
/// 10 s, naming process 1.
#[test]
fn killing_a_process_stops_the_other_with_a_clear_error() {
    let dir = temp_dir("kill");
    let hostfile = dir.join("hosts.txt");
    let hosts = loopback_hosts(2);
    std::fs::write(&hostfile, hosts.join("\n")).expect("host file");
    let args = |i: usize| -> Vec<String> {
        [
            "nexmark",
            "--query",
            "q5",
            "--events",
            "200000000",
            "--output",
            "none",
            "--processes",
            "2",
            "--process",
            &i.to_string(),
            "--hostfile",
            hostfile.to_str().expect("utf-8"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut p0 = Proc::spawn("process 0", &args(0));
    let mut p1 = Proc::spawn("process 1", &args(1));
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(p0.child.try_wait().expect("try_wait").is_none(), "process 0 ended before the kill");
    assert!(p1.child.try_wait().expect("try_wait").is_none(), "process 1 ended before the kill");
    p1.child.kill().expect("kill process 1");
    let _ = p1.child.wait();
    let (ok, _, err, elapsed) = p0.wait(Duration::from_secs(10));
    assert!(!ok, "process 0 succeeded after losing process 1");
    assert!(err.contains(&format!("lost connection to process 1 ({})", hosts[1])), "unclear error: {err}");
    assert!(!err.contains("panicked"), "the error is a panic, not a message: {err}");
    eprintln!("process 0 stopped {elapsed:?} after process 1 was killed: {}", err.trim());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A process whose peer never starts fails at the start-up deadline, naming the peer.
#[test]
fn a_peer_that_never_comes_fails_at_the_deadline() {
    let dir = temp_dir("deadline");
    let hostfile = dir.join("hosts.txt");
    let hosts = loopback_hosts(2);
    std::fs::write(&hostfile, hosts.join("\n")).expect("host file");
    let args = |i: usize| -> Vec<String> {
        [
            "nexmark",
            "--query",
            "q5",
            "--events",
            "1000",
            "--output",
            "none",
            "--processes",
            "2",
            "--process",
            &i.to_string(),
            "--hostfile",
            hostfile.to_str().expect("utf-8"),
            "--connect-timeout",
            "1s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let (ok, _, err, elapsed) = Proc::spawn("process 0 alone", &args(0)).wait(Duration::from_secs(10));
    assert!(!ok && err.contains(&format!("process 1 ({}) did not connect within 1.0 s", hosts[1])), "{err}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    let (ok, _, err, _) = Proc::spawn("process 1 alone", &args(1)).wait(Duration::from_secs(10));
    assert!(!ok && err.contains(&format!("cannot reach process 0 at {} within 1.0 s", hosts[0])), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The launcher fails naming a process that failed, and forwards its error.
#[test]
fn the_launcher_names_the_process_that_failed() {
    let dir = temp_dir("launcher");
    let missing = dir.join("no-such-file.csv");
    let args: Vec<String> =
        ["cluster", "--processes", "2", "--", "run", "--input", missing.to_str().expect("utf-8"), "--time-field", "t"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let (ok, _, err, _) = Proc::spawn("highwater cluster", &args).wait(Duration::from_secs(30));
    assert!(!ok, "{err}");
    // A missing input is a usage error: status 2 (as clap's own).
    assert!(err.contains("of the cluster of 2 exited with status 2"), "{err}");
    assert!(
        err.contains("[p0] highwater:") || err.contains("[p1] highwater:"),
        "the process's own error is not forwarded: {err}"
    );
    let args: Vec<String> =
        ["cluster", "--processes", "2", "--", "run", "--process", "1"].iter().map(|s| s.to_string()).collect();
    let (ok, _, err, _) = Proc::spawn("highwater cluster", &args).wait(Duration::from_secs(30));
    assert!(!ok && err.contains("the job sets --process"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// In one process: a worker that panics stops the others (which would otherwise wait
/// forever for its progress) and is reported by index and message.
#[test]
fn a_panicking_worker_stops_the_others_and_is_named() {
    use highwater::pipeline::{execute, ExecutionError, RunConfig};
    use timely::dataflow::operators::{Exchange, Input, Inspect};
    let start = Instant::now();
    let result = execute(&RunConfig::workers(2), |worker| {
        if worker.index() == 1 {
            panic!("boom in worker 1");
        }
        // Worker 0's dataflow cannot complete without worker 1, which is gone.
        let mut input: timely::dataflow::InputHandle<u64, _> = timely::dataflow::InputHandle::new();
        worker.dataflow::<u64, _, _>(|scope| {
            scope.input_from(&mut input).container::<Vec<u64>>().exchange(|x: &u64| *x).inspect(|_: &u64| {});
        });
        input.send(1);
    });
    match result {
        Err(ExecutionError::WorkerPanicked { worker: 1, message }) => assert_eq!(message, "boom in worker 1"),
        other => panic!("expected worker 1's panic, got {other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(4), "took {:?}", start.elapsed());
}

/// A 1 M-event Nexmark replay (q5, hot items in sliding windows, and q11, user sessions) gives
/// the same panes, with the same pane info, on 1 worker and on 2 processes × 2 workers.
#[test]
fn a_million_event_nexmark_run_agrees_at_two_processes_of_two_workers() {
    for query in ["q5", "q11"] {
        let flags: Vec<String> =
            ["nexmark", "--query", query, "--events", "1000000"].iter().map(|s| s.to_string()).collect();
        let one = reference(&flags);
        assert!(one.values().sum::<usize>() > 10, "{query}: the reference has results");
        let mut args: Vec<String> = ["cluster", "--processes", "2", "--workers", "2", "--connect-timeout", "20s", "--"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(flags.iter().cloned());
        let (ok, out, err, _) = Proc::spawn("highwater cluster nexmark", &args).wait(LIMIT);
        assert!(ok, "{query}: the cluster failed:\n{err}");
        let cluster = multiset(&out);
        assert!(
            cluster == one,
            "{query}: 2 processes x 2 workers differ from 1 worker: {} vs {} lines",
            cluster.values().sum::<usize>(),
            one.values().sum::<usize>()
        );
    }
}

/// The processes of a Linux process tree: `/proc` read directly.
#[cfg(target_os = "linux")]
mod procfs {
    use std::time::{Duration, Instant};

    /// `(state, parent pid)` of `pid`, or `None` if it does not exist.
    pub fn stat(pid: u32) -> Option<(char, u32)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let mut rest = text[text.rfind(')')? + 1..].split_whitespace();
        let state = rest.next()?.chars().next()?;
        let ppid = rest.next()?.parse().ok()?;
        Some((state, ppid))
    }

    /// Whether `pid` has ended: gone, or a zombie nobody reaped (its parent died).
    pub fn ended(pid: u32) -> bool {
        stat(pid).is_none_or(|(state, _)| state == 'Z' || state == 'X')
    }

    /// The live children of `parent`.
    pub fn children(parent: u32) -> Vec<u32> {
        let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
        let mut out: Vec<u32> = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|pid: &u32| stat(*pid).is_some_and(|(state, ppid)| ppid == parent && state != 'Z'))
            .collect();
        out.sort_unstable();
        out
    }

    /// Whether `pid` has a handler for `signal` (it set up its own SIGTERM handling).
    pub fn catches(pid: u32, signal: i32) -> bool {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return false };
        status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
    }

    /// Waits until `ok()` holds, at most `limit`.
    pub fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        ok()
    }

    /// Kills, when dropped, whichever of these processes still runs the highwater binary
    /// (so a failing test leaves nothing behind).
    pub struct KillOnDrop(pub Vec<u32>);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            for &pid in &self.0 {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
                if !ended(pid) && exe.is_some_and(|e| e == super::highwater()) {
                    // SAFETY: kill(2) has no memory effects.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                }
            }
        }
    }
}

/// Starts `highwater cluster --processes 2 -- run --listen 0 …` (a socket job that waits
/// for input) and waits until both processes run and handle SIGTERM themselves. Returns
/// the launcher, its pids' guard, the children's pids and its standard error so far.
#[cfg(target_os = "linux")]
fn socket_job_on_a_local_cluster(
    name: &str,
) -> (Child, procfs::KillOnDrop, Vec<u32>, std::sync::Arc<std::sync::Mutex<String>>) {
    use std::io::BufRead;
    let mut launcher = Command::new(highwater())
        .args(["cluster", "--processes", "2", "--connect-timeout", "20s", "--", "run", "--listen", "0"])
        .args(["--format", "csv", "--time-field", "t", "--key-field", "k", "--count", "--window", "fixed(10s)"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let err = launcher.stderr.take().expect("piped stderr");
    let copy = stderr.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            copy.lock().unwrap_or_else(|e| e.into_inner()).push_str(&(line + "\n"));
        }
    });
    let mut guard = procfs::KillOnDrop(Vec::new());
    let ready = procfs::wait_until(Duration::from_secs(60), || {
        guard.0 = procfs::children(launcher.id());
        guard.0.len() == 2 && guard.0.iter().all(|&p| procfs::catches(p, libc::SIGTERM))
    });
    if !ready {
        let _ = launcher.kill();
        let _ = launcher.wait();
        panic!("{name}: the 2 processes did not start: {}", stderr.lock().unwrap_or_else(|e| e.into_inner()));
    }
    let children = guard.0.clone();
    (launcher, guard, children, stderr)
}

/// `highwater cluster` did not pass SIGTERM on and its processes outlived it, re-parented
/// to PID 1. Now the signal reaches every process, which flushes its open windows, and
/// the launcher exits with 128 + 15 once they have all ended.
#[cfg(target_os = "linux")]
#[test]
fn sigterm_to_the_launcher_reaches_every_process_and_none_outlives_it() {
    use std::io::Write;
    let (mut launcher, _guard, children, stderr) = socket_job_on_a_local_cluster("sigterm");
    // Some input, so that the graceful stop has an open window to flush.
    let listening = procfs::wait_until(Duration::from_secs(30), || stderr.lock().unwrap().contains("listening on "));
    assert!(listening, "no address: {}", stderr.lock().unwrap());
    let address = {
        let text = stderr.lock().unwrap();
        let at = text.find("listening on ").expect("address") + "listening on ".len();
        text[at..].lines().next().expect("address line").trim().to_string()
    };
    let mut client = std::net::TcpStream::connect(&address).expect("connect to the job");
    client.write_all(b"k,t\na,1000\nb,2000\na,3000\n").expect("send input");
    client.flush().expect("flush input");
    std::thread::sleep(Duration::from_millis(1_500));

    // SAFETY: kill(2) has no memory effects.
    assert_eq!(unsafe { libc::kill(launcher.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let mut out = launcher.stdout.take().expect("piped stdout");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = launcher.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = launcher.kill();
            panic!("the launcher did not end 30 s after SIGTERM: {}", stderr.lock().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap_or_default();
    let err = stderr.lock().unwrap().clone();
    assert!(!status.success(), "the launcher succeeded after SIGTERM: {err}");
    assert_eq!(status.code(), Some(128 + 15), "{err}");
    assert!(err.contains("stopped by signal 15 (SIGTERM)"), "{err}");
    for p in 0..2 {
        assert!(err.contains(&format!("[p{p}] highwater: signal 15")), "process {p} did not get the signal: {err}");
    }
    for pid in &children {
        assert!(procfs::ended(*pid), "process {pid} outlived the launcher: {:?}", procfs::stat(*pid));
    }
    // The open windows were flushed: both keys' panes are out.
    assert!(out.contains(r#""a""#) && out.contains(r#""b""#), "the open windows were not flushed: {out}\n{err}");
    drop(client);
}

/// SIGKILL cannot be caught: the processes must still die with the launcher (the kernel
/// kills them: PR_SET_PDEATHSIG).
#[cfg(target_os = "linux")]
#[test]
fn sigkill_to_the_launcher_kills_every_process() {
    let (mut launcher, _guard, children, stderr) = socket_job_on_a_local_cluster("sigkill");
    launcher.kill().expect("SIGKILL the launcher");
    let _ = launcher.wait();
    let all_ended = procfs::wait_until(Duration::from_secs(10), || children.iter().all(|p| procfs::ended(*p)));
    let states: Vec<_> = children.iter().map(|p| (p, procfs::stat(*p))).collect();
    assert!(all_ended, "processes outlived the launcher's SIGKILL: {states:?}\n{}", stderr.lock().unwrap());
}

/// A stopped peer (SIGSTOP: its kernel keeps its connections open) was never detected: the
/// other process waited forever. Now it fails within the peer timeout, naming the peer.
#[test]
fn a_stopped_peer_is_reported_within_the_peer_timeout() {
    let dir = temp_dir("stopped-peer");
    let hostfile = dir.join("hosts.txt");
    let hosts = loopback_hosts(2);
    std::fs::write(&hostfile, hosts.join("\n")).expect("host file");
    let args = |i: usize| -> Vec<String> {
        [
            "nexmark",
            "--query",
            "q5",
            "--events",
            "200000000",
            "--output",
            "none",
            "--processes",
            "2",
            "--process",
            &i.to_string(),
            "--hostfile",
            hostfile.to_str().expect("utf-8"),
            "--peer-timeout",
            "3s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let mut p0 = Proc::spawn("process 0", &args(0));
    let mut p1 = Proc::spawn("process 1", &args(1));
    // Running together for longer than the timeout: the heartbeat raises no false alarm.
    std::thread::sleep(Duration::from_millis(4_000));
    assert!(p0.child.try_wait().expect("try_wait").is_none(), "process 0 ended before the stop");
    assert!(p1.child.try_wait().expect("try_wait").is_none(), "process 1 ended before the stop");
    let stop = Command::new("kill").args(["-STOP", &p1.child.id().to_string()]).status().expect("kill -STOP");
    assert!(stop.success());
    let (ok, _, err, elapsed) = p0.wait(Duration::from_secs(15));
    // Clean up the stopped process (SIGKILL ends a stopped process too).
    let _ = Command::new("kill").args(["-CONT", &p1.child.id().to_string()]).status();
    let _ = p1.child.kill();
    let _ = p1.child.wait();
    assert!(!ok, "process 0 succeeded with process 1 stopped");
    assert!(err.contains(&format!("process 1 ({}) sent no heartbeat for", hosts[1])), "unclear error: {err}");
    assert!(err.contains("--peer-timeout"), "the error does not say what to do: {err}");
    assert!(!err.contains("panicked"), "the error is a panic, not a message: {err}");
    assert!(elapsed < Duration::from_secs(9), "process 0 took {elapsed:?} to notice (timeout 3 s)");
    eprintln!("process 0 stopped {elapsed:?} after process 1 was stopped: {}", err.trim());
    let _ = std::fs::remove_dir_all(&dir);
}
