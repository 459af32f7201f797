//! The DSL's typed file source over CSV: a large file is split into byte ranges read in
//! parallel; the records and the dead letters (with their absolute line numbers) are the
//! same whether the file is one partition or many, at 1 or 2 workers, whatever the bad
//! lines are — wrong field counts, bad numbers, invalid UTF-8, quotes, blank lines, CRLF, a
//! line longer than `MAX_LINE`.

use highwater::pipeline::{run, Collector, Files, RunConfig, MAX_LINE};
use highwater_operators::watermark::WatermarkStrategy;
use highwater_tests::temp_dir;
use std::io::Write;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
struct Row {
    auction: u64,
    name: String,
    price: u64,
    t: i64,
}

/// Writes the file; returns the good rows and the line numbers of the bad lines.
fn write_file(path: &std::path::Path) -> (Vec<Row>, Vec<u64>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut good = Vec::new();
    let mut bad = Vec::new();
    writeln!(f, "auction,name,price,t").unwrap();
    let mut line = 1u64;
    for i in 0..40_000u64 {
        line += 1;
        let t = i as i64 * 10;
        match i % 997 {
            13 => {
                writeln!(f, "{i},x,notanumber,{t}").unwrap();
                bad.push(line);
            }
            101 => {
                writeln!(f, "{i},x,{t}").unwrap();
                bad.push(line);
            }
            202 => {
                let mut l = format!("{i},").into_bytes();
                l.extend_from_slice(&[0xff, 0xfe]);
                l.extend_from_slice(format!(",1,{t}\n").as_bytes());
                f.write_all(&l).unwrap();
                bad.push(line);
            }
            303 => {
                writeln!(f, "{i},\"quoted, with a comma\",7,{t}").unwrap();
                good.push(Row { auction: i, name: "quoted, with a comma".into(), price: 7, t });
            }
            404 => {
                // A blank line, then a record.
                writeln!(f).unwrap();
                line += 1;
                writeln!(f, "{i},after-blank,8,{t}").unwrap();
                good.push(Row { auction: i, name: "after-blank".into(), price: 8, t });
            }
            505 => {
                write!(f, "{i},crlf,9,{t}\r\n").unwrap();
                good.push(Row { auction: i, name: "crlf".into(), price: 9, t });
            }
            _ => {
                writeln!(f, "{i},n{},{},{t}", i % 7, i * 3).unwrap();
                good.push(Row { auction: i, name: format!("n{}", i % 7), price: i * 3, t });
            }
        }
        if i == 20_000 {
            // A line longer than MAX_LINE in the middle of the file.
            line += 1;
            writeln!(f, "{}", "z".repeat(MAX_LINE + 10)).unwrap();
            bad.push(line);
        }
    }
    f.flush().unwrap();
    drop(f);
    (good, bad)
}

/// The records and the dead-letter locations (`path:line (byte b)`) and reasons.
fn read(path: &str, workers: usize, partition_bytes: u64) -> (Vec<Row>, Vec<(String, String)>) {
    let rows = Collector::new();
    let dead = Collector::new();
    let (r, d, path) = (rows.clone(), dead.clone(), path.to_string());
    let summary = run(RunConfig::workers(workers), move |p| {
        let src = Files::<Row>::csv([path.clone()])
            .event_time(|r: &Row| r.t)
            .watermark(WatermarkStrategy::bounded(Duration::from_secs(1)))
            .partition_bytes(partition_bytes);
        p.read("rows", src)?.write(r.clone());
        p.dead_letters().write(d.clone());
        Ok(())
    })
    .expect("runs");
    let mut rows: Vec<Row> = rows.take().into_iter().map(|(_, r)| r).collect();
    rows.sort();
    let mut dead: Vec<(String, String)> =
        dead.take().into_iter().map(|(_, d)| (d.location.to_string(), d.reason)).collect();
    dead.sort();
    assert_eq!(summary.dead_letters, dead.len() as u64);
    (rows, dead)
}

#[test]
fn byte_ranges_read_what_one_partition_reads_at_one_and_two_workers() {
    let dir = temp_dir("files");
    let path = dir.join("rows.csv");
    let (good, bad_lines) = write_file(&path);
    let p = path.display().to_string();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size > 20 * (1 << 16), "the file spans many 64 KiB ranges ({size} bytes)");

    let (rows, dead) = read(&p, 1, u64::MAX);
    let mut expected = good.clone();
    expected.sort();
    assert_eq!(rows, expected, "one partition: every good line, quoted, after a blank line and CRLF ones included");
    let mut lines: Vec<u64> = dead
        .iter()
        .map(|(loc, _)| loc.rsplit(':').next().unwrap().split(' ').next().unwrap().parse().unwrap())
        .collect();
    lines.sort();
    let mut want = bad_lines.clone();
    want.sort();
    assert_eq!(lines, want, "one dead letter per bad line, at its line number: {dead:?}");
    assert!(dead.iter().any(|(_, r)| r.contains("longer than")), "the over-long line");
    assert!(dead.iter().any(|(_, r)| r.contains("notanumber") || r.contains("invalid digit")), "{dead:?}");

    for workers in [1, 2] {
        let (r, d) = read(&p, workers, 1 << 16);
        assert_eq!(r, rows, "64 KiB ranges at {workers} worker(s): the same records");
        assert_eq!(d, dead, "64 KiB ranges at {workers} worker(s): the same dead letters, same lines and bytes");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
