//! Typed file sources: CSV and JSON lines, one file or many (directories, globs), gzip
//! too. Each file — or each byte range of a large uncompressed CSV file — is a logical
//! partition with its own watermark.

use super::dead_letter::DeadLetter;
use super::source::{Batch, Partition, Source};
use crate::source::csv_lines::{line_number, open_range, CsvLines, Next, Pos, Skipped, MAX_RECORD_LINES};
use crate::source::{expand_inputs, is_gzip};
use highwater_operators::watermark::WatermarkStrategy;
use serde::de::DeserializeOwned;
use smallvec::SmallVec;
use std::io::{BufRead, BufReader, Read};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

type EventTime<T> = Arc<dyn Fn(&T) -> i64 + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Csv { header: bool },
    JsonLines,
}

/// A file source of records `T` (serde `Deserialize`): CSV or JSON lines.
///
/// ```
/// use highwater::pipeline::{run, Collector, Files, RunConfig};
/// use highwater_operators::watermark::WatermarkStrategy;
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
/// struct Bid { auction: u64, price: u64, date_time_ms: i64 }
/// let dir = std::env::temp_dir().join(format!("hw-doc-files-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("bids.csv"), "auction,price,date_time_ms\n1,10,1000\n2,oops,1001\n").unwrap();
/// let out = Collector::new();
/// let sink = out.clone();
/// let path = dir.join("bids.csv").display().to_string();
/// let summary = run(RunConfig::workers(1), move |p| {
///     let src = Files::<Bid>::csv([path.clone()])
///         .event_time(|b: &Bid| b.date_time_ms)
///         .watermark(WatermarkStrategy::BoundedOutOfOrderness(1_000));
///     p.read("bids", src)?.write(sink.clone());
///     Ok(())
/// }).unwrap();
/// assert_eq!(out.take().len(), 1);
/// assert_eq!(summary.dead_letters, 1); // line 3: `oops` is not a price
/// ```
pub struct Files<T> {
    inputs: Vec<String>,
    kind: Kind,
    event_time: Option<EventTime<T>>,
    watermark: Option<WatermarkStrategy>,
    batch: usize,
    pacing: Option<f64>,
    partition_bytes: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T> Files<T> {
    /// The default size of a byte-range partition of a large uncompressed CSV file.
    pub const DEFAULT_PARTITION_BYTES: u64 = 4 << 20;
    /// CSV files with a header line naming the fields.
    pub fn csv<I: IntoIterator<Item = S>, S: Into<String>>(inputs: I) -> Self {
        Files {
            inputs: inputs.into_iter().map(Into::into).collect(),
            kind: Kind::Csv { header: true },
            event_time: None,
            watermark: None,
            batch: 10_000,
            pacing: None,
            partition_bytes: Self::DEFAULT_PARTITION_BYTES,
            _t: PhantomData,
        }
    }
    /// JSON-lines files: one object per line.
    pub fn json_lines<I: IntoIterator<Item = S>, S: Into<String>>(inputs: I) -> Self {
        let mut f = Files::csv(inputs);
        f.kind = Kind::JsonLines;
        f
    }
    /// CSV without a header: fields are read by position.
    pub fn without_header(mut self) -> Self {
        if let Kind::Csv { .. } = self.kind {
            self.kind = Kind::Csv { header: false };
        }
        self
    }
    /// Where each record's event time comes from (required).
    pub fn event_time(mut self, f: impl Fn(&T) -> i64 + Send + Sync + 'static) -> Self {
        self.event_time = Some(Arc::new(f));
        self
    }
    /// The watermark strategy of each file (required).
    pub fn watermark(mut self, w: WatermarkStrategy) -> Self {
        self.watermark = Some(w);
        self
    }
    /// The size of the byte ranges an uncompressed CSV file larger than it is split into,
    /// each a partition of its own with its own watermark, read in parallel by the workers
    /// (at least 64 KiB; `u64::MAX`: one partition per file). The ranges depend only on the
    /// file, never on the worker count; a range after the first starts its watermark where
    /// its first good record puts it. Each split is moved to the next record boundary (never
    /// a newline inside a quoted field), found by one pass over the file per process, so
    /// every record is read by exactly one range, as if the file were one partition. A CSV
    /// record may span at most 64 lines (a quote left open is a dead letter, not the rest of
    /// the file).
    pub fn partition_bytes(mut self, bytes: u64) -> Self {
        self.partition_bytes = bytes.max(1 << 16);
        self
    }
    /// Lines per batch (one watermark advance per batch).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }
    /// Replays at the pace of the data instead of as fast as possible: each record is
    /// released no earlier than `(its event time − the first record's) / speedup` after
    /// the first record (`1.0`: the original speed, `10.0`: ten times faster), by the
    /// pipeline's clock. Each worker paces its own files from the first record it reads.
    /// A `speedup` that is not a positive number means no pacing.
    pub fn paced(mut self, speedup: f64) -> Self {
        self.pacing = Some(speedup).filter(|s| s.is_finite() && *s > 0.0);
        self
    }
}

impl<T: DeserializeOwned + Send + 'static> Source<T> for Files<T> {
    fn open(&self, worker: usize, peers: usize) -> Result<Vec<Box<dyn Partition<T>>>, String> {
        let event_time =
            self.event_time.clone().ok_or("no event time: add .event_time(|record| ...) to the file source")?;
        if self.watermark.is_none() {
            return Err("no watermark strategy: add .watermark(WatermarkStrategy::BoundedOutOfOrderness(ms)) (or Ascending) to the file source".into());
        }
        let files = expand_inputs(&self.inputs).map_err(|e| e.to_string())?;
        let mut parts: Vec<Box<dyn Partition<T>>> = Vec::new();
        for path in files {
            let file = std::fs::File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            let raw: Box<dyn Read + Send> =
                if is_gzip(&path) { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) };
            match self.kind {
                Kind::Csv { header } => {
                    let size = if is_gzip(&path) { 0 } else { std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) };
                    for range in byte_ranges(size, self.partition_bytes) {
                        parts.push(Box::new(CsvPartition::<T> {
                            path: path.clone(),
                            range: Some(range),
                            expect_header: header,
                            header: None,
                            lines: None,
                            event_time: event_time.clone(),
                            done: false,
                            prefix_lines: None,
                            probe: false,
                        }));
                    }
                }
                Kind::JsonLines => parts.push(Box::new(FilePartition::<T> {
                    path,
                    reader: BufReader::with_capacity(1 << 16, raw),
                    line: 0,
                    offset: 0,
                    buf: Vec::new(),
                    event_time: event_time.clone(),
                    done: false,
                })),
            }
        }
        // Partition `p` (a file, or a byte range of one) is read by worker `p % peers`.
        Ok(parts.into_iter().enumerate().filter(|(i, _)| i % peers == worker).map(|(_, p)| p).collect())
    }
    fn watermark(&self) -> WatermarkStrategy {
        self.watermark.unwrap_or(WatermarkStrategy::Ascending)
    }
    fn batch_size(&self) -> usize {
        self.batch
    }
    fn pacing(&self) -> Option<f64> {
        self.pacing
    }
}

/// Lines longer than this are dead letters (a file that is not line-oriented).
pub const MAX_LINE: usize = 1 << 20;

/// A JSON-lines file, read line by line.
struct FilePartition<T> {
    path: PathBuf,
    reader: BufReader<Box<dyn Read + Send>>,
    line: u64,
    offset: u64,
    buf: Vec<u8>,
    event_time: EventTime<T>,
    done: bool,
}

impl<T: DeserializeOwned> FilePartition<T> {
    fn dead(&self, line: u64, offset: u64, reason: String, raw: &[u8]) -> DeadLetter {
        line_dead_letter(&self.path, line, offset, reason, raw)
    }

    fn parse(&mut self, raw: &[u8]) -> Result<T, String> {
        serde_json::from_slice::<T>(raw).map_err(|e| format!("not a valid record: {e}"))
    }
}

impl<T: DeserializeOwned + Send> Partition<T> for FilePartition<T> {
    fn read(&mut self, max: usize) -> Batch<T> {
        let mut batch = Batch { records: Vec::with_capacity(max.min(1 << 14)), ..Batch::default() };
        while batch.records.len() + batch.dead.len() < max && !self.done {
            self.buf.clear();
            let start = self.offset;
            match next_line(&mut self.reader, &mut self.buf, &mut self.line, &mut self.offset) {
                NextLine::Eof => {
                    self.done = true;
                    break;
                }
                NextLine::Failed(reason) => {
                    batch.dead.push(self.dead(self.line + 1, start, reason, &[]));
                    self.done = true;
                    break;
                }
                NextLine::TooLong => {
                    let raw = std::mem::take(&mut self.buf);
                    batch.dead.push(self.dead(self.line, start, format!("line longer than {MAX_LINE} bytes"), &raw));
                    continue;
                }
                NextLine::Line => {}
            }
            let raw = std::mem::take(&mut self.buf);
            let text = raw.strip_suffix(b"\n").unwrap_or(&raw);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.iter().all(|b| b.is_ascii_whitespace()) {
                self.buf = raw;
                continue;
            }
            match self.parse(text) {
                Ok(rec) => {
                    let t = (self.event_time)(&rec);
                    batch.records.push((t, rec));
                }
                Err(reason) => {
                    let d = self.dead(self.line, start, reason, &raw);
                    batch.dead.push(d);
                }
            }
            self.buf = raw;
        }
        batch.done = self.done;
        batch
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
}

/// A CSV file, or a byte range of a large uncompressed one (the records from the boundary
/// its start moves to, up to the one its end moves to: `source::csv_ranges`),
/// read with the one-pass line reader `run` uses ([`crate::source`]'s `CsvLines`): a line
/// without quotes is split on commas in place and deserialized straight from the fields
/// ([`super::fastcsv`]); a record with quotes (which may span lines) goes through
/// `csv_core`. Lines longer than [`MAX_LINE`] are dead letters.
struct CsvPartition<T> {
    path: PathBuf,
    /// `[start, end)`; `None` for the whole file (gzip included).
    range: Option<(u64, u64)>,
    expect_header: bool,
    header: Option<Vec<String>>,
    lines: Option<CsvLines>,
    event_time: EventTime<T>,
    done: bool,
    /// Lines of the file before the range's first line, counted when first needed.
    prefix_lines: Option<u64>,
    /// Only looking for the first good record ([`Partition::first_event_time`]).
    probe: bool,
}

/// Bytes read at a time from a CSV file.
const READ_CHUNK: usize = 1 << 20;
/// Bytes read at a time to read a header or probe a range's first records.
const PROBE_CHUNK: usize = 16 << 10;

/// The byte ranges a file of `size` bytes is split into, `bytes` each (the last one up to
/// half as long again, and open-ended: it reads to the end, whatever the file has become).
/// These are split points: the reader of a range ([`open_range`]) moves both ends to the
/// record boundaries after them, which the neighbouring ranges agree on.
pub(crate) fn byte_ranges(size: u64, bytes: u64) -> Vec<(u64, u64)> {
    if size <= bytes {
        return vec![(0, u64::MAX)];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < size {
        let end = if size - start < bytes + bytes / 2 { size } else { start + bytes };
        out.push((start, if end == size { u64::MAX } else { end }));
        start = end;
    }
    out
}

/// What [`next_line`] read.
pub(crate) enum NextLine {
    /// A line is in the buffer.
    Line,
    /// The line was longer than [`MAX_LINE`]; its start is in the buffer, the rest skipped.
    TooLong,
    /// The end of the file.
    Eof,
    /// A read error: the rest of the file is skipped.
    Failed(String),
}

/// Reads the next line into `buf` (cleared by the caller), counting lines and bytes.
pub(crate) fn next_line(
    reader: &mut BufReader<Box<dyn Read + Send>>,
    buf: &mut Vec<u8>,
    line: &mut u64,
    offset: &mut u64,
) -> NextLine {
    let n = match reader.take(MAX_LINE as u64 + 1).read_until(b'\n', buf) {
        Ok(n) => n,
        Err(e) => return NextLine::Failed(format!("read error, rest of file skipped: {e}")),
    };
    if n == 0 {
        return NextLine::Eof;
    }
    *offset += n as u64;
    *line += 1;
    if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
        let mut skipped = Vec::new();
        let _ = reader.read_until(b'\n', &mut skipped);
        *offset += skipped.len() as u64;
        return NextLine::TooLong;
    }
    NextLine::Line
}

/// The dead letter of line `line` (at byte `offset`) of `path`: the start of its text.
fn line_dead_letter(path: &std::path::Path, line: u64, offset: u64, reason: String, raw: &[u8]) -> DeadLetter {
    let text = &raw[..raw.len().min(200)];
    DeadLetter {
        step: String::new(),
        location: format!("{}:{} (byte {})", path.display(), line, offset),
        reason,
        record: String::from_utf8_lossy(text).trim_end_matches(['\r', '\n']).to_string(),
    }
}

impl<T: DeserializeOwned + Send> CsvPartition<T> {
    fn dead(&self, line: u64, offset: u64, reason: String, raw: &[u8]) -> DeadLetter {
        line_dead_letter(&self.path, line, offset, reason, raw)
    }

    /// A reader of the range `[start, end)` of the file (moved to record boundaries), reading `chunk`
    /// bytes at a time.
    fn lines_of(&self, start: u64, end: u64, chunk: usize) -> std::io::Result<CsvLines> {
        open_range(&self.path, start, end, chunk)
    }

    /// Opens the reader: the header from the start of the file, then the range.
    fn open(&mut self) -> Result<CsvLines, DeadLetter> {
        let (start, end) = self.range.unwrap_or((0, u64::MAX));
        let path = self.path.clone();
        let cannot_open =
            move |e: std::io::Error| line_dead_letter(&path, 0, 0, format!("cannot open the file: {e}"), b"");
        // The header alone needs little; the first range goes on with this reader.
        let chunk = if start == 0 && !self.probe { READ_CHUNK } else { PROBE_CHUNK };
        let mut first = self.lines_of(0, u64::MAX, chunk).map_err(&cannot_open)?;
        if self.expect_header {
            let skipped = |what: &str| format!("the header line {what}; the file is skipped");
            let names: Vec<String> = match first.next() {
                Err(e) => return Err(self.dead(1, 0, format!("read error, rest of file skipped: {e}"), b"")),
                Ok((Next::End, _)) => Vec::new(),
                Ok((Next::Fast(a, b), _)) => {
                    let line = &first.buf[a..b];
                    let text = std::str::from_utf8(line)
                        .map_err(|_| self.dead(1, 0, skipped("is not valid CSV (UTF-8)"), line))?;
                    text.split(',').map(|f| f.trim().to_string()).collect()
                }
                Ok((Next::Slow, _)) => {
                    let fields: Vec<&[u8]> = first.slow_fields().collect();
                    let names: Result<Vec<String>, _> =
                        fields.iter().map(|f| std::str::from_utf8(f).map(|s| s.trim().to_string())).collect();
                    names.map_err(|_| self.dead(1, 0, skipped("is not valid CSV (UTF-8)"), &fields.join(&b","[..])))?
                }
                Ok((Next::TooLong, _)) => {
                    return Err(self.dead(
                        1,
                        0,
                        skipped(&format!("is longer than {MAX_LINE} bytes")),
                        &first.long_prefix,
                    ))
                }
            };
            self.header = Some(names);
        }
        if start == 0 {
            first.set_end(end);
            return Ok(first);
        }
        self.lines_of(start, end, if self.probe { PROBE_CHUNK } else { READ_CHUNK }).map_err(cannot_open)
    }

    /// The line number of a record that starts at `pos` of this partition's reader.
    fn line_of(&mut self, origin: u64, pos: Pos) -> u64 {
        line_number(&self.path, &mut self.prefix_lines, origin, pos)
    }

    fn parse(&self, fields: &[&[u8]], slow: bool) -> Result<T, String> {
        let names = self.header.as_deref();
        let name_of = |i: usize| names.and_then(|n| n.get(i)).map(|n| format!(" `{n}`")).unwrap_or_default();
        let mut de = super::fastcsv::RecordDe { fields, names, current: 0 };
        T::deserialize(&mut de).map_err(|e| {
            if !slow && (e.0.starts_with("invalid length") || e.0.starts_with("missing field")) {
                format!("not a valid record: {} (the line has {} fields)", e.0, fields.len())
            } else {
                format!("not a valid record: field {}{}: {}", de.current + 1, name_of(de.current), e.0)
            }
        })
    }

    /// The event time of the first good record within `max` lines: where the watermark of a
    /// byte range after the first starts, as if the lines before it had been read.
    fn first_time(&mut self, max: usize) -> Option<i64> {
        if self.range.is_none_or(|r| r.0 == 0) {
            return None;
        }
        let mut probe = CsvPartition::<T> {
            path: self.path.clone(),
            range: self.range,
            expect_header: self.expect_header,
            header: None,
            lines: None,
            event_time: self.event_time.clone(),
            done: false,
            prefix_lines: Some(0),
            probe: true,
        };
        for _ in 0..max {
            let batch = probe.read(1);
            if let Some((t, _)) = batch.records.first() {
                return Some(*t);
            }
            if batch.done {
                return None;
            }
        }
        None
    }
}

impl<T: DeserializeOwned + Send> Partition<T> for CsvPartition<T> {
    fn read(&mut self, max: usize) -> Batch<T> {
        let mut batch = Batch { records: Vec::with_capacity(max.min(1 << 14)), ..Batch::default() };
        if self.done {
            batch.done = true;
            return batch;
        }
        let mut lines = match self.lines.take() {
            Some(l) => l,
            None => match self.open() {
                Ok(l) => l,
                Err(d) => {
                    batch.dead.push(d);
                    self.done = true;
                    batch.done = true;
                    return batch;
                }
            },
        };
        // Dead letters get their line numbers after the loop (a range's need the lines
        // before it): (position, reason, text).
        let mut pending: Vec<(Pos, String, Vec<u8>)> = Vec::new();
        // The open quotes of the dead letters with an empty reason, in order.
        let mut quotes: Vec<Pos> = Vec::new();
        let mut read = 0;
        while read < max {
            let next = match lines.next() {
                Ok((next, _)) => next,
                Err(e) => {
                    pending.push((lines.record, format!("read error, rest of file skipped: {e}"), Vec::new()));
                    self.done = true;
                    break;
                }
            };
            read += 1;
            let got = match next {
                Next::End => {
                    self.done = true;
                    break;
                }
                Next::Fast(a, b) => {
                    let line = &lines.buf[a..b];
                    let mut fields: SmallVec<[&[u8]; 16]> = SmallVec::new();
                    let mut from = 0;
                    for &c in &lines.commas {
                        fields.push(&line[from..c]);
                        from = c + 1;
                    }
                    fields.push(&line[from..]);
                    self.parse(&fields, false).map_err(|r| (r, line.to_vec()))
                }
                Next::Slow => {
                    let fields: SmallVec<[&[u8]; 16]> = lines.slow_fields().collect();
                    self.parse(&fields, true).map_err(|r| (r, fields.join(&b","[..])))
                }
                Next::TooLong => {
                    let reason = match lines.skipped {
                        Skipped::LongLine => format!("line longer than {MAX_LINE} bytes"),
                        // Completed below, with the quote's line number.
                        Skipped::OpenQuote(q) => {
                            quotes.push(q);
                            String::new()
                        }
                        Skipped::Cut => {
                            "the record runs past the end of its byte range (did the file change while it was read?)"
                                .to_string()
                        }
                    };
                    Err((reason, lines.long_prefix.clone()))
                }
            };
            match got {
                Ok(rec) => {
                    let t = (self.event_time)(&rec);
                    batch.records.push((t, rec));
                }
                Err((reason, text)) => pending.push((lines.record, reason, text)),
            }
        }
        let origin = lines.origin();
        self.lines = Some(lines);
        let mut quotes = quotes.into_iter();
        for (pos, mut reason, text) in pending {
            let line = self.line_of(origin, pos);
            if reason.is_empty() {
                if let Some(q) = quotes.next() {
                    let at = self.line_of(origin, q);
                    reason = format!(
                        "the quote opened at line {at}, byte {} is not closed within {MAX_RECORD_LINES} lines and {MAX_LINE} bytes (or before the end of the file): the record is skipped to the end of its first line",
                        q.byte
                    );
                }
            }
            batch.dead.push(self.dead(line, pos.byte, reason, &text));
        }
        batch.done = self.done;
        batch
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn first_event_time(&mut self, max: usize) -> Option<i64> {
        self.first_time(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of bad lines is read in batches of at most `max` lines, like a good one: the
    /// dead letters of a whole file are never held at once.
    #[test]
    fn batches_are_bounded_by_lines_not_only_by_good_records() {
        let dir = std::env::temp_dir().join(format!("hw-files-batches-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, header, bad) in [("bad.csv", "a,t\n", "x,y,z\n"), ("bad.jsonl", "", "not json\n")] {
            let path = dir.join(name);
            std::fs::write(&path, format!("{header}{}", bad.repeat(1000))).unwrap();
            let p = path.display().to_string();
            let files = if name.ends_with(".csv") {
                Files::<(u64, i64)>::csv([p])
            } else {
                Files::<(u64, i64)>::json_lines([p])
            };
            let files = files.event_time(|r: &(u64, i64)| r.1).watermark(WatermarkStrategy::Ascending);
            let mut parts = files.open(0, 1).unwrap();
            let mut total = 0;
            loop {
                let batch = parts[0].read(100);
                assert!(batch.records.is_empty(), "{name}: no good records");
                assert!(batch.dead.len() <= 100, "{name}: a batch of {} dead letters", batch.dead.len());
                total += batch.dead.len();
                if batch.done {
                    break;
                }
            }
            assert_eq!(total, 1000, "{name}: every bad line is a dead letter");
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
    struct Named {
        k: u64,
        name: String,
        t: i64,
    }

    /// The records and dead letters (location, reason) of a CSV file read by one worker.
    fn read_csv(name: &str, text: &[u8], partition_bytes: u64) -> (Vec<Named>, Vec<(String, String)>) {
        let dir = std::env::temp_dir().join(format!("hw-files-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.csv");
        std::fs::write(&path, text).unwrap();
        let files = Files::<Named>::csv([path.display().to_string()])
            .event_time(|r: &Named| r.t)
            .watermark(WatermarkStrategy::Ascending)
            .partition_bytes(partition_bytes);
        let (mut records, mut dead) = (Vec::new(), Vec::new());
        for mut part in files.open(0, 1).unwrap() {
            loop {
                let batch = part.read(1000);
                records.extend(batch.records.into_iter().map(|(_, r)| r));
                dead.extend(batch.dead.into_iter().map(|d| (d.location, d.reason)));
                if batch.done {
                    break;
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        (records, dead)
    }

    fn good_lines(from: u64, n: u64) -> String {
        (from..from + n).map(|i| format!("{i},n{i},{i}\n")).collect()
    }

    /// A quote closed by a stray quote 100 lines later no longer merges the lines between
    /// into one accepted record, and a quote never closed no longer swallows the rest of
    /// the file: the record is a dead letter naming the quote, and reading resumes at the
    /// next line.
    #[test]
    fn a_quote_left_open_is_one_dead_letter_naming_the_quote() {
        // Line 1 the header, 2..=4 good, 5 `5,"open,5` (byte 30, its quote at 32), 6..=105
        // good, 106 `x",106` (a literal quote mid-field: too few fields).
        let head = format!("k,name,t\n{}", good_lines(2, 3));
        assert_eq!(head.len(), 30);
        let closed_later = format!("{head}5,\"open,5\n{}x\",106\n", good_lines(6, 100));
        let (records, dead) = read_csv("closed-later", closed_later.as_bytes(), u64::MAX);
        assert_eq!(records.len(), 103, "the lines after the quote are records: {dead:?}");
        assert_eq!(dead.len(), 2, "{dead:?}");
        assert!(dead[0].0.ends_with(":5 (byte 30)"), "{dead:?}");
        assert!(dead[0].1.contains("quote opened at line 5, byte 32"), "{dead:?}");
        let at = closed_later.find("x\"").unwrap();
        assert!(dead[1].0.ends_with(&format!(":106 (byte {at})")), "{dead:?}");

        let never_closed = format!("{head}5,\"open,5\n{}", good_lines(6, 100));
        let (records, dead) = read_csv("never-closed", never_closed.as_bytes(), u64::MAX);
        assert_eq!((records.len(), dead.len()), (103, 1), "{dead:?}");
        assert!(dead[0].1.contains("quote opened at line 5, byte 32"), "{dead:?}");
        // Near the end of the file too (fewer lines left than the bound).
        let near_end = format!("{head}5,\"open,5\n{}", good_lines(6, 3));
        let (records, dead) = read_csv("near-end", near_end.as_bytes(), u64::MAX);
        assert_eq!((records.len(), dead.len()), (6, 1), "{dead:?}");
    }

    /// A byte-order mark does not become part of the header's first name (the DSL's CSV
    /// header, as `run`'s).
    #[test]
    fn a_byte_order_mark_is_not_part_of_the_first_header_name() {
        let (records, dead) = read_csv("bom", b"\xEF\xBB\xBFk,name,t\n1,a,5\n", u64::MAX);
        assert_eq!((records, dead), (vec![Named { k: 1, name: "a".into(), t: 5 }], vec![]));
    }

    /// A line over many byte ranges is read once, not once per range (each range used to
    /// scan from its start to the end of the line: quadratic, ~15 s here for this file;
    /// now the ranges inside the line are empty, ~0.5 s in a debug build).
    #[test]
    fn a_long_line_over_many_ranges_is_read_in_linear_time() {
        let mut text = format!("k,name,t\n{}", good_lines(2, 10)).into_bytes();
        text.resize(text.len() + (160 << 20), b'x');
        text.extend_from_slice(format!("\n{}", good_lines(100, 10)).as_bytes());
        let started = std::time::Instant::now();
        let (records, dead) = read_csv("long-line", &text, 1 << 16);
        let took = started.elapsed();
        assert_eq!((records.len(), dead.len()), (20, 1), "{dead:?}");
        assert!(dead[0].1.contains("longer than"), "{dead:?}");
        assert!(took < std::time::Duration::from_secs(5), "2560 ranges over one 160 MiB line took {took:?}");
    }
}
