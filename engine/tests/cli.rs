//! `highwater run` as a process: exit statuses, signals, standard input, file limits and
//! outputs that fail — the faults that only show at the level of a process.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn highwater() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_highwater"))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("highwater-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write_bids(path: &Path, n: u64, start: i64) {
    let mut s = String::from("auction,price,date_time_ms\n");
    for i in 0..n {
        s.push_str(&format!("{},{},{}\n", i % 5, i % 100, start + i as i64 * 10));
    }
    std::fs::write(path, s).unwrap();
}

/// Runs the binary with `args` (through `sh -c` when `shell_prefix` is given, e.g. a
/// ulimit) and returns (status code, stdout, stderr).
fn run(args: &[&str], shell_prefix: Option<&str>, stdin: Option<&[u8]>) -> (Option<i32>, String, String) {
    let mut cmd = match shell_prefix {
        Some(prefix) => {
            let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
            let mut c = Command::new("sh");
            c.arg("-c").arg(format!("{prefix}; exec '{}' {}", highwater().display(), quoted.join(" ")));
            c
        }
        None => {
            let mut c = Command::new(highwater());
            c.args(args);
            c
        }
    };
    let mut child = cmd
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn highwater");
    if let Some(bytes) = stdin {
        let mut i = child.stdin.take().unwrap();
        i.write_all(bytes).unwrap();
    }
    let out = child.wait_with_output().expect("wait");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Past the open-file limit each further file used to become one dead letter and be
/// skipped, with exit 0 (483 of 1500 files lost at `ulimit -n 1024`).
#[test]
fn more_files_than_the_open_file_limit_are_all_read() {
    let dir = temp_dir("ulimit");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..400 {
        write_bids(&data.join(format!("part-{i:04}.csv")), 10, i * 1000);
    }
    let data_s = data.display().to_string();
    for workers in ["1", "2"] {
        let (code, out, err) = run(
            &[
                "run",
                "--input",
                &data_s,
                "--time-field",
                "date_time_ms",
                "--count",
                "--window",
                "global",
                "--workers",
                workers,
            ],
            Some("ulimit -n 200"),
            None,
        );
        assert_eq!(code, Some(0), "{err}");
        assert!(err.contains("4000 records read from 400 file(s)") && err.contains("0 malformed"), "{err}");
        let total: u64 = out
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]["count"].as_u64().unwrap())
            .sum();
        assert_eq!(total, 4000, "{workers} workers");
    }
}

/// `--input -` used to be refused (only `/dev/stdin` worked).
#[test]
fn standard_input_is_read_with_a_dash() {
    let mut input = String::from("auction,price,date_time_ms\n");
    for i in 0..100 {
        input.push_str(&format!("{},{},{}\n", i % 3, i, i * 100));
    }
    let (code, out, err) = run(
        &[
            "run",
            "--input",
            "-",
            "--format",
            "csv",
            "--time-field",
            "date_time_ms",
            "--key-field",
            "auction",
            "--count",
            "--window",
            "global",
        ],
        None,
        Some(input.as_bytes()),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(err.contains("100 records read"), "{err}");
    // Without --format there is no file name to tell it from.
    let (code, _, err) = run(&["run", "--input", "-", "--time-field", "t"], None, Some(b""));
    assert_eq!(code, Some(2));
    assert!(err.contains("--format"), "{err}");
}

/// A write error used to be reported only at the end (or never, for a live job): the run
/// now fails at the first one, naming the destination, with a non-zero status.
#[test]
fn a_full_disk_fails_the_job_naming_the_output() {
    let dir = temp_dir("full");
    let csv = dir.join("bids.csv");
    write_bids(&csv, 200_000, 0);
    let csv_s = csv.display().to_string();
    let started = Instant::now();
    let (code, _, err) = run(
        &[
            "run",
            "--input",
            &csv_s,
            "--time-field",
            "date_time_ms",
            "--key-field",
            "auction",
            "--count",
            "--window",
            "fixed(10ms)",
            "--output",
            "/dev/full",
        ],
        None,
        None,
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("/dev/full") && err.contains("incomplete"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Reads what a child wrote on standard error until `needle` and the end of its line
/// appear.
fn wait_for(stderr: &mut impl Read, needle: &str) -> String {
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(30);
    let complete = |seen: &str| seen.split_once(needle).is_some_and(|(_, rest)| rest.contains('\n'));
    while !complete(&seen) && Instant::now() < deadline {
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    seen
}

/// SIGTERM used to lose every open window and the summary. Now: no more input is read,
/// the open windows are flushed, the summary is printed, and the status says it was
/// stopped (128 + 15).
#[test]
fn sigterm_flushes_the_open_windows_and_prints_the_summary() {
    let dir = temp_dir("sigterm");
    let out = dir.join("panes.jsonl");
    let out_s = out.display().to_string();
    let (mut child, addr, mut stderr) = listen(&[
        "--format",
        "csv",
        "--time-field",
        "t",
        "--key-field",
        "k",
        "--count",
        "--window",
        "fixed(1h)",
        "--output",
        &out_s,
    ]);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"k,t\na,1000\na,2000\nb,3000\n").unwrap();
    s.flush().unwrap();
    // The records are in an open window (1 h): wait until they are read.
    std::thread::sleep(Duration::from_millis(800));
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    drop(s);
    assert_eq!(status.code(), Some(128 + 15), "{rest}");
    assert!(rest.contains("3 records read from 1 connection(s), 2 panes emitted"), "{rest}");
    let panes = std::fs::read_to_string(&out).unwrap();
    assert_eq!(panes.lines().count(), 2, "the open windows were flushed: {panes}");
}

/// Starts `highwater run --listen 127.0.0.1:0` with `flags`; returns the child, its address
/// and its standard error so far.
fn listen(flags: &[&str]) -> (std::process::Child, String, std::process::ChildStderr) {
    let mut args = vec!["run", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(flags);
    let mut child =
        Command::new(highwater()).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let seen = wait_for(&mut stderr, "listening on ");
    let addr =
        seen.split("listening on ").nth(1).and_then(|r| r.lines().next()).expect("an address").trim().to_string();
    (child, addr, stderr)
}

/// Each connection used to cost a thread and a queue with no limit: over `--max-clients`, a
/// client is told so and disconnected, and the job goes on with the others.
#[test]
fn a_client_over_the_connection_limit_is_refused_with_a_message() {
    let (mut child, addr, mut stderr) =
        listen(&["--format", "csv", "--time-field", "t", "--count", "--max-clients", "1", "--max-connections", "2"]);
    let mut first = TcpStream::connect(&addr).unwrap();
    first.write_all(b"t\n1000\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut second = TcpStream::connect(&addr).unwrap();
    second.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut told = String::new();
    let _ = second.read_to_string(&mut told);
    assert!(told.contains("too many clients"), "{told:?}");
    drop(first);
    // Once the first has gone, a new client is served (the refused one did not count).
    std::thread::sleep(Duration::from_millis(300));
    let mut third = TcpStream::connect(&addr).unwrap();
    third.write_all(b"t\n2000\n").unwrap();
    drop(third);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    assert!(status.success(), "{rest}");
    assert!(rest.contains("refused a connection") && rest.contains("--max-clients"), "{rest}");
    assert!(rest.contains("2 records read from 2 connection(s)"), "{rest}");
}

/// A CSV connection without its header used to take its first data line as the header,
/// silently; and invalid UTF-8 on a CSV socket was reported as a missing field.
#[test]
fn a_csv_connection_without_its_header_and_invalid_utf8_are_explained() {
    let dir = temp_dir("csv-header");
    let dead = dir.join("dead.jsonl");
    let dead_s = dead.display().to_string();
    let (mut child, addr, mut stderr) = listen(&[
        "--format",
        "csv",
        "--time-field",
        "t",
        "--key-field",
        "k",
        "--count",
        "--max-connections",
        "2",
        "--dead-letters",
        &dead_s,
    ]);
    // No header: the first line cannot be one.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"a,1000\nb,2000\n").unwrap();
    drop(s);
    // A header, then a line that is not UTF-8.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"k,t\n\xff\xfe,3000\nc,4000\n").unwrap();
    drop(s);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    assert!(status.success(), "{rest}");
    let letters: Vec<serde_json::Value> =
        std::fs::read_to_string(&dead).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let reasons: Vec<&str> = letters.iter().map(|l| l["reason"].as_str().unwrap()).collect();
    assert!(reasons.iter().any(|r| r.contains("read as its CSV header") && r.contains("--csv-header")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("invalid UTF-8")), "{reasons:?}");
    assert!(rest.contains("1 records read from 2 connection(s)"), "{rest}");
}

/// A byte-order mark at the start of a JSON-lines file made its first record a dead letter.
#[test]
fn a_byte_order_mark_at_the_start_of_a_json_lines_file_is_skipped() {
    let dir = temp_dir("bom");
    let path = dir.join("events.jsonl");
    std::fs::write(&path, b"\xEF\xBB\xBF{\"k\":\"a\",\"t\":1}\n{\"k\":\"b\",\"t\":2}\n").unwrap();
    let path_s = path.display().to_string();
    let (code, out, err) =
        run(&["run", "--input", &path_s, "--time-field", "t", "--key-field", "k", "--count"], None, None);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("2 records read") && err.contains("0 malformed"), "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
}

/// `--idle-timeout` with files was silently ignored.
#[test]
fn a_socket_only_flag_with_files_is_refused() {
    let dir = temp_dir("idle");
    let csv = dir.join("bids.csv");
    write_bids(&csv, 10, 0);
    let csv_s = csv.display().to_string();
    let (code, _, err) =
        run(&["run", "--input", &csv_s, "--time-field", "date_time_ms", "--idle-timeout", "5s"], None, None);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--idle-timeout") && err.contains("socket"), "{err}");
}

/// A socket job writing to a full disk used to keep accepting data silently forever: the
/// first failed write now ends the job (the connection still open), naming the output.
#[test]
fn a_socket_job_on_a_full_disk_fails_at_the_first_write() {
    let (mut child, addr, mut stderr) =
        listen(&["--format", "csv", "--time-field", "t", "--count", "--window", "fixed(1s)", "--output", "/dev/full"]);
    let mut s = TcpStream::connect(&addr).unwrap();
    // A pane is due once the watermark line passes its window.
    s.write_all(b"t\n100\n200\n{\"watermark\": 5000}\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the job kept running after a failed write");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    drop(s);
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(rest.contains("/dev/full"), "{rest}");
}

/// A wrong `--time-field` (or `--time-unit`) on JSON lines made every line malformed and
/// the job exit 0 with no panes: it exits 1 naming the flags to check.
#[test]
fn a_wrong_time_field_on_json_lines_exits_1_naming_the_flag() {
    let dir = temp_dir("misfit");
    let input = dir.join("events.jsonl");
    std::fs::write(&input, "{\"ts\": 1000, \"user\": \"a\"}\n{\"ts\": 2000, \"user\": \"b\"}\n").unwrap();
    let input = input.to_str().unwrap();
    for flags in [["--time-field", "time", "--time-unit", "ms"], ["--time-field", "ts", "--time-unit", "rfc3339"]] {
        let mut argv = vec!["run", "--input", input, "--key-field", "user", "--no-progress"];
        argv.extend(flags);
        let (status, out, err) = run(&argv, None, None);
        assert_eq!(status, Some(1), "{flags:?}: {err}");
        assert!(out.is_empty(), "{out}");
        assert!(
            err.contains("all 2 lines were malformed") && err.contains("--time-field") && err.contains("--time-unit"),
            "{err}"
        );
    }
}

/// `--log-level` and `--log-format`: a level that is not one is a usage error naming the
/// levels; at `debug` in JSON each checkpoint written is one object with its fields, and
/// the rerun's "resuming" is an `info` object; at `warn` neither is shown, and the
/// summary (the command's report, not a log) still is.
#[test]
fn log_levels_and_json_logs() {
    let dir = temp_dir("logs");
    let input = dir.join("bids.csv");
    write_bids(&input, 2_000, 0);
    let checkpoints = dir.join("checkpoints");
    let job = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--input",
            input.to_str().unwrap(),
            "--time-field",
            "date_time_ms",
            "--key-field",
            "auction",
            "--count",
            "--window",
            "fixed(1s)",
            "--checkpoint-dir",
            checkpoints.to_str().unwrap(),
            "--checkpoint-interval",
            "1ms",
        ];
        args.extend_from_slice(extra);
        run(&args, None, None)
    };
    let (code, _, stderr) = job(&["--log-level", "loud"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("`loud` is not a level") && stderr.contains("error, warn, info, debug, trace or off"),
        "{stderr}"
    );

    let (code, _, stderr) = job(&["--log-level", "debug", "--log-format", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let events: Vec<serde_json::Value> =
        stderr.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect(l)).collect();
    let written: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["level"] == "DEBUG" && e.get("checkpoint").is_some()).collect();
    assert!(!written.is_empty(), "no checkpoint event: {stderr}");
    assert!(written.iter().all(|e| e["bytes"].as_u64().unwrap_or(0) > 0 && e["cut_watermark_ms"].is_i64()), "{stderr}");
    assert!(stderr.contains("highwater run: 2000 records read"), "{stderr}");

    let (code, _, stderr) = job(&["--log-format", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let resumed = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect(l))
        .find(|e| e["message"].as_str().is_some_and(|m| m.starts_with("resuming from checkpoint")))
        .unwrap_or_else(|| panic!("no resuming event: {stderr}"));
    assert_eq!(resumed["level"], "INFO");
    assert!(resumed["checkpoint"].as_u64().is_some(), "{resumed}");

    let (code, _, stderr) = job(&["--log-level", "warn"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("resuming") && !stderr.contains("\"level\""), "{stderr}");
    assert!(stderr.contains("highwater run: "), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--diagram FILE.svg` draws the busiest keys of a replay (or the ones asked for): each
/// kept element a point, each of their panes a bar, both watermark lines; a path that
/// cannot be written fails the run naming it (the outputs are written all the same).
#[test]
fn run_draws_a_pane_diagram_of_its_busiest_keys() {
    let dir = temp_dir("diagram");
    let input = dir.join("bids.csv");
    // Key 7 has 30 bids, keys 1..=4 have 5 each, key 9 one; every 4th bid of key 7 is
    // 2.5 s behind, some of them late.
    let mut csv = String::from("auction,price,date_time_ms\n");
    let mut t = 0i64;
    for i in 0..30 {
        t += 300;
        csv.push_str(&format!("7,{i},{}\n", if i % 4 == 3 { t - 2_500 } else { t }));
        if i < 20 {
            csv.push_str(&format!("{},1,{t}\n", 1 + i % 4));
        }
    }
    csv.push_str(&format!("9,1,{t}\n"));
    std::fs::write(&input, csv).unwrap();
    let svg_path = dir.join("panes.svg");
    let args = |svg: &Path, extra: &[&str]| {
        let mut a: Vec<String> = [
            "run",
            "--input",
            input.to_str().unwrap(),
            "--time-field",
            "date_time_ms",
            "--key-field",
            "auction",
            "--count",
            "--window",
            "fixed(2s)",
            "--trigger",
            "after_watermark(early=after_count(2), late=after_count(1))",
            "--allowed-lateness",
            "1s",
            "--max-out-of-orderness",
            "0",
            "--batch-size",
            "4",
            "--diagram",
            svg.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let a = args(&svg_path, &[]);
    let (code, stdout, stderr) = run(&a.iter().map(String::as_str).collect::<Vec<_>>(), None, None);
    assert_eq!(code, Some(0), "{stderr}");
    let svg = std::fs::read_to_string(&svg_path).expect("the diagram");
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    // The busiest three: 7, then the first two of the keys with 5 bids (1 and 2, read first).
    assert!(
        svg.contains("keys 7 (30 elements), 1 (5 elements), 2 (5 elements) (the busiest of 6 keys traced)"),
        "{svg}"
    );
    let count = |needle: &str| svg.matches(needle).count();
    assert_eq!(count("<title>key 7, t="), 30);
    assert_eq!(count("<title>key 1, t="), 5);
    assert_eq!(count("<title>key 3, t="), 0);
    // Every pane of the drawn keys is a bar, with its JSON as the tooltip.
    let panes: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let of = |k: i64| panes.iter().filter(|p| p["key"] == k).count();
    assert!(of(7) > 10, "{stdout}");
    assert_eq!(count("{&quot;key&quot;:7,"), of(7), "{svg}");
    assert_eq!(count("{&quot;key&quot;:2,"), of(2), "{svg}");
    assert!(count("&quot;timing&quot;:&quot;late&quot;") >= 1, "a late pane of key 7: {svg}");
    assert!(svg.contains("<title>input watermark</title>") && svg.contains("<title>output watermark</title>"));
    assert!(svg.contains("input watermark at read"), "a replay's rows are its stamps");

    // A key asked for.
    let (code, _, stderr) =
        run(&args(&svg_path, &["--diagram-key", "9"]).iter().map(String::as_str).collect::<Vec<_>>(), None, None);
    assert_eq!(code, Some(0), "{stderr}");
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert_eq!(svg.matches("<title>key 9, t=").count(), 1);
    assert_eq!(svg.matches("<title>key 7, t=").count(), 0);

    // A path that cannot be written: exit 1, named; the panes were written all the same.
    let bad = dir.join("no-such-dir").join("panes.svg");
    let (code, stdout, stderr) = run(&args(&bad, &[]).iter().map(String::as_str).collect::<Vec<_>>(), None, None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--diagram: cannot write") && stderr.contains("no-such-dir"), "{stderr}");
    assert!(stdout.lines().count() > 10);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A refused strategy is said once: the error chain printed as `error: cause` used to
/// repeat the trigger's message after the strategy's (which already holds it).
#[test]
fn a_refused_trigger_is_explained_once() {
    let dir = temp_dir("trigger");
    let input = dir.join("bids.csv");
    write_bids(&input, 10, 0);
    let (code, _, stderr) = run(
        &[
            "run",
            "--input",
            input.to_str().unwrap(),
            "--time-field",
            "date_time_ms",
            "--count",
            "--window",
            "fixed(10s)",
            "--trigger",
            "after_watermark(early=repeatedly(after_count(3)))",
        ],
        None,
        None,
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.matches("an early firing must be a trigger that fires once").count(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
