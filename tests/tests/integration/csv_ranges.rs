//! A large uncompressed CSV file is read as byte ranges, each a partition of its own: every
//! record must be read exactly once, whatever straddles the range boundaries — quoted
//! fields with newlines (`\n` and `\r\n`), `""` escapes, commas — at 1, 2 and 4 workers, as
//! an independent RFC 4180 reader (the `csv` crate) reads the file. And a file of random
//! quotes reads the same as ranges as in one partition.

use highwater::pipeline::{run, Collector, Files, RunConfig};
use highwater_operators::watermark::WatermarkStrategy;
use highwater_tests::{temp_dir, Rng};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
struct Row {
    id: u64,
    text: String,
    t: i64,
}

/// `n` bytes of a quoted field's text: letters, commas, spaces and `""` (never a lone `"`).
fn filler(rng: &mut Rng, n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        match rng.below(8) {
            0 if n - s.len() >= 2 => s.push_str("\"\""),
            1 => s.push(','),
            2 => s.push(' '),
            _ => s.push((b'a' + rng.below(26) as u8) as char),
        }
    }
    s
}

/// Writes a valid RFC 4180 file of about `size` bytes whose records straddle every multiple
/// of `split`: before each one, a record whose quoted field has a line break (`\n` or
/// `\r\n`) or a `""` at an offset from `split - 5` to `split + 3`, the offset cycling from
/// one split to the next; between them, plain, quoted and CRLF-terminated records.
fn write_adversarial(path: &Path, size: u64, split: u64, seed: u64) {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut rng = Rng::new(seed);
    let mut off = 0u64;
    let put = |f: &mut std::io::BufWriter<std::fs::File>, s: &str, off: &mut u64| {
        f.write_all(s.as_bytes()).unwrap();
        *off += s.len() as u64;
    };
    put(&mut f, "id,text,t\n", &mut off);
    let mut next_split = split;
    let mut k = 0u64;
    let mut id = 0u64;
    while off < size {
        id += 1;
        let end = if id % 5 == 4 { "\r\n" } else { "\n" };
        if next_split > off && next_split - off < 400 {
            // Put the special bytes of a quoted field at `next_split + d`.
            let d = (k % 9) as i64 - 5;
            let head = format!("{id},\"");
            let target = (next_split as i64 + d) as u64;
            let before = target.saturating_sub(off + head.len() as u64) as usize;
            let special = match k % 4 {
                0 => "\n",
                1 => "\r\n",
                2 => "\"\"",
                _ => "\n\"\",\n",
            };
            let after = rng.below(20) as usize;
            let text = format!("{}{special}{}", filler(&mut rng, before), filler(&mut rng, after));
            put(&mut f, &format!("{head}{text}\",{id}{end}"), &mut off);
            k += 1;
            next_split += split;
            continue;
        }
        let line = match rng.below(6) {
            0 => format!("{id},\"{}\n{}\",{id}{end}", filler(&mut rng, 10), filler(&mut rng, 5)),
            1 => format!("{id},\"{}\",{id}{end}", filler(&mut rng, 30)),
            2 => format!("\"{id}\",\"a\r\nb\"\"c\",\"{id}\"{end}"),
            _ => format!("{id},plain text {},{id}{end}", rng.below(1000)),
        };
        put(&mut f, &line, &mut off);
    }
    f.flush().unwrap();
}

/// The records of `path` as the `csv` crate reads them.
fn read_with_csv_crate(path: &Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let mut rows: Vec<Row> = r.deserialize().map(|r| r.expect("a valid file")).collect();
    rows.sort();
    rows
}

/// The records and dead letters (location, reason, text) of `path` read through the DSL.
fn read<T>(path: &Path, workers: usize, partition_bytes: u64, header: bool) -> (Vec<T>, Vec<(String, String, String)>)
where
    T: Clone + Ord + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug + 'static,
{
    let rows = Collector::new();
    let dead = Collector::new();
    let (r, d, path) = (rows.clone(), dead.clone(), path.display().to_string());
    let summary = run(RunConfig::workers(workers), move |p| {
        let mut src = Files::<T>::csv([path.clone()])
            .event_time(|_: &T| 0)
            .watermark(WatermarkStrategy::bounded(Duration::from_secs(1)))
            .partition_bytes(partition_bytes);
        if !header {
            src = src.without_header();
        }
        p.read("rows", src)?.write(r.clone());
        p.dead_letters().write(d.clone());
        Ok(())
    })
    .expect("runs");
    let mut rows: Vec<T> = rows.take().into_iter().map(|(_, r)| r).collect();
    rows.sort();
    let mut dead: Vec<_> = dead.take().into_iter().map(|(_, d)| (d.location.to_string(), d.reason, d.record)).collect();
    dead.sort();
    assert_eq!(summary.dead_letters, dead.len() as u64);
    (rows, dead)
}

fn first_difference(a: &[Row], b: &[Row]) -> Option<(usize, Row, Row)> {
    a.iter().zip(b).enumerate().find(|(_, (x, y))| x != y).map(|(i, (x, y))| (i, x.clone(), y.clone()))
}

/// Many boundaries (64 KiB ranges) on a 6 MiB file, and a file over 64 MiB (1 MiB ranges),
/// each at 1, 2 and 4 workers: the records are exactly those of the `csv` crate, with no
/// dead letter — no phantom record from the tail of a quoted field read again.
#[test]
fn quoted_newlines_across_range_boundaries_are_read_once() {
    let dir = temp_dir("csv-ranges");
    for (name, size, split) in [("small.csv", 6 << 20, 1u64 << 16), ("large.csv", (64 << 20) + (1 << 20), 1 << 20)] {
        let path = dir.join(name);
        let started = std::time::Instant::now();
        write_adversarial(&path, size, split, 0x5eed + size);
        let want = read_with_csv_crate(&path);
        assert!(std::fs::metadata(&path).unwrap().len() > size);
        for workers in [1, 2, 4] {
            let (rows, dead) = read::<Row>(&path, workers, split, true);
            assert_eq!(dead, vec![], "{name} at {workers} worker(s): no dead letter for a valid file");
            assert_eq!(
                (rows.len(), first_difference(&rows, &want)),
                (want.len(), None),
                "{name} at {workers} worker(s): the records of the csv crate"
            );
        }
        eprintln!("{name}: {} records, {:?}", want.len(), started.elapsed());
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file of random quotes, commas, line breaks and carriage returns — mostly not valid
/// CSV — reads the same as many 64 KiB ranges as in one partition: the same records and
/// the same dead letters at the same lines and bytes; nothing read twice, nothing lost.
#[test]
fn a_file_of_random_quotes_reads_the_same_as_ranges_as_whole() {
    let dir = temp_dir("csv-random-quotes");
    let path = dir.join("random.csv");
    let mut rng = Rng::new(0x9e3779b97f4a7c15);
    let mut text = Vec::with_capacity(3 << 20);
    while text.len() < 3 << 20 {
        let b = match rng.below(40) {
            0 => b'"',
            1..=3 => b',',
            4..=5 => b'\n',
            6 if rng.below(4) == 0 => b'\r',
            _ => b'a' + rng.below(3) as u8,
        };
        text.push(b);
    }
    std::fs::write(&path, &text).unwrap();
    let whole = read::<(String, String)>(&path, 1, u64::MAX, false);
    assert!(whole.0.len() > 1000 && whole.1.len() > 1000, "{} records, {} dead letters", whole.0.len(), whole.1.len());
    for workers in [1, 3] {
        let ranged = read::<(String, String)>(&path, workers, 1 << 16, false);
        assert_eq!(ranged.0.len(), whole.0.len(), "records at {workers} worker(s)");
        assert!(ranged.0 == whole.0, "the same records at {workers} worker(s)");
        let diff: Vec<_> = ranged.1.iter().zip(&whole.1).filter(|(a, b)| a != b).take(3).collect();
        assert_eq!((ranged.1.len(), diff), (whole.1.len(), vec![]), "dead letters at {workers} worker(s)");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
