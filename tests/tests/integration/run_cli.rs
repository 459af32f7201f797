//! `highwater run` as a library function on small temp files: counts against a naive
//! batch group-by-window, dead letters line by line, gzip, and agreement across worker
//! counts.

use clap::Parser;
use highwater::cli::run::{run, RunArgs, Summary};
use highwater_operators::window::WindowSpec;
use highwater_tests::{group_by_window, temp_dir, Bid, Bids};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

fn args(input: &[&Path], extra: &[&str], out: &Path) -> RunArgs {
    let mut argv: Vec<String> = vec!["run".into(), "--input".into()];
    argv.extend(input.iter().map(|p| p.display().to_string()));
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv.push("--output".into());
    argv.push(out.display().to_string());
    RunArgs::try_parse_from(argv).expect("valid flags")
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("output written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// A deterministic bid stream of `n` bids: one about every 20 ms from 1 000 000 ms, out of
/// order by at most `disorder` ms.
fn bids(n: usize, seed: u64, disorder: i64) -> Vec<(i64, Bid)> {
    Bids { seed, per_partition: n, start: 1_000_000, period: 20, disorder, ..Bids::default() }.all()
}

fn write_csv(path: &Path, rows: &[(i64, Bid)]) {
    let mut s = String::from("auction,price,date_time_ms\n");
    for (t, b) in rows {
        s.push_str(&format!("{},{},{t}\n", b.auction, b.price));
    }
    std::fs::write(path, s).expect("write csv");
}

#[test]
fn fixed_window_counts_match_a_naive_batch_group_by() {
    let dir = temp_dir("run-cli-naive");
    let rows = bids(5_000, 7, 1_500);
    let input = dir.join("bids.csv");
    write_csv(&input, &rows);
    let out = dir.join("panes.jsonl");
    let flags = [
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
        "fixed(10s)",
        "--max-out-of-orderness",
        "2s",
        "--batch-size",
        "100",
    ];
    let summary = run(&args(&[&input], &flags, &out)).expect("run");
    assert_eq!(
        summary,
        Summary {
            files: 1,
            kafka_partitions: 0,
            connections: 0,
            records_read: 5_000,
            panes_emitted: summary.panes_emitted,
            late_dropped: 0,
            malformed: 0,
            checkpoints: 0,
            checkpoint_bytes: 0,
            sources: summary.sources.clone(),
        }
    );
    assert_eq!(summary.sources.len(), 1);
    assert_eq!((summary.sources[0].records, summary.sources[0].partitions_done), (5_000, 1));

    // The batch answer: count, sum and max of the price per auction and window start.
    let naive: BTreeMap<(String, i64), (u64, i64, i64)> = group_by_window(
        &WindowSpec::fixed(10_000),
        rows.iter().map(|(t, b)| (b.auction.to_string(), *t, b.price as i64)),
    )
    .into_iter()
    .map(|((k, w), ps)| ((k, w.start), (ps.len() as u64, ps.iter().sum(), *ps.iter().max().unwrap())))
    .collect();
    let mut got: BTreeMap<(String, i64), (u64, i64, i64)> = BTreeMap::new();
    for pane in json_lines(&out) {
        assert_eq!(pane["pane"]["timing"], "on_time", "{pane}");
        let start = pane["window"]["start"].as_i64().unwrap();
        assert_eq!(pane["window"]["end"].as_i64().unwrap(), start + 10_000);
        assert_eq!(pane["timestamp"].as_i64().unwrap(), start + 9_999);
        let key = pane["key"].to_string(); // a number: the auction ids are integers
        assert!(pane["key"].is_u64(), "{pane}");
        let v = (
            pane["value"]["count"].as_u64().unwrap(),
            pane["value"]["sum_price"].as_i64().unwrap(),
            pane["value"]["max_price"].as_i64().unwrap(),
        );
        assert!(got.insert((key, start), v).is_none(), "one pane per key and window");
    }
    assert_eq!(got, naive);
    assert_eq!(summary.panes_emitted as usize, naive.len());
}

#[test]
fn malformed_lines_land_in_the_dead_letters_line_by_line() {
    let dir = temp_dir("run-cli-malformed");
    let csv = dir.join("a.csv");
    let mut bytes = b"auction,price,date_time_ms\n1,10,1000\n2,20\n3,30,soon\n4,cheap,1200\n".to_vec();
    bytes.extend_from_slice(b"5,\xff\xfe,1300\n6,60,1400\n");
    std::fs::write(&csv, &bytes).unwrap();
    let jsonl = dir.join("b.jsonl");
    std::fs::write(
        &jsonl,
        "{\"auction\":\"7\",\"price\":70,\"date_time_ms\":1500}\n{not json\n[1,2]\n\n{\"auction\":\"8\",\"date_time_ms\":1600}\n{\"auction\":\"9\",\"price\":90,\"date_time_ms\":1700}\n",
    )
    .unwrap();
    let out = dir.join("panes.jsonl");
    let dead = dir.join("dead.jsonl");
    let dead_s = dead.display().to_string();
    let flags = [
        "--time-field",
        "date_time_ms",
        "--key-field",
        "auction",
        "--sum",
        "price",
        "--window",
        "fixed(10s)",
        "--dead-letters",
        &dead_s,
    ];
    let summary = run(&args(&[&csv, &jsonl], &flags, &out)).expect("bad lines do not stop the job");
    assert_eq!((summary.records_read, summary.malformed), (4, 7));

    let mut letters = json_lines(&dead);
    letters.sort_by_key(|l| (l["location"]["file"].as_str().unwrap().to_string(), l["location"]["line"].as_u64()));
    let csv_name = csv.display().to_string();
    let jsonl_name = jsonl.display().to_string();
    let expected: [(&str, u64, u64, &str); 7] = [
        (&csv_name, 3, 37, "expected 3 fields"),
        (&csv_name, 4, 42, "bad time field `date_time_ms`"),
        (&csv_name, 5, 52, "field `price` is not a number"),
        (&csv_name, 6, 65, "invalid UTF-8"),
        (&jsonl_name, 2, 47, "malformed JSON"),
        (&jsonl_name, 3, 57, "not a JSON object"),
        (&jsonl_name, 5, 64, "missing field `price`"),
    ];
    assert_eq!(letters.len(), expected.len(), "{letters:?}");
    for (l, (file, line, offset, reason)) in letters.iter().zip(expected) {
        assert_eq!(l["kind"], "malformed");
        assert_eq!(l["location"]["file"], file, "{l}");
        assert_eq!(l["location"]["line"], line, "{l}");
        assert_eq!(l["location"]["byte_offset"], offset, "{l}");
        assert!(l["reason"].as_str().unwrap().contains(reason), "{l} should say {reason}");
    }
    assert_eq!(letters[0]["line"], "2,20");
    let mut keys: Vec<String> =
        json_lines(&out).iter().map(|p| format!("{}={}", p["key"], p["value"]["sum_price"])).collect();
    keys.sort();
    assert_eq!(keys, ["1=10", "6=60", "7=70", "9=90"]);
}

#[test]
fn gzip_input_reads_like_plain_input() {
    let dir = temp_dir("run-cli-gzip");
    let rows = bids(2_000, 11, 500);
    let plain = dir.join("bids.csv");
    write_csv(&plain, &rows);
    let gz = dir.join("bids.csv.gz");
    let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::default());
    enc.write_all(&std::fs::read(&plain).unwrap()).unwrap();
    enc.finish().unwrap();
    let flags = [
        "--time-field",
        "date_time_ms",
        "--key-field",
        "auction",
        "--count",
        "--mean",
        "price",
        "--window",
        "sliding(10s,5s)",
        "--batch-size",
        "64",
    ];
    let (out_a, out_b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    let a = run(&args(&[&plain], &flags, &out_a)).unwrap();
    let b = run(&args(&[&gz], &flags, &out_b)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.records_read, 2_000);
    assert_eq!(std::fs::read_to_string(out_a).unwrap(), std::fs::read_to_string(out_b).unwrap());
}

/// A corrupt gzip file used to be "+1 malformed" and exit 0: it is a failure of the job
/// now, naming the file, before any record of any file is read.
#[test]
fn a_corrupt_gzip_file_fails_the_job_naming_it() {
    let dir = temp_dir("run-cli-corrupt");
    let good = dir.join("good.csv");
    write_csv(&good, &bids(100, 3, 0));
    let bad = dir.join("bad.csv.gz");
    std::fs::write(&bad, b"\x1f\x8b\x08\x00garbage that is not deflate").unwrap();
    let out = dir.join("panes.jsonl");
    let flags = ["--time-field", "date_time_ms", "--count", "--window", "global"];
    let err = run(&args(&[&good, &bad], &flags, &out)).expect_err("a corrupt file fails the job").to_string();
    assert!(err.contains(&bad.display().to_string()) && err.contains("corrupt"), "{err}");
}

/// A gzip file cut short is found only when its end is read (gzip's length and checksum
/// come last): the records before the cut were read, and the job fails, naming the file.
#[test]
fn a_truncated_gzip_file_fails_the_job() {
    let dir = temp_dir("run-cli-truncated");
    let plain = dir.join("bids.csv");
    write_csv(&plain, &bids(20_000, 5, 0));
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&std::fs::read(&plain).unwrap()).unwrap();
    let bytes = enc.finish().unwrap();
    let gz = dir.join("cut.csv.gz");
    std::fs::write(&gz, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let flags = ["--time-field", "date_time_ms", "--count", "--window", "fixed(10s)"];
    let err = run(&args(&[&gz], &flags, &dir.join("out.jsonl"))).expect_err("a cut file fails the job").to_string();
    assert!(err.contains(&gz.display().to_string()), "{err}");
}

/// A header without the --time-field used to make every line a dead letter and exit 0.
#[test]
fn a_header_without_the_time_field_fails_the_job_naming_the_flag() {
    let dir = temp_dir("run-cli-header");
    let csv = dir.join("bids.csv");
    write_csv(&csv, &bids(10, 1, 0));
    let flags = ["--time-field", "ts", "--count"];
    let err = run(&args(&[&csv], &flags, &dir.join("out.jsonl"))).expect_err("no such column").to_string();
    assert!(err.contains("no column `ts`") && err.contains("--time-field"), "{err}");
    assert!(!dir.join("out.jsonl").exists() || std::fs::read_to_string(dir.join("out.jsonl")).unwrap().is_empty());
}

/// `--output` naming an input used to truncate it before it was read.
#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = temp_dir("run-cli-clobber");
    let csv = dir.join("bids.csv");
    write_csv(&csv, &bids(10, 1, 0));
    let before = std::fs::read(&csv).unwrap();
    let flags = ["--time-field", "date_time_ms"];
    let err = run(&args(&[&csv], &flags, &csv)).expect_err("refused").to_string();
    assert!(err.contains("--output") && err.contains("also an input"), "{err}");
    let dead = dir.join("same.jsonl");
    let dead_s = dead.display().to_string();
    let flags = ["--time-field", "date_time_ms", "--dead-letters", &dead_s];
    let err = run(&args(&[&csv], &flags, &dead)).expect_err("refused").to_string();
    assert!(err.contains("--dead-letters"), "{err}");
    assert_eq!(std::fs::read(&csv).unwrap(), before, "the input is intact");
}

/// Flags that cannot work are refused with a message, never a panic or an abort.
#[test]
fn out_of_range_flags_are_refused() {
    let dir = temp_dir("run-cli-flags");
    let csv = dir.join("bids.csv");
    write_csv(&csv, &bids(10, 1, 0));
    let out = dir.join("out.jsonl");
    for (flags, expect) in [
        (vec!["--batch-size", "18446744073709551615"], "--batch-size"),
        (vec!["--batch-size", "0"], "--batch-size"),
        (vec!["--workers", "100000"], "workers"),
        (vec!["--window", "sliding(1h, 1)"], "--window"),
        (vec!["--max-out-of-orderness=-1s"], "--max-out-of-orderness"),
        (vec!["--window", "fixed(0)"], "window"),
    ] {
        let mut all = vec!["--time-field", "date_time_ms"];
        all.extend(flags.iter().copied());
        let err = match RunArgs::try_parse_from(
            ["run", "--input", csv.to_str().unwrap(), "--output", out.to_str().unwrap()].into_iter().chain(all),
        ) {
            Err(e) => e.to_string(),
            Ok(a) => run(&a).expect_err("refused").to_string(),
        };
        assert!(err.contains(expect), "{flags:?}: {err}");
    }
    let err = "bounded(-1s)".parse::<highwater::model::watermark::WatermarkStrategy>().unwrap_err();
    assert!(err.contains("0 or more"), "{err}");
}

/// With a wrong --time-unit every line is malformed: the job fails saying which flags to
/// check instead of exiting 0 with nothing.
#[test]
fn a_wrong_time_unit_fails_the_job_instead_of_an_empty_success() {
    let dir = temp_dir("run-cli-unit");
    let csv = dir.join("bids.csv");
    write_csv(&csv, &bids(50, 1, 0));
    let flags = ["--time-field", "date_time_ms", "--time-unit", "rfc3339"];
    let err = run(&args(&[&csv], &flags, &dir.join("out.jsonl"))).expect_err("misfit").to_string();
    assert!(err.contains("--time-unit"), "{err}");
}

/// `--sum price --sum price` wrote the column twice.
#[test]
fn a_repeated_aggregate_is_written_once() {
    let dir = temp_dir("run-cli-repeat");
    let csv = dir.join("bids.csv");
    write_csv(&csv, &bids(50, 1, 0));
    let out = dir.join("out.jsonl");
    let flags = ["--time-field", "date_time_ms", "--sum", "price", "--sum", "price", "--window", "global"];
    run(&args(&[&csv], &flags, &out)).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.matches("sum_price").count(), 1, "{text}");
}

/// A stray README.txt in an input directory used to fail the whole job.
#[test]
fn a_stray_file_in_an_input_directory_is_skipped() {
    let dir = temp_dir("run-cli-stray");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_csv(&data.join("a.csv"), &bids(50, 1, 0));
    std::fs::write(data.join("README.txt"), "notes\n").unwrap();
    let flags = ["--time-field", "date_time_ms", "--count", "--window", "global"];
    let s = run(&args(&[&data], &flags, &dir.join("out.jsonl"))).unwrap();
    assert_eq!((s.files, s.records_read), (1, 50));
}

/// More files than the open-file limit allows at once: every file is read (they are
/// opened a bounded number at a time), identically at 1 and 2 workers.
#[test]
fn many_files_are_read_a_few_at_a_time() {
    let dir = temp_dir("run-cli-many");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for i in 0..300u64 {
        write_csv(&data.join(format!("part-{i:04}.csv")), &bids(20, i, 0));
    }
    for workers in ["1", "2"] {
        let flags = ["--time-field", "date_time_ms", "--count", "--window", "global", "--workers", workers];
        let s = run(&args(&[&data], &flags, &dir.join("out.jsonl"))).unwrap();
        assert_eq!((s.files, s.records_read, s.malformed), (300, 6_000, 0), "{workers} workers");
    }
}

#[test]
fn results_are_identical_at_one_and_two_workers() {
    let dir = temp_dir("run-cli-workers");
    // Four partitions, disordered beyond the bound so some records are late, some too late.
    for i in 0..4u64 {
        write_csv(&dir.join(format!("part-{i}.csv")), &bids(1_500, 100 + i, 6_000));
    }
    let pattern = format!("{}/part-*.csv", dir.display());
    let flags = [
        "--time-field",
        "date_time_ms",
        "--key-field",
        "auction",
        "--count",
        "--min",
        "price",
        "--window",
        "fixed(5s)",
        "--trigger",
        "after_watermark(late=after_count(1))",
        "--allowed-lateness",
        "2s",
        "--accumulation",
        "retracting",
        "--max-out-of-orderness",
        "1s",
        "--batch-size",
        "50",
    ];
    let mut outputs = Vec::new();
    let mut summaries = Vec::new();
    for workers in ["1", "2"] {
        let out = dir.join(format!("out-{workers}.jsonl"));
        let mut a = args(&[Path::new(&pattern)], &flags, &out);
        a.cluster.workers = workers.parse().unwrap();
        summaries.push(run(&a).unwrap());
        let mut lines: Vec<String> = std::fs::read_to_string(&out).unwrap().lines().map(String::from).collect();
        lines.sort();
        outputs.push(lines);
    }
    assert_eq!(summaries[0], summaries[1]);
    assert_eq!(summaries[0].files, 4);
    assert!(summaries[0].late_dropped > 0, "the data should drop some records: {:?}", summaries[0]);
    assert!(outputs[0].iter().any(|l| l.contains("\"timing\":\"late\"")), "and update some windows late");
    assert_eq!(outputs[0], outputs[1]);
}

#[test]
fn json_lines_with_rfc3339_times_and_a_composite_key() {
    let dir = temp_dir("run-cli-rfc3339");
    let input = dir.join("events.ndjson");
    std::fs::write(
        &input,
        "{\"user\":\"ann\",\"page\":\"home\",\"at\":\"2024-05-01T12:00:01Z\"}\n\
         {\"user\":\"ann\",\"page\":\"home\",\"at\":\"2024-05-01T12:00:02.500+00:00\"}\n\
         {\"user\":\"bob\",\"page\":\"home\",\"at\":\"2024-05-01T12:00:03Z\"}\n\
         {\"user\":\"ann\",\"page\":\"home\",\"at\":\"May 1st\"}\n",
    )
    .unwrap();
    let out = dir.join("panes.jsonl");
    let flags = [
        "--time-field",
        "at",
        "--time-unit",
        "rfc3339",
        "--key-field",
        "user",
        "--key-field",
        "page",
        "--window",
        "sessions(5s)",
    ];
    let summary = run(&args(&[&input], &flags, &out)).unwrap();
    assert_eq!((summary.records_read, summary.malformed), (3, 1));
    let mut panes: Vec<(String, i64, i64, u64)> = json_lines(&out)
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap().to_string(),
                p["window"]["start"].as_i64().unwrap(),
                p["window"]["end"].as_i64().unwrap(),
                p["value"]["count"].as_u64().unwrap(),
            )
        })
        .collect();
    panes.sort();
    let t0 = 1_714_564_801_000i64; // 2024-05-01T12:00:01Z
    assert_eq!(
        panes,
        vec![("ann|home".to_string(), t0, t0 + 1_500 + 5_000, 2), ("bob|home".to_string(), t0 + 2_000, t0 + 7_000, 1)]
    );
}

#[test]
fn a_missing_input_is_a_typed_error() {
    let dir = temp_dir("run-cli-missing");
    let out = dir.join("panes.jsonl");
    let err = run(&args(&[&dir.join("nope.csv")], &["--time-field", "t"], &out)).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let unknown = dir.join("data.txt");
    std::fs::write(&unknown, "t\n1\n").unwrap();
    let err = run(&args(&[&unknown], &["--time-field", "t"], &out)).unwrap_err();
    assert!(err.to_string().contains("--format"), "{err}");
}

/// `highwater run` and a pipeline's `JsonLines` wrote panes and dead letters in different
/// shapes (windows as `[start, end]` or `{"start", "end"}`, keys as text or typed, dead
/// letters flat or nested): over the same data they now write the same rows, field for
/// field, apart from the value (the CLI's is the object of its aggregates) and the
/// dropped record (the CLI's is its aggregated fields).
#[test]
fn the_cli_and_a_pipeline_write_the_same_pane_and_dead_letter_rows() {
    use highwater::pipeline::{run as run_pipeline, Files, JsonLines, RunConfig, Windowing};
    use highwater_operators::watermark::WatermarkStrategy;
    let dir = temp_dir("run-cli-same-rows");
    let csv = dir.join("bids.csv");
    // 5 is too late once 12000 moved the watermark past [0, 10000); the last line is malformed.
    std::fs::write(&csv, "auction,price,t\n7,1,1000\n7,2,12000\n7,3,5000\n8,4,yesterday\n").unwrap();
    let cli_out = dir.join("cli.jsonl");
    let cli_dead = dir.join("cli-dead.jsonl");
    let flags = [
        "--time-field",
        "t",
        "--key-field",
        "auction",
        "--count",
        "--window",
        "fixed(10s)",
        "--max-out-of-orderness",
        "0s",
        "--batch-size",
        "1",
        "--rfc3339",
        "--dead-letters",
        cli_dead.to_str().unwrap(),
    ];
    run(&args(&[&csv], &flags, &cli_out)).unwrap();

    #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    struct Row {
        auction: u64,
        price: u64,
        t: i64,
    }
    let (dsl_out, dsl_dead) = (dir.join("dsl.jsonl"), dir.join("dsl-dead.jsonl"));
    let (o, d, input) = (dsl_out.clone(), dsl_dead.clone(), csv.display().to_string());
    let rows = highwater::row::RowFormat::default().rfc3339();
    run_pipeline(RunConfig::workers(1), move |p| {
        p.dead_letters().write(JsonLines::file(&d).rows_with(rows));
        let source = Files::<Row>::csv([input.clone()])
            .event_time(|r: &Row| r.t)
            .watermark(WatermarkStrategy::BoundedOutOfOrderness(0))
            .batch_size(1);
        p.read("input", source)?
            .map_to_keyed(|r: Row| (r.auction, r.price))
            .window(Windowing::fixed(Duration::from_secs(10)))
            .count("run")?
            .write(JsonLines::file(&o).rows_with(rows));
        Ok(())
    })
    .unwrap();

    let sorted = |path: &Path| {
        let mut v = json_lines(path);
        v.sort_by_key(|r| r.to_string());
        v
    };
    let (cli, dsl) = (sorted(&cli_out), sorted(&dsl_out));
    assert_eq!(cli.len(), 2, "{cli:?}");
    for (mut c, mut d) in cli.into_iter().zip(dsl) {
        assert_eq!(c["value"]["count"], d["value"], "{c} / {d}");
        c["value"] = Value::Null;
        d["value"] = Value::Null;
        assert_eq!(c.to_string(), d.to_string(), "the same fields in the same order");
    }
    let (cli, dsl) = (sorted(&cli_dead), sorted(&dsl_dead));
    assert_eq!((cli.len(), dsl.len()), (2, 2), "{cli:?} / {dsl:?}");
    for (mut c, mut d) in cli.into_iter().zip(dsl) {
        let fields = |r: &Value| r.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(fields(&c), fields(&d), "{c} / {d}");
        for volatile in ["reason", "record"] {
            c.as_object_mut().unwrap().remove(volatile);
            d.as_object_mut().unwrap().remove(volatile);
        }
        assert_eq!(c, d);
    }
}
