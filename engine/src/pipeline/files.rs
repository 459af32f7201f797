//! Typed file sources: CSV and JSON lines, one file or many (directories, globs), gzip
//! too. Each file is a logical partition with its own watermark.

use super::dead_letter::DeadLetter;
use super::source::{Batch, Partition, Source};
use crate::source::{expand_inputs, is_gzip};
use highwater_operators::watermark::WatermarkStrategy;
use serde::de::DeserializeOwned;
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
    _t: PhantomData<fn() -> T>,
}

impl<T> Files<T> {
    /// CSV files with a header line naming the fields.
    pub fn csv<I: IntoIterator<Item = S>, S: Into<String>>(inputs: I) -> Self {
        Files { inputs: inputs.into_iter().map(Into::into).collect(), kind: Kind::Csv { header: true }, event_time: None, watermark: None, batch: 10_000, pacing: None, _t: PhantomData }
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
    /// Records per batch (one watermark advance per batch).
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
        let event_time = self.event_time.clone().ok_or("no event time: add .event_time(|record| ...) to the file source")?;
        if self.watermark.is_none() {
            return Err("no watermark strategy: add .watermark(WatermarkStrategy::BoundedOutOfOrderness(ms)) (or Ascending) to the file source".into());
        }
        let files = expand_inputs(&self.inputs).map_err(|e| e.to_string())?;
        let mut parts: Vec<Box<dyn Partition<T>>> = Vec::new();
        for (i, path) in files.into_iter().enumerate() {
            if i % peers != worker {
                continue;
            }
            let file = std::fs::File::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
            let raw: Box<dyn Read + Send> = if is_gzip(&path) { Box::new(flate2::read::MultiGzDecoder::new(file)) } else { Box::new(file) };
            match self.kind {
                Kind::Csv { header } => parts.push(Box::new(CsvPartition::<T> {
                    path,
                    reader: BufReader::with_capacity(1 << 16, raw),
                    expect_header: header,
                    header: None,
                    line: 0,
                    offset: 0,
                    buf: Vec::new(),
                    event_time: event_time.clone(),
                    done: false,
                })),
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
        Ok(parts)
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

/// A CSV file, read line by line: unquoted lines are split over bytes and deserialized
/// straight from the fields ([`super::fastcsv`]); a line with quotes goes through the `csv`
/// crate. (A quoted field may not contain a line break.)
struct CsvPartition<T> {
    path: PathBuf,
    reader: BufReader<Box<dyn Read + Send>>,
    expect_header: bool,
    header: Option<Vec<String>>,
    line: u64,
    offset: u64,
    buf: Vec<u8>,
    event_time: EventTime<T>,
    done: bool,
}

impl<T> CsvPartition<T> {
    fn dead(&self, line: u64, offset: u64, reason: String, raw: &[u8]) -> DeadLetter {
        line_dead_letter(&self.path, line, offset, reason, raw)
    }
}

/// What [`next_line`] read.
enum NextLine {
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
fn next_line(reader: &mut BufReader<Box<dyn Read + Send>>, buf: &mut Vec<u8>, line: &mut u64, offset: &mut u64) -> NextLine {
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

/// Parses one line with the full CSV rules (quotes).
fn slow_fields(line: &[u8]) -> Result<csv::StringRecord, String> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line);
    let mut rec = csv::StringRecord::new();
    match rdr.read_record(&mut rec) {
        Ok(_) => Ok(rec),
        Err(e) => Err(format!("not valid CSV: {e}")),
    }
}

impl<T: DeserializeOwned + Send> CsvPartition<T> {
    fn parse<'l>(&self, text: &'l [u8], fields: &mut Vec<&'l [u8]>) -> Result<T, String> {
        let names = self.header.as_deref();
        let name_of = |i: usize| names.and_then(|n| n.get(i)).map(|n| format!(" `{n}`")).unwrap_or_default();
        if super::fastcsv::split(text, fields) {
            let mut de = super::fastcsv::RecordDe { fields, names, current: 0 };
            T::deserialize(&mut de).map_err(|e| {
                if e.0.starts_with("invalid length") || e.0.starts_with("missing field") {
                    format!("not a valid record: {} (the line has {} fields)", e.0, fields.len())
                } else {
                    format!("not a valid record: field {}{}: {}", de.current + 1, name_of(de.current), e.0)
                }
            })
        } else {
            let rec = slow_fields(text)?;
            let owned: Vec<&[u8]> = rec.iter().map(str::as_bytes).collect();
            let mut de = super::fastcsv::RecordDe { fields: &owned, names, current: 0 };
            T::deserialize(&mut de).map_err(|e| format!("not a valid record: field {}{}: {}", de.current + 1, name_of(de.current), e.0))
        }
    }
}

impl<T: DeserializeOwned + Send> Partition<T> for CsvPartition<T> {
    fn read(&mut self, max: usize) -> Batch<T> {
        let mut batch = Batch { records: Vec::with_capacity(max.min(1 << 14)), ..Batch::default() };
        let mut buf = std::mem::take(&mut self.buf);
        while batch.records.len() + batch.dead.len() < max && !self.done {
            buf.clear();
            let start = self.offset;
            match next_line(&mut self.reader, &mut buf, &mut self.line, &mut self.offset) {
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
                    batch.dead.push(self.dead(self.line, start, format!("line longer than {MAX_LINE} bytes"), &buf));
                    continue;
                }
                NextLine::Line => {}
            }
            let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if self.expect_header && self.header.is_none() {
                match slow_fields(text) {
                    Ok(rec) => self.header = Some(rec.iter().map(|f| f.trim().to_string()).collect()),
                    Err(_) => {
                        batch.dead.push(self.dead(self.line, start, "the header line is not valid CSV (UTF-8); the file is skipped".into(), &buf));
                        self.done = true;
                    }
                }
                continue;
            }
            let mut fields: Vec<&[u8]> = Vec::with_capacity(8);
            match self.parse(text, &mut fields) {
                Ok(rec) => {
                    let t = (self.event_time)(&rec);
                    batch.records.push((t, rec));
                }
                Err(reason) => {
                    let d = self.dead(self.line, start, reason, &buf);
                    batch.dead.push(d);
                }
            }
        }
        self.buf = buf;
        batch.done = self.done;
        batch
    }
    fn name(&self) -> String {
        self.path.display().to_string()
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
            let files = if name.ends_with(".csv") { Files::<(u64, i64)>::csv([p]) } else { Files::<(u64, i64)>::json_lines([p]) };
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
}
