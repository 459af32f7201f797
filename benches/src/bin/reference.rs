//! The practical limit: a hand-written, single-threaded program that reads a bid CSV file
//! (`auction,bidder,price,date_time_ms`), parses the four fields over bytes, aggregates in a
//! hash map, and emits windows as a bounded-out-of-orderness watermark (2 s) passes them.
//! highwater's `run` is measured against it (benches/README.md).
//!
//! ```text
//! reference tumble|hop|session FILE
//! ```
//! prints the number of output rows and a checksum, so that runs can be compared.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};

const BOUND: i64 = 2_000;

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    Some(v)
}

fn fields(line: &[u8]) -> Option<(u64, u64, u64, i64)> {
    let mut it = line.split(|&c| c == b',');
    let a = parse_u64(it.next()?)?;
    let b = parse_u64(it.next()?)?;
    let p = parse_u64(it.next()?)?;
    let last = it.next()?;
    let t = parse_u64(last.strip_suffix(b"\r").unwrap_or(last))? as i64;
    Some((a, b, p, t))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: reference tumble|hop|session FILE");
        std::process::exit(2);
    }
    let (query, path) = (args[1].as_str(), &args[2]);
    let file = std::fs::File::open(path).unwrap_or_else(|e| {
        eprintln!("cannot open {path}: {e}");
        std::process::exit(1)
    });
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(128);
    let mut max_seen = i64::MIN;
    let mut rows = 0u64;
    let mut checksum = 0u64;
    let mut emit = |k: u64, start: i64, count: u64, max: u64| {
        rows += 1;
        checksum = checksum.wrapping_add(
            k.wrapping_mul(31).wrapping_add(start as u64).wrapping_mul(17).wrapping_add(count).wrapping_add(max),
        );
    };
    // (window start, key) -> (count, max price)
    let mut windows: HashMap<(i64, u64), (u64, u64)> = HashMap::new();
    // session state per bidder: (start, last event time + gap, count)
    let mut sessions: HashMap<u64, (i64, i64, u64)> = HashMap::new();
    let (size, period, gap) = (10_000i64, 2_000i64, 10_000i64);
    let mut next_flush = i64::MIN;
    let mut first = true;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => break,
        }
        if first {
            first = false;
            if line.starts_with(b"auction") {
                continue;
            }
        }
        let l = line.strip_suffix(b"\n").unwrap_or(&line);
        let Some((auction, bidder, price, t)) = fields(l) else { continue };
        let wm = max_seen.saturating_sub(BOUND);
        match query {
            "tumble" => {
                let start = t - t.rem_euclid(size);
                if start + size > wm {
                    let e = windows.entry((start, auction)).or_insert((0, 0));
                    e.0 += 1;
                    e.1 = e.1.max(price);
                }
            }
            "hop" => {
                let last = t - t.rem_euclid(period);
                let mut start = last;
                while start > t - size {
                    if start + size > wm {
                        let e = windows.entry((start, auction)).or_insert((0, 0));
                        e.0 += 1;
                    }
                    start -= period;
                }
            }
            _ => {
                let e = sessions.entry(bidder).or_insert((t, t + gap, 0));
                if t < e.0 - gap || t >= e.1 {
                    if e.2 > 0 && t >= e.1 {
                        emit(bidder, e.0, e.2, 0);
                    }
                    *e = (t, t + gap, 0);
                }
                e.0 = e.0.min(t);
                e.1 = e.1.max(t + gap);
                e.2 += 1;
            }
        }
        max_seen = max_seen.max(t);
        let wm = max_seen.saturating_sub(BOUND);
        // Flush closed windows once per second of watermark, not per record.
        if wm >= next_flush && query != "session" {
            windows.retain(|(start, k), (c, m)| {
                if start + size <= wm {
                    emit(*k, *start, *c, *m);
                    false
                } else {
                    true
                }
            });
            next_flush = wm + 1_000;
        }
    }
    for ((start, k), (c, m)) in windows.drain() {
        emit(k, start, c, m);
    }
    for (k, (s, _, c)) in sessions.drain() {
        emit(k, s, c, 0);
    }
    println!("{query}: {rows} rows, checksum {checksum}");
}
