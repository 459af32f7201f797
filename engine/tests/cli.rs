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
        let total: u64 =
            out.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["count"].as_u64().unwrap()).sum();
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

/// Reads what a child wrote on standard error until `needle` appears.
fn wait_for(stderr: &mut impl Read, needle: &str) -> String {
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.contains(needle) && Instant::now() < deadline {
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
    let mut child = Command::new(highwater())
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
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
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let seen = wait_for(&mut stderr, "listening on ");
    let addr =
        seen.split("listening on ").nth(1).and_then(|r| r.lines().next()).expect("an address").trim().to_string();
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
    assert_eq!(status.code(), Some(128 + 15), "{seen}{rest}");
    assert!(rest.contains("3 records read from 1 connection(s), 2 panes emitted"), "{rest}");
    let panes = std::fs::read_to_string(&out).unwrap();
    assert_eq!(panes.lines().count(), 2, "the open windows were flushed: {panes}");
}
