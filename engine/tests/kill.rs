//! Exactly-once recovery of `highwater run`, with real processes: a replay of a generated
//! file of over a million records, killed with SIGKILL at seeded random moments and run
//! again with the same command until it finishes, writes exactly the output and
//! dead-letter files of a run never killed (compared sorted, byte for byte) — through the
//! on-time windows (a tumble with the default trigger), the sessions operator and the
//! general reducer (early and late firings, allowed lateness, retracting panes), at 1
//! worker, at 2 workers, and alternating between 2 and 1 (each resume restores a
//! checkpoint written at the other worker count).
//!
//! The same for a socket job (`--listen`): its connection is journaled, and the restarts
//! replay the journal; and for `highwater nexmark` queries over generated events. A socket
//! job killed with three connections open at once accounts for every record exactly once.
//!
//! At two real processes (`--processes 2 --hostfile`, either process SIGKILLed, the other
//! failing on its own): the tumble, sessions, the retracting reducer, nexmark q5 and the
//! socket job, alternating with one-process runs that restore the 2-process checkpoints (and the other
//! way round); the files of all runs together equal an uninterrupted run's.
//!
//! Each sequence kills the job at `HIGHWATER_KILL_MOMENTS` moments (20 unless set), every
//! other one after the run has written a checkpoint of its own, the others early: counted
//! from its start, before the last run had its first checkpoint (they may land while it
//! restores or, at two processes, while they connect: then every process is killed). Over
//! a generated file a kill after a checkpoint comes at most the share of the input left
//! (by the newest checkpoint's watermark) over the kills still to come, and every kill is
//! early while the work left would hold fewer than two runs more than the kills to come,
//! so the replays of a file and the socket job are killed at every planned moment — asserted;
//! the nexmark sequences, whose runs are short, end when a run finishes before its kill
//! (at least one kill and one resume asserted). Each prints how often it was killed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn highwater() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_highwater"))
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("highwater-kill-test-{}-{name}", std::process::id()));
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

/// A xorshift generator: the same stream for the same seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const RECORDS: u64 = 1_050_000;

/// The input: JSON lines `{"k": key, "t": event time, "v": value}`, 1 000 keys, times
/// advancing a few ms a record; one in ten a little out of order, one in a thousand too
/// late (a dead letter), one in fifty thousand malformed.
fn generate(path: &Path) {
    generate_records(path, RECORDS);
}

/// [`generate`] with `records` records.
fn generate_records(path: &Path, records: u64) {
    let csv = path.extension().is_some_and(|e| e == "csv");
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    if csv {
        writeln!(out, "k,t,v").unwrap();
    }
    let mut t = FIRST_TIME;
    for i in 0..records {
        t += rng.next(4) as i64;
        let r = rng.next(1_000);
        let at = match r {
            0 => t - 30_000,
            1..=100 => t - rng.next(1_500) as i64,
            _ => t,
        };
        if i % 50_000 == 49_999 {
            match csv {
                true => writeln!(out, "oops,not a time,1").unwrap(),
                false => writeln!(out, "{{\"k\":\"oops\",\"t\":\"not a time\"}}").unwrap(),
            }
        }
        let (k, v) = (rng.next(1_000), rng.next(100));
        match csv {
            true => writeln!(out, "k{k},{at},{v}").unwrap(),
            false => writeln!(out, "{{\"k\":\"k{k}\",\"t\":{at},\"v\":{v}}}").unwrap(),
        }
    }
    out.flush().unwrap();
}

/// The flags of the job (without the worker count). A window followed by ` | FLAGS`
/// takes those flags too (a trigger, a lateness, an accumulation).
fn job(dir: &Path, window: &str, checkpoints: bool) -> Vec<String> {
    let (window, extra) = window.split_once(" | ").unwrap_or((window, ""));
    let input = ["input.jsonl", "input.csv"].map(|f| dir.join(f)).into_iter().find(|p| p.exists());
    let input = input.unwrap_or_else(|| dir.join("input.jsonl"));
    let mut args: Vec<String> = [
        "run",
        "--input",
        &input.display().to_string(),
        "--time-field",
        "t",
        "--key-field",
        "k",
        "--count",
        "--sum",
        "v",
        "--window",
        window,
        "--max-out-of-orderness",
        "1s",
        "--no-progress",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.split_whitespace().map(String::from));
    let out = if checkpoints { "out" } else { "ref" };
    args.extend(["--output".into(), dir.join(format!("{out}.jsonl")).display().to_string()]);
    args.extend(["--dead-letters".into(), dir.join(format!("{out}.dead.jsonl")).display().to_string()]);
    if checkpoints {
        args.extend(["--checkpoint-dir".into(), dir.join("checkpoints").display().to_string()]);
        args.extend(["--checkpoint-interval".into(), "100ms".into()]);
    }
    args
}

fn command(args: &[String], workers: usize) -> Command {
    let mut c = Command::new(highwater());
    c.args(args).args(["--workers", &workers.to_string()]);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn sorted_lines(path: &Path) -> Vec<u8> {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
    lines.sort();
    lines.concat()
}

/// What a kill sequence did.
#[derive(Debug, Default)]
struct Sequence {
    kills: usize,
    resumes: usize,
    runs: usize,
}

/// Runs the checkpointed job `args`, killing it at `moments` seeded moments and running it
/// again, on the worker counts of `workers` in turn, until a run finishes. Two kinds of
/// kill (see [`early_kill`]): after the run has written a checkpoint of its own (in
/// `after_checkpoint`; the first run: any), by `earliest` (per mille of `full`, the time of
/// a whole run) to that + 120 % / moments — over the generated file at most the share of
/// the input left over the kills still to come and one; or early, at a moment counted from
/// the start and before the last run had its first checkpoint (it may land while the run
/// restores).
fn kill_sequence(
    args: &[String],
    workers: &[usize],
    moments: usize,
    seed: u64,
    full: Duration,
    earliest: u64,
    after_checkpoint: Option<&Path>,
) -> Sequence {
    let mut rng = Rng(seed | 1);
    let mut seq = Sequence::default();
    let mut plan = KillPlan::default();
    let done = || after_checkpoint.and_then(|dir| share_done(dir, RECORDS));
    for i in 0.. {
        let w = workers[i % workers.len()];
        let newest_at_spawn = after_checkpoint.map(newest_checkpoint).unwrap_or(0);
        let done_at_spawn = done();
        let mut child = command(args, w).spawn().expect("highwater starts");
        seq.runs += 1;
        let started = Instant::now();
        let finished = |child: &mut std::process::Child| child.try_wait().unwrap().is_some();
        let killed = if seq.kills >= moments {
            false
        } else if let Some(to_first) = plan.early(&seq, moments, done_at_spawn) {
            let delay = to_first.mul_f64(rng.next(1_000) as f64 / 1_000.0);
            while started.elapsed() < delay && !finished(&mut child) {
                std::thread::sleep(Duration::from_millis(2));
            }
            !finished(&mut child) && child.kill().is_ok()
        } else {
            if let Some(dir) = after_checkpoint {
                let deadline = Instant::now() + Duration::from_secs(120);
                while newest_checkpoint(dir) <= newest_at_spawn && !finished(&mut child) {
                    assert!(Instant::now() < deadline, "no checkpoint in {}", dir.display());
                    std::thread::sleep(Duration::from_millis(5));
                }
                plan.to_first = Some(started.elapsed());
            }
            let spread = (1_200 / moments.max(1)) as u64;
            let mut share = (earliest + rng.next(spread.max(1))) as f64 / 1_000.0;
            if let Some(done) = done() {
                share = share.min((1.0 - done) / (moments - seq.kills + 1) as f64);
            }
            let delay = full.mul_f64(share);
            let since = Instant::now();
            while since.elapsed() < delay && !finished(&mut child) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let killed = !finished(&mut child) && child.kill().is_ok();
            if killed {
                plan.progressed(done_at_spawn, done());
            }
            killed
        };
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        if stderr.contains("resuming from checkpoint") {
            seq.resumes += 1;
        }
        if killed {
            seq.kills += 1;
            continue;
        }
        assert!(output.status.success(), "run {} at {w} worker(s) failed: {stderr}", seq.runs);
        return seq;
    }
    unreachable!()
}

/// What a kill sequence learns about its runs, to place every planned kill before the job
/// ends.
#[derive(Default)]
struct KillPlan {
    /// How long the last run killed after its own checkpoint took to write it.
    to_first: Option<Duration>,
    /// The largest share of the generated input a run killed after its own checkpoint got
    /// through (from the watermarks of the checkpoints before and after it).
    per_run: Option<f64>,
}

impl KillPlan {
    /// Whether this run's kill is early (`Some`: before this long after its start): every
    /// other kill, and every kill while the runs that get somewhere could end the input
    /// with fewer than two of them to spare after the kills still to come — so that the
    /// last kills find at least two such runs' work left, and an early kill always comes
    /// before the run could finish.
    fn early(&self, seq: &Sequence, moments: usize, done: Option<f64>) -> Option<Duration> {
        let left = moments.saturating_sub(seq.kills);
        let room = match (self.per_run, done) {
            (Some(p), Some(d)) => Some((1.0 - d) / p.max(1e-3)),
            _ => None,
        };
        self.to_first.filter(|_| seq.kills % 2 == 1 || room.is_some_and(|r| r < (left + 2) as f64))
    }

    /// A run killed after its own checkpoint took the input from `before` to `after`.
    fn progressed(&mut self, before: Option<f64>, after: Option<f64>) {
        if let Some(after) = after {
            let got = (after - before.unwrap_or(0.0)).max(0.0);
            self.per_run = Some(self.per_run.map_or(got, |p| p.max(got)));
        }
    }
}

/// The event time of the first generated record; they advance 1.5 ms a record on average.
const FIRST_TIME: i64 = 1_700_000_000_000;

/// The share of the generated input of `records` records the cut of the newest complete
/// checkpoint in `dir` has passed, by its watermark; `None` without a checkpoint or for
/// another input (a cut outside the generated times).
fn share_done(dir: &Path, records: u64) -> Option<f64> {
    let newest = newest_checkpoint(dir);
    if newest == 0 {
        return None;
    }
    // The newest may be removed meanwhile (the store keeps the last three): then none is read.
    let text = std::fs::read_to_string(dir.join(format!("chk-{newest:010}")).join("MANIFEST.json")).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    // The watermark is stored order-preserving: its bits with the sign bit flipped.
    let watermark = (manifest["cut"]["wm"].as_u64()? ^ (1 << 63)) as i64;
    let share = (watermark as f64 - FIRST_TIME as f64) / (records as f64 * 1.5);
    (-0.1..=1.1).contains(&share).then_some(share.clamp(0.0, 1.0))
}

/// Whether `dir` holds a complete checkpoint (a manifest).
fn has_checkpoint(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|e| e.path().join("MANIFEST.json").exists()))
        .unwrap_or(false)
}

fn moments() -> usize {
    std::env::var("HIGHWATER_KILL_MOMENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20)
}

/// The reference run (never killed, no checkpoints), then each kill sequence against it.
fn check(window: &str, seed: u64) {
    check_with(window, seed, "input.jsonl", &[vec![1], vec![2], vec![2, 1]]);
}

/// [`check`] over the input file `input` (JSON lines or CSV), at the worker counts of each
/// of `sequences`.
fn check_with(window: &str, seed: u64, input: &str, sequences: &[Vec<usize>]) {
    let dir = TempDir::new(&format!("seed{seed}"));
    generate(&dir.0.join(input));
    let start = Instant::now();
    let reference = command(&job(&dir.0, window, false), 1).output().unwrap();
    let full = start.elapsed();
    assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
    let expected = (sorted_lines(&dir.0.join("ref.jsonl")), sorted_lines(&dir.0.join("ref.dead.jsonl")));
    assert!(expected.0.len() > 100_000 && !expected.1.is_empty(), "the job makes panes and dead letters");
    for (n, workers) in sequences.iter().enumerate() {
        let _ = std::fs::remove_dir_all(dir.0.join("checkpoints"));
        let checkpoints = dir.0.join("checkpoints");
        let seq = kill_sequence(
            &job(&dir.0, window, true),
            workers,
            moments(),
            seed + n as u64,
            full,
            20,
            Some(&checkpoints),
        );
        let what = format!("{window} at {workers:?} worker(s): {seq:?}");
        assert!(seq.kills >= moments(), "{what}: killed fewer times than planned");
        assert!(seq.resumes >= 1, "{what}: never resumed from a checkpoint");
        assert!(sorted_lines(&dir.0.join("out.jsonl")) == expected.0, "{what}: the panes differ");
        assert!(sorted_lines(&dir.0.join("out.dead.jsonl")) == expected.1, "{what}: the dead letters differ");
        eprintln!("{what}: the same files");
    }
}

#[test]
fn a_tumble_killed_and_resumed_writes_the_files_of_an_uninterrupted_run() {
    check("fixed(10s)", 11);
}

#[test]
fn sessions_killed_and_resumed_write_the_files_of_an_uninterrupted_run() {
    check("sessions(3s)", 23);
}

/// A CSV file of about 25 MB is read as byte ranges of 4 MiB, each a partition: a range
/// not read yet records its position (its start) at once, and a resumed range reads its
/// batches again up to its position (CSV does not seek). One worker reads them in time
/// order. The tumble has 3 s of allowed lateness and retracting panes: the on-time
/// operators' fired windows (kept for their late panes) are in every checkpoint.
#[test]
fn csv_byte_ranges_killed_and_resumed_write_the_files_of_an_uninterrupted_run() {
    check_with("fixed(10s) | --allowed-lateness 3s --accumulation retracting", 51, "input.csv", &[vec![1]]);
}

/// The general reducer: early firings every 3 records of a key and window, late firings
/// for every late record within 30 s of lateness, retracting panes.
#[test]
fn early_and_late_retracting_panes_killed_and_resumed_write_the_files_of_an_uninterrupted_run() {
    check(
        "fixed(10s) | --trigger after_watermark(early=after_count(3),late=after_count(1)) --allowed-lateness 30s --accumulation retracting",
        37,
    );
}

/// `highwater nexmark --query QUERY` over generated events into a file, checkpointed every
/// 100 ms (`checkpoints`) or not: the generator's position in each partition is the
/// source's position, so a resumed run continues it exactly.
fn nexmark_job(dir: &Path, query: &str, events: u64, checkpoints: bool) -> Vec<String> {
    let out = if checkpoints { "out" } else { "ref" };
    let mut args: Vec<String> = ["nexmark", "--query", query, "--events", &events.to_string(), "--output"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(dir.join(format!("{out}-{query}.jsonl")).display().to_string());
    if checkpoints {
        args.extend(["--checkpoint-dir".into(), dir.join(format!("checkpoints-{query}")).display().to_string()]);
        args.extend(["--checkpoint-interval".into(), "100ms".into()]);
    }
    args
}

/// Nexmark q5 (hot items: bids per auction in sliding windows, then the top auction of
/// each period — two windowed steps) and q11 (bids per bidder per session), killed at
/// seeded moments and rerun until they finish at 2 workers: the same files as a run never
/// killed.
#[test]
fn nexmark_queries_killed_and_resumed_write_the_files_of_an_uninterrupted_run() {
    let dir = TempDir::new("nexmark");
    for (query, events, seed) in [("q5", 600_000, 71), ("q11", 400_000, 83)] {
        let start = Instant::now();
        let reference = command(&nexmark_job(&dir.0, query, events, false), 2).output().unwrap();
        let full = start.elapsed();
        assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
        let expected = sorted_lines(&dir.0.join(format!("ref-{query}.jsonl")));
        assert!(expected.len() > 1_000, "{query} writes rows");
        // A cut waits for each of the generator's partitions to read one more batch (10 000
        // events): in a debug build the first checkpoint comes some 15 % into the run. The
        // moments are counted from the first checkpoint.
        let checkpoints = dir.0.join(format!("checkpoints-{query}"));
        let args = nexmark_job(&dir.0, query, events, true);
        let seq = kill_sequence(&args, &[2], moments(), seed, full, 0, Some(&checkpoints));
        let what = format!("nexmark {query}: {seq:?}");
        assert!(seq.kills >= 1, "{what}: never killed");
        assert!(seq.resumes >= 1, "{what}: never resumed from a checkpoint");
        assert!(sorted_lines(&dir.0.join(format!("out-{query}.jsonl"))) == expected, "{what}: the rows differ");
        eprintln!("{what}: the same files");
    }
}

/// The collection change rows (JSON lines with `diff` and `time`) sum to: each row without
/// them, with its summed diff, those that cancel out left out.
fn change_collection(path: &Path) -> std::collections::BTreeMap<String, i64> {
    let mut sums = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let mut row: serde_json::Value = serde_json::from_str(line).unwrap();
        let row = row.as_object_mut().unwrap();
        let diff = row.remove("diff").and_then(|d| d.as_i64()).unwrap();
        row.remove("time");
        *sums.entry(serde_json::to_string(row).unwrap()).or_insert(0) += diff;
    }
    sums.retain(|_, d| *d != 0);
    sums
}

/// Nexmark q8 (new persons who opened auctions: two changelogs joined, retracting), killed
/// at seeded moments and rerun until it finishes at 2 workers. A changelog's rows carry the
/// progress time of each change, which the cuts move, so the file is compared by what its
/// rows sum to: the collection of a run never killed, each row in it once — no change
/// lost, none written twice.
#[test]
fn nexmark_q8_killed_and_resumed_sums_to_the_collection_of_an_uninterrupted_run() {
    let dir = TempDir::new("nexmark-q8");
    let (query, events, seed) = ("q8", 3_000_000, 97);
    let start = Instant::now();
    let reference = command(&nexmark_job(&dir.0, query, events, false), 2).output().unwrap();
    let full = start.elapsed();
    assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
    let expected = change_collection(&dir.0.join("ref-q8.jsonl"));
    assert!(expected.len() > 100, "q8 writes rows: {}", expected.len());
    assert!(expected.values().all(|d| *d == 1));
    let checkpoints = dir.0.join("checkpoints-q8");
    let args = nexmark_job(&dir.0, query, events, true);
    let seq = kill_sequence(&args, &[2], moments(), seed, full, 0, Some(&checkpoints));
    let what = format!("nexmark q8: {seq:?}");
    assert!(seq.kills >= 1 && seq.resumes >= 1, "{what}: never killed and resumed");
    let got = change_collection(&dir.0.join("out-q8.jsonl"));
    let extra: Vec<_> = got.iter().filter(|(k, d)| expected.get(*k) != Some(d)).take(5).collect();
    let missing: Vec<_> = expected.iter().filter(|(k, d)| got.get(*k) != Some(d)).take(5).collect();
    assert!(extra.is_empty() && missing.is_empty(), "{what}: {extra:?} instead of {missing:?}");
    eprintln!("{what}: the same collection, {} rows", got.len());
}

/// A small job, run to its end with checkpoints; returns its directory.
fn small_job(name: &str) -> (TempDir, Vec<String>) {
    let dir = TempDir::new(name);
    let mut text = String::new();
    for i in 0..20_000i64 {
        text.push_str(&format!("{{\"k\":\"k{}\",\"t\":{},\"v\":1}}\n", i % 13, i * 7));
    }
    std::fs::write(dir.0.join("input.jsonl"), text).unwrap();
    let args = with_flag(&job(&dir.0, "fixed(10s)", true), "--checkpoint-interval", "1ms");
    let out = command(&args, 2).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir, args)
}

fn with_flag(args: &[String], flag: &str, value: &str) -> Vec<String> {
    let mut args = args.to_vec();
    match args.iter().position(|a| a == flag) {
        Some(i) => args[i + 1] = value.to_string(),
        None => args.extend([flag.to_string(), value.to_string()]),
    }
    args
}

#[test]
fn a_changed_job_is_refused_naming_what_differs_and_fresh_starts_over() {
    let (dir, args) = small_job("changed");
    let changed = with_flag(&args, "--window", "fixed(20s)");
    let out = command(&changed, 1).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for needle in ["window: fixed(10000)", "window: fixed(20000)", "--fresh"] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    // The refused run wrote nothing: the files are the first run's.
    let before = std::fs::read(dir.0.join("out.jsonl")).unwrap();
    assert!(!before.is_empty());
    let mut fresh = changed.clone();
    fresh.push("--fresh".into());
    let out = command(&fresh, 1).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("resuming"));
    // The unchanged job resumes from its last checkpoint and writes the same files.
    let again = command(&args, 1).output().unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && stderr.contains("window: fixed(20000)"), "{stderr}");
}

#[test]
fn a_finished_job_run_again_resumes_and_writes_the_same_files() {
    let (dir, args) = small_job("again");
    let before = sorted_lines(&dir.0.join("out.jsonl"));
    let out = command(&args, 1).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("resuming from checkpoint"), "{stderr}");
    assert!(sorted_lines(&dir.0.join("out.jsonl")) == before);
}

/// A job reading from a server (`--connect`) cannot be resumed: refused, saying what to do.
#[test]
fn a_socket_job_connecting_to_a_server_with_checkpoints_is_refused() {
    let dir = TempDir::new("socket");
    let out = Command::new(highwater())
        .args(["run", "--connect", "127.0.0.1:9", "--format", "jsonl", "--time-field", "t", "--checkpoint-dir"])
        .arg(dir.0.join("checkpoints"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--checkpoint-dir") && stderr.contains("--listen"), "{stderr}");
}

/// Records on the socket job's one connection.
const SOCKET_RECORDS: u64 = 300_000;

/// `highwater run --listen` on a free port, one connection, into files; checkpointed
/// every 100 ms (`checkpoints`) or not.
fn socket_job(dir: &Path, checkpoints: bool) -> Vec<String> {
    let mut args = job(dir, "fixed(10s)", checkpoints);
    let at = args.iter().position(|a| a == "--input").unwrap();
    args.drain(at..at + 2);
    args.extend(["--listen", "127.0.0.1:0", "--format", "jsonl", "--max-connections", "1"].map(String::from));
    args
}

/// A job started, the address it listens on, and its standard error (read to its end by
/// a thread).
struct Listening {
    child: std::process::Child,
    addr: String,
    stderr: std::thread::JoinHandle<String>,
}

fn start_listening(args: &[String]) -> Listening {
    use std::io::BufRead;
    let mut child = command(args, 2).spawn().expect("highwater starts");
    let pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("highwater run: listening on ") {
                let _ = tx.send(addr.to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the job says where it listens");
    Listening { child, addr, stderr }
}

/// `sorted_lines` with every `"peer":"127.0.0.1:PORT"` written `"peer":"PEER"`: the
/// reference run's client had another port.
fn sorted_lines_any_peer(path: &Path) -> Vec<u8> {
    let text = String::from_utf8(sorted_lines(path)).unwrap();
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("\"peer\":\"") {
        let (head, tail) = rest.split_at(i + "\"peer\":\"".len());
        out.push_str(head);
        out.push_str("PEER");
        rest = &tail[tail.find('"').unwrap_or(0)..];
    }
    out.push_str(rest);
    let mut lines: Vec<&str> = out.split_inclusive('\n').collect();
    lines.sort();
    lines.concat().into_bytes()
}

/// Sends the whole input on one connection and closes it.
fn send_input(addr: &str, input: &Path) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the job");
    s.write_all(&std::fs::read(input).unwrap()).unwrap();
}

/// The socket job: a client sends 300 000 lines (a tumble with late records and too-late
/// dead letters) on one connection and closes it; once the journal holds every byte (the
/// server has read them all), the job is SIGKILLed at seeded moments and run again with the
/// same command until it finishes — the restarts replay the journal from each checkpoint
/// (no client sends again; `--max-connections 1` counts the journaled connection). The
/// files are those of a run never killed.
#[test]
fn a_socket_job_killed_and_resumed_writes_the_files_of_an_uninterrupted_run() {
    let dir = TempDir::new("socket-kill");
    let input = dir.0.join("input.jsonl");
    generate_records(&input, SOCKET_RECORDS);
    let total = std::fs::metadata(&input).unwrap().len();
    let start = Instant::now();
    let mut reference = start_listening(&socket_job(&dir.0, false));
    send_input(&reference.addr, &input);
    let status = reference.child.wait().unwrap();
    let stderr = reference.stderr.join().unwrap();
    assert!(status.success(), "{stderr}");
    let full = start.elapsed();
    let expected = (sorted_lines(&dir.0.join("ref.jsonl")), sorted_lines_any_peer(&dir.0.join("ref.dead.jsonl")));
    assert!(!expected.0.is_empty() && !expected.1.is_empty(), "the job makes panes and dead letters");
    assert!(String::from_utf8_lossy(&expected.1).contains("\"peer\":\"PEER\""), "malformed lines name the peer");

    let args = socket_job(&dir.0, true);
    let journal = dir.0.join("checkpoints/journal/input/conn-0000000000.log");
    let mut rng = Rng(0x50C7 | 1);
    let moments = moments();
    let mut seq = Sequence::default();
    loop {
        let mut run = start_listening(&args);
        seq.runs += 1;
        if seq.runs == 1 {
            send_input(&run.addr, &input);
            // The server has read every line once its journal holds every byte.
            let deadline = Instant::now() + Duration::from_secs(60);
            while std::fs::metadata(&journal).map_or(0, |m| m.len()) < total {
                assert!(Instant::now() < deadline, "the journal never held the whole input");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let mut killed = false;
        if seq.kills < moments {
            // Counted from the first checkpoint: a loaded machine must not kill every run
            // before it.
            let checkpoints = dir.0.join("checkpoints");
            let deadline = Instant::now() + Duration::from_secs(120);
            while !has_checkpoint(&checkpoints) && run.child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "no checkpoint is ever written");
                std::thread::sleep(Duration::from_millis(5));
            }
            let started = Instant::now();
            let spread = (1_200 / moments.max(1)) as u64;
            let mut share = rng.next(spread.max(1)) as f64 / 1_000.0;
            if let Some(done) = share_done(&checkpoints, SOCKET_RECORDS) {
                share = share.min((1.0 - done) / (moments - seq.kills + 1) as f64);
            }
            let delay = full.mul_f64(share);
            while started.elapsed() < delay && run.child.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
            killed = run.child.try_wait().unwrap().is_none() && run.child.kill().is_ok();
        }
        let status = run.child.wait().unwrap();
        let stderr = run.stderr.join().unwrap();
        if stderr.contains("resuming from checkpoint") {
            seq.resumes += 1;
            // (A run killed right after it started may not have built its source yet.)
            if !killed || stderr.contains("resumes:") {
                assert!(stderr.contains("(journal conn-0000000000.log)` at byte"), "{stderr}");
            }
        }
        if killed {
            seq.kills += 1;
            continue;
        }
        assert!(status.success(), "run {} failed: {stderr}", seq.runs);
        break;
    }
    let what = format!("socket job: {seq:?}");
    assert!(seq.kills >= moments, "{what}: killed fewer times than planned");
    assert!(seq.resumes >= 1, "{what}: never resumed from a checkpoint");
    assert!(sorted_lines(&dir.0.join("out.jsonl")) == expected.0, "{what}: the panes differ");
    assert!(sorted_lines_any_peer(&dir.0.join("out.dead.jsonl")) == expected.1, "{what}: the dead letters differ");
    eprintln!("{what}: the same files");
}

/// The file sinks of a Rust pipeline (`JsonLines`, `CsvFile`): rows written after the last
/// checkpoint (here: garbage appended to the files, as a killed run leaves them) are cut
/// off by the next run, which writes the rest; the CSV header is written once. Taken at 2
/// workers, restored at 1.
#[test]
fn file_sinks_are_cut_back_to_their_checkpointed_length() {
    use highwater::model::watermark::WatermarkStrategy;
    use highwater::pipeline::{pane_row, run, CsvFile, JsonLines, Memory, RunConfig, Windowing};
    use highwater::runtime::checkpoint::{CheckpointConfig, RunCheckpoints};
    let dir = TempDir::new("sinks");
    let (jsonl, csv) = (dir.0.join("panes.jsonl"), dir.0.join("panes.csv"));
    let job = |workers: usize, interval: Duration| {
        let (jsonl, csv) = (jsonl.clone(), csv.clone());
        let checkpoints =
            RunCheckpoints::new(CheckpointConfig::new(dir.0.join("checkpoints"))).interval(interval).quiet();
        run(RunConfig::workers(workers).checkpoints(checkpoints), move |p| {
            let records: Vec<(i64, (u64, u64))> = (0..20_000i64).map(|i| (i * 5, (i as u64 % 11, 1))).collect();
            let src = Memory::new(vec![records], WatermarkStrategy::Ascending).batch_size(100);
            let panes =
                p.read_keyed("numbers", src)?.window(Windowing::fixed(Duration::from_secs(1))).count("counts")?;
            panes.clone().write(JsonLines::file(&jsonl).rows());
            panes.write(CsvFile::create(&csv).format(pane_row));
            Ok(())
        })
        .unwrap()
    };
    let first = job(2, Duration::ZERO);
    assert!(first.checkpoints > 0);
    let (json_rows, csv_rows) = (sorted_lines(&jsonl), std::fs::read_to_string(&csv).unwrap());
    let header = csv_rows.lines().next().unwrap().to_string();
    assert!(header.starts_with("key,window,value"));
    for path in [&jsonl, &csv] {
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(b"rows written after the last checkpoint\n").unwrap();
    }
    let second = job(1, Duration::from_secs(60));
    assert!(second.restored_from.is_some());
    assert!(sorted_lines(&jsonl) == json_rows, "the JSON lines differ");
    let again = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(again.lines().next(), Some(header.as_str()));
    let mut a: Vec<&str> = again.lines().collect();
    let mut b: Vec<&str> = csv_rows.lines().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the CSV rows differ");
}

/// A checkpoint directory on a full disk (a 256 KiB tmpfs; every checkpoint of this job is
/// larger): each checkpoint fails with a warning, the job goes on and writes the files of
/// a run without checkpoints. The test suite runs as root (`.ci/run` says so).
#[test]
fn a_full_disk_fails_the_checkpoints_not_the_job() {
    let dir = TempDir::new("full-disk");
    generate(&dir.0.join("input.jsonl"));
    let reference = command(&job(&dir.0, "fixed(10s)", false), 1).output().unwrap();
    assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
    let _tmpfs = Tmpfs::mount(&dir.0.join("checkpoints"), "256k");
    let out = command(&job(&dir.0, "fixed(10s)", true), 2).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning") && stderr.contains("No space left on device"), "{stderr}");
    assert!(sorted_lines(&dir.0.join("out.jsonl")) == sorted_lines(&dir.0.join("ref.jsonl")), "the panes differ");
    assert!(sorted_lines(&dir.0.join("out.dead.jsonl")) == sorted_lines(&dir.0.join("ref.dead.jsonl")));
}

/// A restarted socket job restores its checkpoint, then listens again: the second client,
/// connecting to the restarted job, is connection 1 (`--max-connections 2` counts the
/// first run's), and the files are those of a run that read both connections unkilled.
/// Connection 0's journal, read to its end, is deleted once no checkpoint older than the
/// first one recording that is left (the first run is killed after that).
#[test]
fn a_restarted_socket_job_replays_its_journals_then_accepts_new_connections() {
    let dir = TempDir::new("socket-restart");
    // Two halves in time order, the second after the first: no record is late whichever
    // connection the job reads first.
    let whole = dir.0.join("whole.jsonl");
    generate_records(&whole, 100_000);
    let text = std::fs::read_to_string(&whole).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.contains("oops")).collect();
    let (a, b) = (dir.0.join("a.jsonl"), dir.0.join("b.jsonl"));
    let half = lines.len() / 2;
    std::fs::write(&a, lines[..half].join("\n") + "\n").unwrap();
    // A gap of a minute: the watermark of the first half never makes a record of the
    // second late.
    let shifted: Vec<String> = lines[half..].iter().map(|l| l.replace("\"t\":17", "\"t\":27")).collect();
    std::fs::write(&b, shifted.join("\n") + "\n").unwrap();
    let two = |checkpoints: bool| {
        let mut args = socket_job(&dir.0, checkpoints);
        let at = args.iter().position(|a| a == "--max-connections").unwrap();
        args[at + 1] = "2".into();
        if checkpoints {
            let at = args.iter().position(|a| a == "--checkpoint-interval").unwrap();
            args[at + 1] = "1ms".into();
        }
        args
    };
    let mut reference = start_listening(&two(false));
    send_input(&reference.addr, &a);
    send_input(&reference.addr, &b);
    assert!(reference.child.wait().unwrap().success());
    let stderr = reference.stderr.join().unwrap();
    assert!(stderr.contains("from 2 connection(s)"), "{stderr}");

    let journals = dir.0.join("checkpoints/journal/input");
    let mut first = start_listening(&two(true));
    send_input(&first.addr, &a);
    let total = std::fs::metadata(&a).unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(journals.join("conn-0000000000.log")).map_or(0, |m| m.len()) < total {
        assert!(Instant::now() < deadline, "the journal never held the first connection");
        std::thread::sleep(Duration::from_millis(2));
    }
    // The connection is closed; once it is read to its end and three later checkpoints
    // (those kept) record it so, its journal goes.
    while journals.join("conn-0000000000.log").exists() {
        assert!(Instant::now() < deadline, "connection 0's journal is never deleted");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(!journals.join("conn-0000000000.peer").exists());
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    first.stderr.join().unwrap();

    let mut second = start_listening(&two(true));
    send_input(&second.addr, &b);
    let status = second.child.wait().unwrap();
    let stderr = second.stderr.join().unwrap();
    assert!(status.success(), "{stderr}");
    // Connection 0 was read to its end before the checkpoint: this run reads connection 1.
    assert!(stderr.contains("resuming from checkpoint") && stderr.contains("from 1 connection(s)"), "{stderr}");
    assert!(journals.join("conn-0000000001.peer").exists(), "the new client is connection 1");
    assert!(sorted_lines(&dir.0.join("out.jsonl")) == sorted_lines(&dir.0.join("ref.jsonl")), "the panes differ");
    assert!(
        sorted_lines_any_peer(&dir.0.join("out.dead.jsonl")) == sorted_lines_any_peer(&dir.0.join("ref.dead.jsonl")),
        "the dead letters differ"
    );
}

/// Mounts a tmpfs of `size` at `at` (the test suite runs as root); unmounted when dropped.
struct Tmpfs(std::ffi::CString);
impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Self {
        use std::os::unix::ffi::OsStrExt;
        std::fs::create_dir_all(at).unwrap();
        let target = std::ffi::CString::new(at.as_os_str().as_bytes()).unwrap();
        let options = std::ffi::CString::new(format!("size={size},mode=0700")).unwrap();
        // SAFETY: valid NUL-terminated strings that outlive the call.
        let rc =
            unsafe { libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, options.as_ptr().cast()) };
        assert_eq!(rc, 0, "mount a tmpfs ({}): run the tests as root", std::io::Error::last_os_error());
        Tmpfs(target)
    }
}
impl Drop for Tmpfs {
    fn drop(&mut self) {
        // SAFETY: a valid NUL-terminated path.
        unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
    }
}

/// A socket journal that cannot be written (the checkpoint directory on a full 1 MiB
/// tmpfs, the input 4 MB): the records cannot be accepted durably, so the job fails with
/// status 1, naming the journal and saying what to do.
#[test]
fn a_socket_journal_on_a_full_disk_fails_the_job_naming_the_file() {
    let dir = TempDir::new("socket-full");
    let input = dir.0.join("input.jsonl");
    generate_records(&input, 100_000);
    let _tmpfs = Tmpfs::mount(&dir.0.join("checkpoints"), "1m");
    let mut run = start_listening(&socket_job(&dir.0, true));
    // The job closes the connection when the journal fails: the client may see a reset.
    if let Ok(mut s) = std::net::TcpStream::connect(&run.addr) {
        let _ = s.write_all(&std::fs::read(&input).unwrap());
    }
    let status = run.child.wait().unwrap();
    let stderr = run.stderr.join().unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    for needle in ["cannot append to the socket journal", "conn-0000000000.log", "No space left on device", "rerun"] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}

/// The newest complete checkpoint in `dir` (0: none).
fn newest_checkpoint(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .filter(|e| e.path().join("MANIFEST.json").exists())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("chk-")?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// Where one run of a cluster kill sequence runs.
#[derive(Debug, Clone, Copy)]
enum Placement {
    /// Two processes (`--processes 2 --process I --hostfile FILE`) of this many workers.
    Processes(usize),
    /// One process of this many workers.
    Single(usize),
}

/// Records of the cluster kill tests, split over two files (each a partition): partition
/// 0 is read by process 0, partition 1 by process 1, and both processes' sources take part
/// in every cut.
const CLUSTER_RECORDS: u64 = RECORDS;

/// Splits the generated input into two files of alternate lines (times advance together
/// in both): `input-a.jsonl`, `input-b.jsonl`.
fn generate_split(dir: &Path) -> Vec<PathBuf> {
    let whole = dir.join("whole.jsonl");
    generate_records(&whole, CLUSTER_RECORDS);
    let text = std::fs::read_to_string(&whole).unwrap();
    let (mut a, mut b) = (String::new(), String::new());
    for (i, line) in text.lines().enumerate() {
        let half = if i % 2 == 0 { &mut a } else { &mut b };
        half.push_str(line);
        half.push('\n');
    }
    std::fs::remove_file(&whole).unwrap();
    let files = vec![dir.join("input-a.jsonl"), dir.join("input-b.jsonl")];
    std::fs::write(&files[0], a).unwrap();
    std::fs::write(&files[1], b).unwrap();
    files
}

/// [`job`] over the two files of [`generate_split`].
fn split_job(dir: &Path, window: &str, checkpoints: bool) -> Vec<String> {
    let mut args = job(dir, window, checkpoints);
    let at = args.iter().position(|a| a == "--input").unwrap();
    args[at + 1] = dir.join("input-a.jsonl").display().to_string();
    args.insert(at + 2, dir.join("input-b.jsonl").display().to_string());
    args
}

/// Starts one run of `args` at `placement`: its processes, each with its standard error
/// piped.
fn start_placed(args: &[String], placement: Placement, dir: &Path) -> Vec<std::process::Child> {
    match placement {
        Placement::Single(workers) => vec![command(args, workers).spawn().expect("highwater starts")],
        Placement::Processes(workers) => {
            // Two free ports on loopback (bound, then released for the processes).
            let ports: Vec<std::net::TcpListener> =
                (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
            let hosts: Vec<String> = ports.iter().map(|l| l.local_addr().unwrap().to_string()).collect();
            drop(ports);
            let hostfile = dir.join("hosts.txt");
            std::fs::write(&hostfile, hosts.join("\n") + "\n").unwrap();
            (0..2)
                .map(|i| {
                    let mut c = command(args, workers);
                    c.args(["--processes", "2", "--process", &i.to_string(), "--hostfile"]).arg(&hostfile);
                    c.args(["--connect-timeout", "60s"]);
                    c.spawn().expect("highwater starts")
                })
                .collect()
        }
    }
}

/// Waits (at most a minute) for every process of a run; returns whether each succeeded
/// and their standard errors.
fn wait_placed(children: Vec<std::process::Child>) -> (Vec<bool>, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut children = children;
    while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        if Instant::now() > deadline {
            let mut said = String::new();
            for (i, c) in children.iter_mut().enumerate() {
                let running = c.try_wait().unwrap().is_none();
                let _ = c.kill();
                let mut err = String::new();
                if let Some(mut e) = c.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                said.push_str(&format!("--- process {i} (running: {running})\n{err}"));
            }
            panic!("a process of the run did not end within a minute\n{said}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut ok = Vec::new();
    let mut stderr = String::new();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        ok.push(out.status.success());
        stderr.push_str(&format!("--- process {i}\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    (ok, stderr)
}

/// Every line of the files `dir/NAME` and `dir/NAME.p<I>`, sorted: what a job wrote over
/// runs at one and at two processes.
fn sorted_outputs(dir: &Path, name: &str) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for path in [dir.join(name), dir.join(format!("{name}.p0")), dir.join(format!("{name}.p1"))] {
        if let Ok(text) = std::fs::read(&path) {
            lines.extend(text.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec));
        }
    }
    lines.sort();
    lines.concat()
}

/// Runs the checkpointed job `args` on the placements of `placements` in turn, killing it
/// at seeded moments until a run finishes (or [`moments`] kills are done and a run
/// finishes); returns the sequence and the placements of the runs that resumed. Every
/// other kill is of one process (chosen by the seed) after the run's first checkpoint in
/// `checkpoints`; the others kill every process of the run at a moment counted from its
/// start (a whole machine lost: it may land while the processes connect or restore).
/// `full` is the time of a whole run over the generated file, if that is the input.
fn kill_placed(
    args: &[String],
    placements: &[Placement],
    dir: &Path,
    checkpoints: &Path,
    seed: u64,
    full: Option<Duration>,
) -> (Sequence, Vec<Placement>) {
    let mut rng = Rng(seed | 1);
    let moments = moments();
    let mut seq = Sequence::default();
    let mut resumed_at = Vec::new();
    // The share of the time to the first checkpoint the kill may wait after it: a run that
    // ends before its kill (a quiet machine reads faster than the kill moments expect)
    // starts the sequence again from nothing, killing sooner.
    let mut reach = 0.25;
    let mut plan = KillPlan::default();
    let done = || full.and(share_done(checkpoints, CLUSTER_RECORDS));
    for i in 0.. {
        let placement = placements[i % placements.len()];
        let before = newest_checkpoint(checkpoints);
        let done_at_spawn = done();
        let mut children = start_placed(args, placement, dir);
        seq.runs += 1;
        let mut killed = false;
        let running = |c: &mut Vec<std::process::Child>| c.iter_mut().all(|c| c.try_wait().unwrap().is_none());
        let early = plan.early(&seq, moments, done_at_spawn);
        if let (true, Some(to_first)) = (seq.kills < moments, early) {
            // Every process, at a moment before the last run had its first checkpoint.
            let delay: Duration = to_first * rng.next(1_000) as u32 / 1_000;
            let started = Instant::now();
            while started.elapsed() < delay && running(&mut children) {
                std::thread::sleep(Duration::from_millis(2));
            }
            if running(&mut children) {
                killed = children.iter_mut().all(|c| c.kill().is_ok());
            }
        } else if seq.kills < moments {
            // After this run's first complete checkpoint (the processes are connected then:
            // a process killed while its peer waits to connect leaves the peer waiting for
            // its connect timeout; and each run gets somewhere), by up to 25 % of the time
            // that checkpoint took after the start: a cut completes once the windowed
            // steps have caught up with the sources, so the run goes on about that long.
            // Over the generated file, at most the share of the input left over the kills
            // still to come and one, of a whole run.
            let started = Instant::now();
            let deadline = started + Duration::from_secs(60);
            while newest_checkpoint(checkpoints) <= before && running(&mut children) {
                assert!(Instant::now() < deadline, "no checkpoint in {}", checkpoints.display());
                std::thread::sleep(Duration::from_millis(5));
            }
            plan.to_first = Some(started.elapsed());
            let mut delay = started.elapsed().mul_f64(reach * rng.next(1_000) as f64 / 1_000.0);
            if let (Some(full), Some(done)) = (full, done()) {
                delay = delay.min(full.mul_f64((1.0 - done) / (moments - seq.kills + 1) as f64));
            }
            let started = Instant::now();
            while started.elapsed() < delay && running(&mut children) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let victim = rng.next(children.len() as u64) as usize;
            killed = running(&mut children) && children[victim].kill().is_ok();
            if killed {
                plan.progressed(done_at_spawn, done());
            }
        }
        let (ok, stderr) = wait_placed(children);
        if stderr.contains("resuming from checkpoint") {
            seq.resumes += 1;
            resumed_at.push(placement);
        }
        if killed {
            seq.kills += 1;
            continue;
        }
        assert!(ok.iter().all(|ok| *ok), "run {} at {placement:?} failed: {stderr}", seq.runs);
        if seq.kills == 0 && seq.runs < 4 {
            // Finished before any kill: again from nothing (outputs and checkpoints).
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                if entry.file_name().to_string_lossy().starts_with("out") {
                    std::fs::remove_file(entry.path()).unwrap();
                }
            }
            std::fs::remove_dir_all(checkpoints).unwrap();
            resumed_at.clear();
            seq.resumes = 0;
            reach /= 4.0;
            continue;
        }
        break;
    }
    (seq, resumed_at)
}

/// The 2-process kill sequence of `window`: a reference run (one process, no
/// checkpoints), then the checkpointed job started on the placements of `placements` in
/// turn — two processes, or one — and SIGKILLed at seeded moments (after the run's first
/// complete checkpoint; one of the two processes, chosen by the seed, is killed, and the
/// other fails on its own when its peer goes), restarted until a run finishes. The output
/// and dead-letter files of every run together are those of the reference, sorted, byte for
/// byte.
fn check_cluster(window: &str, seed: u64, placements: &[Placement]) {
    let dir = TempDir::new(&format!("cluster-seed{seed}"));
    generate_split(&dir.0);
    let start = Instant::now();
    let reference = command(&split_job(&dir.0, window, false), 1).output().unwrap();
    let full = start.elapsed();
    assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
    let expected = (sorted_lines(&dir.0.join("ref.jsonl")), sorted_lines(&dir.0.join("ref.dead.jsonl")));
    assert!(expected.0.len() > 10_000 && !expected.1.is_empty(), "the job makes panes and dead letters");
    let args = split_job(&dir.0, window, true);
    let (seq, resumed_at) = kill_placed(&args, placements, &dir.0, &dir.0.join("checkpoints"), seed, Some(full));
    let what = format!("{window} at {placements:?}: {seq:?}, resumed at {resumed_at:?}");
    assert!(seq.kills >= moments(), "{what}: killed fewer times than planned");
    assert!(seq.resumes >= 1, "{what}: never resumed from a checkpoint");
    assert!(sorted_outputs(&dir.0, "out.jsonl") == expected.0, "{what}: the panes differ");
    assert!(sorted_outputs(&dir.0, "out.dead.jsonl") == expected.1, "{what}: the dead letters differ");
    eprintln!("{what}: the same files");
}

/// The default-trigger tumble (on-time operators) at 2 processes of 1 worker, killed and
/// restarted; every third run is one process of 1 worker (a 2-process checkpoint restored
/// at `--workers 1`, and the next run restores its checkpoint at 2 processes again).
#[test]
fn a_tumble_at_two_processes_killed_and_resumed_writes_the_files_of_an_uninterrupted_run() {
    use Placement::*;
    check_cluster("fixed(10s)", 101, &[Processes(1), Processes(1), Single(1)]);
}

/// Sessions at 2 processes (of 1 and of 2 workers), killed and restarted.
#[test]
fn sessions_at_two_processes_killed_and_resumed_write_the_files_of_an_uninterrupted_run() {
    use Placement::*;
    check_cluster("sessions(3s)", 103, &[Processes(1), Processes(2)]);
}

/// The general reducer (early and late firings, allowed lateness, retracting panes) at 2
/// processes, killed and restarted; every other run is one process of 2 workers.
#[test]
fn early_and_late_retracting_panes_at_two_processes_killed_and_resumed_write_the_files_of_an_uninterrupted_run() {
    use Placement::*;
    check_cluster(
        "fixed(10s) | --trigger after_watermark(early=after_count(3),late=after_count(1)) --allowed-lateness 30s --accumulation retracting",
        107,
        &[Processes(1), Single(2)],
    );
}

/// A checkpoint written by 2 processes restores at one process of 1 worker: the run that
/// finishes it reads only the rest of the input, and the files of both runs together are
/// those of a run never interrupted.
#[test]
fn a_checkpoint_of_two_processes_restores_at_one_worker() {
    let dir = TempDir::new("cluster-to-one");
    generate_split(&dir.0);
    let window = "sessions(3s)";
    let reference = command(&split_job(&dir.0, window, false), 1).output().unwrap();
    assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
    let args = split_job(&dir.0, window, true);
    // Two processes, killed (process 1) once a checkpoint is complete.
    let checkpoints = dir.0.join("checkpoints");
    let mut children = start_placed(&args, Placement::Processes(1), &dir.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !has_checkpoint(&checkpoints) {
        assert!(Instant::now() < deadline, "no checkpoint");
        assert!(children.iter_mut().all(|c| c.try_wait().unwrap().is_none()), "the run ended before a checkpoint");
        std::thread::sleep(Duration::from_millis(2));
    }
    children[1].kill().unwrap();
    let (ok, stderr) = wait_placed(children);
    assert!(!ok[0], "process 0 fails when process 1 is killed: {stderr}");
    let manifest = std::fs::read_dir(&checkpoints)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("MANIFEST.json"))
        .find(|m| m.exists())
        .expect("a manifest");
    assert!(std::fs::read_to_string(manifest).unwrap().contains("\"processes\": 2"));
    let out = command(&args, 1).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("resuming from checkpoint") && stderr.contains("in 2 processes"), "{stderr}");
    assert!(sorted_outputs(&dir.0, "out.jsonl") == sorted_lines(&dir.0.join("ref.jsonl")), "the panes differ");
    assert!(sorted_outputs(&dir.0, "out.dead.jsonl") == sorted_lines(&dir.0.join("ref.dead.jsonl")));
}

/// Nexmark q5 (two windowed steps) over generated events, killed and restarted at 2
/// processes of 1 worker and at 1 process of 2 (the generator's partitions are four per
/// worker: the same 2 workers in all): the rows of every run together are those of a run
/// never killed.
#[test]
fn nexmark_at_two_processes_killed_and_resumed_writes_the_rows_of_an_uninterrupted_run() {
    use Placement::*;
    let dir = TempDir::new("cluster-nexmark");
    let reference = command(&nexmark_job(&dir.0, "q5", 400_000, false), 2).output().unwrap();
    assert!(reference.status.success(), "{}", String::from_utf8_lossy(&reference.stderr));
    let expected = sorted_lines(&dir.0.join("ref-q5.jsonl"));
    assert!(expected.len() > 1_000, "q5 writes rows");
    let args = nexmark_job(&dir.0, "q5", 400_000, true);
    let placements = [Processes(1), Single(2)];
    let (seq, resumed_at) = kill_placed(&args, &placements, &dir.0, &dir.0.join("checkpoints-q5"), 131, None);
    let what = format!("nexmark q5 at {placements:?}: {seq:?}, resumed at {resumed_at:?}");
    assert!(seq.kills >= 1, "{what}: never killed");
    assert!(seq.resumes >= 1, "{what}: never resumed from a checkpoint");
    assert!(sorted_outputs(&dir.0, "out-q5.jsonl") == expected, "{what}: the rows differ");
    eprintln!("{what}: the same files");
}

/// What a job's output files account for: records counted in panes (`count`) and their
/// summed `v`, records dropped too late and their `v`, and malformed lines — each record
/// of the input exactly once in one of them (default trigger, discarding: one pane per
/// window and key).
#[derive(Debug, Default, PartialEq, Eq)]
struct Accounted {
    counted: u64,
    summed: u64,
    too_late: u64,
    too_late_sum: u64,
    malformed: u64,
}

fn accounted(panes: &Path, dead: &Path) -> Accounted {
    let mut a = Accounted::default();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    for line in read(panes).lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("a pane row");
        a.counted += row["value"]["count"].as_u64().expect("count");
        a.summed += row["value"]["sum_v"].as_u64().expect("sum_v");
    }
    for line in read(dead).lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("a dead letter");
        if row["kind"] == "too_late" {
            a.too_late += 1;
            a.too_late_sum += row["record"][0].as_u64().expect("the record's v");
        } else {
            a.malformed += 1;
        }
    }
    a
}

/// Three clients connect at once and send their lines (every third line of the input
/// each), then keep their connections open; once the journals hold every byte the job is
/// SIGKILLed with the three connections open, and run again with the same command (killed
/// again at seeded moments) until it finishes: the restarts replay the three journals
/// (each ends its connection: the clients' connections died with the job). Which records
/// are late depends on when each connection's lines arrive against the others' (a live
/// job's answer depends on arrival, unlike a replay's: two uninterrupted runs differ), so
/// the check is exactly-once accounting: every record of the input is counted in exactly
/// one pane or one too-late dead letter, and every malformed line is one dead letter — no
/// record lost, none repeated. `--idle-timeout` lets checkpoints complete while the open
/// connections are quiet.
#[test]
fn a_socket_job_killed_with_several_connections_open_loses_and_repeats_no_record() {
    let dir = TempDir::new("socket-many");
    let whole = dir.0.join("whole.jsonl");
    generate_records(&whole, 150_000);
    let text = std::fs::read_to_string(&whole).unwrap();
    let mut parts = vec![String::new(); 3];
    let mut input = Accounted::default();
    for (i, line) in text.lines().enumerate() {
        parts[i % 3].push_str(line);
        parts[i % 3].push('\n');
        match serde_json::from_str::<serde_json::Value>(line).ok().filter(|r| r["t"].is_i64()) {
            Some(r) => {
                input.counted += 1;
                input.summed += r["v"].as_u64().unwrap();
            }
            None => input.malformed += 1,
        }
    }
    let job = |checkpoints: bool| {
        let mut args = socket_job(&dir.0, checkpoints);
        let at = args.iter().position(|a| a == "--max-connections").unwrap();
        args[at + 1] = "3".into();
        args.extend(["--idle-timeout".into(), "300ms".into()]);
        args
    };
    // Each part on a connection of its own, all at once; returns the open connections.
    let send_all = |addr: &str| -> Vec<std::net::TcpStream> {
        let conns: Vec<std::net::TcpStream> =
            (0..3).map(|_| std::net::TcpStream::connect(addr).expect("connect to the job")).collect();
        let senders: Vec<_> = conns
            .iter()
            .zip(parts.clone())
            .map(|(c, part)| {
                let mut c = c.try_clone().unwrap();
                std::thread::spawn(move || c.write_all(part.as_bytes()).unwrap())
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        conns
    };
    // Every record in one pane or one dead letter: the accounting, checked on a run never
    // killed.
    let balanced = |a: &Accounted| {
        a.counted + a.too_late == input.counted
            && a.summed + a.too_late_sum == input.summed
            && a.malformed == input.malformed
    };
    let mut reference = start_listening(&job(false));
    drop(send_all(&reference.addr));
    let status = reference.child.wait().unwrap();
    let stderr = reference.stderr.join().unwrap();
    assert!(status.success() && stderr.contains("from 3 connection(s)"), "{stderr}");
    let uninterrupted = accounted(&dir.0.join("ref.jsonl"), &dir.0.join("ref.dead.jsonl"));
    assert!(balanced(&uninterrupted) && uninterrupted.too_late > 0, "{uninterrupted:?} for {input:?}");

    let journals = dir.0.join("checkpoints/journal/input");
    let total: u64 = parts.iter().map(|p| p.len() as u64).sum();
    let checkpoints = dir.0.join("checkpoints");
    let mut rng = Rng(0x3C077 | 1);
    let mut seq = Sequence::default();
    loop {
        let before = newest_checkpoint(&checkpoints);
        let mut run = start_listening(&job(true));
        seq.runs += 1;
        let mut open = Vec::new();
        if seq.runs == 1 {
            open = send_all(&run.addr);
            let deadline = Instant::now() + Duration::from_secs(60);
            let journaled = || -> u64 {
                std::fs::read_dir(&journals)
                    .map(|d| {
                        d.flatten()
                            .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                            .map(|e| e.metadata().map_or(0, |m| m.len()))
                            .sum()
                    })
                    .unwrap_or(0)
            };
            while journaled() < total {
                assert!(Instant::now() < deadline, "the journals never held the whole input");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let mut killed = false;
        if seq.kills < moments() {
            let started = Instant::now();
            let deadline = started + Duration::from_secs(60);
            while newest_checkpoint(&checkpoints) <= before && run.child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "no checkpoint is ever written");
                std::thread::sleep(Duration::from_millis(5));
            }
            let delay = started.elapsed().mul_f64(rng.next(900) as f64 / 1_000.0);
            let started = Instant::now();
            while started.elapsed() < delay && run.child.try_wait().unwrap().is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
            killed = run.child.try_wait().unwrap().is_none() && run.child.kill().is_ok();
        }
        let status = run.child.wait().unwrap();
        let stderr = run.stderr.join().unwrap();
        drop(open);
        if stderr.contains("resuming from checkpoint") {
            seq.resumes += 1;
        }
        if killed {
            seq.kills += 1;
            continue;
        }
        assert!(status.success(), "run {} failed: {stderr}", seq.runs);
        break;
    }
    let what = format!("three open connections: {seq:?}");
    assert!(seq.kills >= 1, "{what}: never killed");
    assert!(seq.resumes >= 1, "{what}: never resumed from a checkpoint");
    let after = accounted(&dir.0.join("out.jsonl"), &dir.0.join("out.dead.jsonl"));
    assert!(balanced(&after), "{what}: {after:?} for {input:?}");
    eprintln!("{what}: {after:?}, every record once");
}

/// The socket job at two processes (worker 0, in process 0, reads the connections and
/// journals them): a client sends 300 000 lines and closes; once the journal holds every
/// byte, either process is SIGKILLed at seeded moments and both are restarted until they
/// finish; every second run is one process. The files of all runs together are those of
/// an uninterrupted one-process run.
#[test]
fn a_socket_job_at_two_processes_killed_and_resumed_writes_the_files_of_an_uninterrupted_run() {
    use std::io::BufRead;
    let dir = TempDir::new("socket-cluster");
    let input = dir.0.join("input.jsonl");
    generate_records(&input, SOCKET_RECORDS);
    let total = std::fs::metadata(&input).unwrap().len();
    let mut reference = start_listening(&socket_job(&dir.0, false));
    send_input(&reference.addr, &input);
    let status = reference.child.wait().unwrap();
    let stderr = reference.stderr.join().unwrap();
    assert!(status.success(), "{stderr}");
    let expected = (sorted_lines(&dir.0.join("ref.jsonl")), sorted_lines_any_peer(&dir.0.join("ref.dead.jsonl")));

    let args = socket_job(&dir.0, true);
    let journal = dir.0.join("checkpoints/journal/input/conn-0000000000.log");
    let checkpoints = dir.0.join("checkpoints");
    let mut rng = Rng(0x50C72 | 1);
    let mut seq = Sequence::default();
    loop {
        let placement = if seq.runs % 2 == 0 { Placement::Processes(1) } else { Placement::Single(1) };
        let before = newest_checkpoint(&checkpoints);
        let mut children = start_placed(&args, placement, &dir.0);
        seq.runs += 1;
        // Process 0's standard error says where it listens; read on a thread to the end.
        let pipe = children[0].stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let said = std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("highwater run: listening on ") {
                    let _ = tx.send(addr.to_string());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the job says where it listens");
        if seq.runs == 1 {
            send_input(&addr, &input);
            let deadline = Instant::now() + Duration::from_secs(60);
            while std::fs::metadata(&journal).map_or(0, |m| m.len()) < total {
                assert!(Instant::now() < deadline, "the journal never held the whole input");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let mut killed = false;
        if seq.kills < moments() {
            let started = Instant::now();
            let deadline = started + Duration::from_secs(60);
            let running = |c: &mut Vec<std::process::Child>| c.iter_mut().all(|c| c.try_wait().unwrap().is_none());
            while newest_checkpoint(&checkpoints) <= before && running(&mut children) {
                assert!(Instant::now() < deadline, "no checkpoint is ever written");
                std::thread::sleep(Duration::from_millis(5));
            }
            let delay = started.elapsed().mul_f64(rng.next(900) as f64 / 1_000.0);
            let started = Instant::now();
            while started.elapsed() < delay && running(&mut children) {
                std::thread::sleep(Duration::from_millis(5));
            }
            let victim = rng.next(children.len() as u64) as usize;
            killed = running(&mut children) && children[victim].kill().is_ok();
        }
        let (ok, rest) = wait_placed(children);
        let stderr = said.join().unwrap() + &rest;
        if stderr.contains("resuming from checkpoint") {
            seq.resumes += 1;
        }
        if killed {
            seq.kills += 1;
            continue;
        }
        assert!(ok.iter().all(|ok| *ok), "run {} at {placement:?} failed: {stderr}", seq.runs);
        break;
    }
    let what = format!("socket job at two processes: {seq:?}");
    assert!(seq.kills >= 1, "{what}: never killed");
    assert!(seq.resumes >= 1, "{what}: never resumed from a checkpoint");
    assert!(sorted_outputs(&dir.0, "out.jsonl") == expected.0, "{what}: the panes differ");
    let dead = dir.0.join("all.dead.jsonl");
    std::fs::write(&dead, sorted_outputs(&dir.0, "out.dead.jsonl")).unwrap();
    assert!(sorted_lines_any_peer(&dead) == expected.1, "{what}: the dead letters differ");
    eprintln!("{what}: the same files");
}
