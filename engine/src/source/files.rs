//! File sources: CSV and JSON lines, one file or many (directories, globs, `-` for standard
//! input), gzip too. Each file — or each byte range of a large uncompressed CSV file — is a
//! logical partition with its own watermark. Lines are decoded by a
//! [`Decoder`](crate::format::Decoder): serde types by default, or a
//! [`Schema`](crate::format::Schema) (what `highwater run` reads).
//!
//! What is a dead letter and what fails the job:
//!
//! - a line that does not make a record (bad CSV or JSON, a missing or bad field, invalid
//!   UTF-8, an over-long line) is a [`DeadLetter`] naming the file, line and byte; reading
//!   goes on;
//! - a file that cannot be opened or read to its end (a read error, a corrupt or truncated
//!   gzip stream), a CSV header without a field the decoder needs, a file whose format
//!   cannot be told, a file that changed size while it was read: the job fails, naming the
//!   file. Headers are checked when the pipeline is built, before any record is read.
//!   gzip's checksum comes at the end of each member: the records of a corrupt gzip file
//!   read before the corruption was found have been processed — the job still fails.

use super::inputs::{expand_inputs_with, is_gzip, is_stdin, Format};
use super::{Batch, Partition, Source};
use crate::dead_letter::{DeadLetter, DeadLetterKind, Location};
use crate::format::csv_lines::{line_number, open_range, CsvLines, Next, Pos, Skipped, MAX_RECORD_LINES};
use crate::format::{header_name, CsvDecoder, CsvFields, Decoder, SerdeDecoder};
use highwater_operators::watermark::WatermarkStrategy;
use serde::de::DeserializeOwned;
use smallvec::SmallVec;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Csv {
        header: bool,
    },
    JsonLines,
    /// Each file's format from its name (`.csv`, `.jsonl`, … optionally `.gz`).
    ByName,
}

/// A file source of records `T`: CSV or JSON lines, decoded by serde (with
/// [`Files::event_time`]) or by any [`Decoder`] ([`Files::decoder`]).
///
/// ```
/// use highwater::pipeline::{run, Collector, Files, RunConfig};
/// use highwater::model::watermark::WatermarkStrategy;
/// use std::time::Duration;
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
///         .watermark(WatermarkStrategy::bounded(Duration::from_secs(1)));
///     p.read("bids", src)?.write(sink.clone());
///     Ok(())
/// }).unwrap();
/// assert_eq!(out.take().len(), 1);
/// assert_eq!(summary.dead_letters, 1); // line 3: `oops` is not a price
/// ```
pub struct Files<T> {
    inputs: Vec<String>,
    kind: Kind,
    decoder: Option<Arc<dyn Decoder<T>>>,
    watermark: Option<WatermarkStrategy>,
    batch: usize,
    pacing: Option<f64>,
    partition_bytes: u64,
}

impl<T> Clone for Files<T> {
    fn clone(&self) -> Self {
        Files {
            inputs: self.inputs.clone(),
            kind: self.kind,
            decoder: self.decoder.clone(),
            watermark: self.watermark,
            batch: self.batch,
            pacing: self.pacing,
            partition_bytes: self.partition_bytes,
        }
    }
}

impl<T> Files<T> {
    /// The default size of a byte-range partition of a large uncompressed CSV file.
    pub const DEFAULT_PARTITION_BYTES: u64 = 4 << 20;
    /// The default number of lines per batch.
    pub const DEFAULT_BATCH: usize = 10_000;
    /// The largest batch size accepted.
    pub const MAX_BATCH: usize = 1 << 20;

    fn with_kind<I: IntoIterator<Item = S>, S: Into<String>>(inputs: I, kind: Kind) -> Self {
        Files {
            inputs: inputs.into_iter().map(Into::into).collect(),
            kind,
            decoder: None,
            watermark: None,
            batch: Self::DEFAULT_BATCH,
            pacing: None,
            partition_bytes: Self::DEFAULT_PARTITION_BYTES,
        }
    }
    /// CSV files with a header line naming the fields.
    pub fn csv<I: IntoIterator<Item = S>, S: Into<String>>(inputs: I) -> Self {
        Self::with_kind(inputs, Kind::Csv { header: true })
    }
    /// JSON-lines files: one object per line.
    pub fn json_lines<I: IntoIterator<Item = S>, S: Into<String>>(inputs: I) -> Self {
        Self::with_kind(inputs, Kind::JsonLines)
    }
    /// Files whose format each file's name tells: `.csv` (with a header line), `.jsonl`,
    /// `.ndjson` or `.json` (JSON lines), each optionally followed by `.gz`. In a
    /// directory, other files are skipped with a warning; a named file of another name
    /// fails the pipeline's build.
    pub fn by_name<I: IntoIterator<Item = S>, S: Into<String>>(inputs: I) -> Self {
        Self::with_kind(inputs, Kind::ByName)
    }
    /// Files of the given format, whatever their names.
    pub fn of_format<I: IntoIterator<Item = S>, S: Into<String>>(inputs: I, format: Format) -> Self {
        match format {
            Format::Csv => Self::csv(inputs),
            Format::JsonLines => Self::json_lines(inputs),
        }
    }
    /// CSV without a header: fields are read by position.
    pub fn without_header(mut self) -> Self {
        if let Kind::Csv { .. } = self.kind {
            self.kind = Kind::Csv { header: false };
        }
        self
    }
    /// Decodes lines with `decoder` instead of serde (e.g. a [`crate::format::Schema`]):
    /// it gives each record its event time.
    pub fn decoder(mut self, decoder: impl Decoder<T> + 'static) -> Self {
        self.decoder = Some(Arc::new(decoder));
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
    /// Lines per batch, from 1 to [`Files::MAX_BATCH`] (a larger value fails the pipeline's
    /// build). A batch is a bundle for the triggers downstream: an `after_count(n)` is
    /// evaluated once per bundle, so it may fire with more than `n` records. Which records
    /// are late does not depend on it: each is judged against its partition's watermark as
    /// of that record.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n;
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

impl<T: DeserializeOwned + Send + 'static> Files<T> {
    /// Where each record's event time comes from (required unless a
    /// [`Files::decoder`] gives it): records are decoded with serde.
    pub fn event_time(self, f: impl Fn(&T) -> i64 + Send + Sync + 'static) -> Self {
        self.decoder(SerdeDecoder::new(move |t: &T| Ok(f(t))))
    }
    /// An event time that may fail: `Err(reason)` makes the record a dead letter of kind
    /// malformed whose reason is `bad event time: ` and the error's message (e.g. a
    /// timestamp that does not parse: [`crate::format::time`] has the parsers).
    ///
    /// ```
    /// use highwater::format::time;
    /// use highwater::pipeline::{run, Collector, Files, RunConfig};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    /// struct Click { user: String, at: String }
    /// let path = std::env::temp_dir().join(format!("hw-doc-try-event-time-{}.jsonl", std::process::id()));
    /// std::fs::write(&path, "{\"user\":\"a\",\"at\":\"2024-01-01T00:00:01Z\"}\n{\"user\":\"b\",\"at\":\"noon\"}\n").unwrap();
    /// let (clicks, dead) = (Collector::new(), Collector::new());
    /// let (c, d, input) = (clicks.clone(), dead.clone(), path.display().to_string());
    /// run(RunConfig::workers(1), move |p| {
    ///     let dead_letters = p.dead_letters();
    ///     let source = Files::<Click>::json_lines([input.clone()])
    ///         .try_event_time(|c: &Click| time::rfc3339(&c.at))
    ///         .watermark(WatermarkStrategy::Ascending);
    ///     p.read("clicks", source)?.write(c.clone());
    ///     dead_letters.write(d.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert_eq!(clicks.take()[0].0, 1_704_067_201_000);
    /// let dead = dead.take();
    /// assert!(dead[0].1.reason.starts_with("bad event time: `noon` is not an RFC 3339 date-time"), "{}", dead[0].1.reason);
    /// ```
    pub fn try_event_time<E: std::fmt::Display>(
        self,
        f: impl Fn(&T) -> Result<i64, E> + Send + Sync + 'static,
    ) -> Self {
        self.decoder(SerdeDecoder::new(move |t: &T| f(t).map_err(|e| e.to_string())))
    }
}

/// The format of `path` under `kind`.
fn format_of(kind: Kind, path: &Path) -> Result<(Format, bool), String> {
    match kind {
        Kind::Csv { header } => Ok((Format::Csv, header)),
        Kind::JsonLines => Ok((Format::JsonLines, false)),
        Kind::ByName => match Format::from_path(path) {
            Some(f) => Ok((f, true)),
            None => Err(format!(
                "cannot tell the format of `{}` from its name (.csv, .jsonl, .ndjson or .json, optionally .gz); name the format (--format csv|jsonl)",
                path.display()
            )),
        },
    }
}

/// Opens `path` (`-`: standard input), decompressing gzip.
fn open_input(path: &Path) -> std::io::Result<Box<dyn Read + Send>> {
    if is_stdin(path) {
        return Ok(Box::new(std::io::stdin()));
    }
    let file = std::fs::File::open(path)?;
    Ok(if is_gzip(path) {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file)))
    } else {
        Box::new(file)
    })
}

/// The size of a file as opened (`None` for standard input), to notice a file that
/// changes while it is read.
fn size_of(path: &Path) -> Option<u64> {
    if is_stdin(path) {
        return None;
    }
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// `Err` if the file's size is no longer `size`.
fn check_unchanged(path: &Path, size: Option<u64>) -> Result<(), String> {
    let Some(size) = size else { return Ok(()) };
    match std::fs::metadata(path) {
        Ok(m) if m.len() == size => Ok(()),
        Ok(m) => Err(format!(
            "`{}` changed while it was read ({size} bytes when opened, {} at the end): replay a file that is not being written (copy it first)",
            path.display(),
            m.len()
        )),
        Err(e) => Err(format!("`{}` disappeared while it was read: {e}", path.display())),
    }
}

/// Reads the header line of a CSV file: its names (trimmed, without a byte-order mark).
fn read_header(path: &Path, lines: &mut CsvLines) -> Result<Vec<String>, String> {
    let bad = |what: String| format!("the CSV header of `{}` {what}", path.display());
    match lines.next() {
        Err(e) => Err(bad(format!("cannot be read: {e}"))),
        Ok((Next::End, _)) => Ok(Vec::new()),
        Ok((Next::Fast(a, b), _)) => {
            Ok(lines.buf[a..b].split(|&c| c == b',').enumerate().map(|(i, f)| header_name(i, f)).collect())
        }
        Ok((Next::Slow, _)) => Ok(lines.slow_fields().enumerate().map(|(i, f)| header_name(i, f)).collect()),
        Ok((Next::TooLong, _)) => Err(bad(format!("is longer than {MAX_LINE} bytes: is this a CSV file?"))),
    }
}

impl<T: Send + 'static> Source<T> for Files<T> {
    fn open(&self, worker: usize, peers: usize) -> Result<Vec<Box<dyn Partition<T>>>, String> {
        let decoder = self.decoder.clone().ok_or("no event time: add .event_time(|record| ...) to the file source")?;
        if self.watermark.is_none() {
            return Err("no watermark strategy: add .watermark(WatermarkStrategy::BoundedOutOfOrderness(ms)) (or Ascending) to the file source".into());
        }
        if self.batch == 0 || self.batch > Self::MAX_BATCH {
            return Err(format!("a batch size of {} lines: use 1 to {}", self.batch, Self::MAX_BATCH));
        }
        let files = expand_inputs_with(&self.inputs, self.kind != Kind::ByName).map_err(|e| e.to_string())?;
        let mut parts: Vec<Box<dyn Partition<T>>> = Vec::new();
        let mut index = 0usize;
        for path in files {
            let (format, header) = format_of(self.kind, &path)?;
            let size = size_of(&path);
            let ranges = match format {
                Format::Csv if !is_gzip(&path) && !is_stdin(&path) => {
                    byte_ranges(size.unwrap_or(0), self.partition_bytes)
                }
                _ => vec![(0, u64::MAX)],
            };
            let mine: Vec<(u64, u64)> = ranges
                .into_iter()
                .filter(|_| {
                    index += 1;
                    (index - 1) % peers == worker
                })
                .collect();
            if mine.is_empty() {
                continue;
            }
            match format {
                Format::Csv => {
                    // The header is checked now: a missing column fails the build, before
                    // any record of any file is read. Standard input is read once, later.
                    let (names, csv) = if is_stdin(&path) || !header {
                        (None, None)
                    } else {
                        let mut lines = open_range(&path, 0, u64::MAX, PROBE_CHUNK)
                            .map_err(|e| format!("cannot open `{}`: {e}", path.display()))?;
                        let names = read_header(&path, &mut lines)?;
                        let csv = decoder.bind_csv(Some(&names)).map_err(|e| format!("`{}`: {e}", path.display()))?;
                        (Some(names), Some(csv))
                    };
                    let mut csv = csv;
                    for range in mine {
                        let bound = match csv.take() {
                            Some(c) => Some(c),
                            None if names.is_some() => Some(
                                decoder.bind_csv(names.as_deref()).map_err(|e| format!("`{}`: {e}", path.display()))?,
                            ),
                            None => None,
                        };
                        parts.push(Box::new(CsvPartition::<T> {
                            path: path.clone(),
                            range: Some(range),
                            expect_header: header,
                            header: names.clone(),
                            decoder: decoder.clone(),
                            csv: bound,
                            lines: None,
                            done: false,
                            prefix_lines: None,
                            probe: false,
                            size,
                            consumed: 0,
                        }));
                    }
                }
                Format::JsonLines => parts.push(Box::new(FilePartition::<T> {
                    path,
                    reader: None,
                    line: 0,
                    offset: 0,
                    buf: Vec::new(),
                    decoder: decoder.clone(),
                    done: false,
                    size,
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

pub use crate::format::MAX_LINE;

/// A JSON-lines file, read line by line; opened at its first read.
struct FilePartition<T> {
    path: PathBuf,
    reader: Option<BufReader<Box<dyn Read + Send>>>,
    line: u64,
    offset: u64,
    buf: Vec<u8>,
    decoder: Arc<dyn Decoder<T>>,
    done: bool,
    size: Option<u64>,
}

impl<T: Send> Partition<T> for FilePartition<T> {
    fn read(&mut self, max: usize) -> Batch<T> {
        let mut batch = Batch { records: Vec::with_capacity(max.min(1 << 14)), ..Batch::default() };
        if self.done {
            batch.done = true;
            return batch;
        }
        let mut reader = match self.reader.take() {
            Some(r) => r,
            None => match open_input(&self.path) {
                Ok(r) => BufReader::with_capacity(1 << 16, r),
                Err(e) => {
                    self.done = true;
                    batch.done = true;
                    batch.error = Some(format!("cannot open `{}`: {e}", self.path.display()));
                    return batch;
                }
            },
        };
        let location = |line: u64, byte: u64| Location::File { path: self.path.display().to_string(), line, byte };
        let mut lines = 0;
        while lines < max && !self.done {
            self.buf.clear();
            let start = self.offset;
            match next_line(&mut reader, &mut self.buf, &mut self.line, &mut self.offset) {
                NextLine::Eof => {
                    self.done = true;
                    if let Err(e) = check_unchanged(&self.path, self.size) {
                        batch.error = Some(e);
                    }
                    break;
                }
                NextLine::Failed(e) => {
                    self.done = true;
                    batch.error = Some(format!(
                        "cannot read `{}` after line {} (byte {start}): {e}",
                        self.path.display(),
                        self.line
                    ));
                    break;
                }
                NextLine::TooLong => {
                    lines += 1;
                    batch.dead.push(DeadLetter::line(
                        DeadLetterKind::TooLong,
                        location(self.line, start),
                        format!("line longer than {MAX_LINE} bytes (the rest of the line is skipped)"),
                        &self.buf,
                    ));
                    continue;
                }
                NextLine::Line => lines += 1,
            }
            let raw = &self.buf[..];
            let text = raw.strip_suffix(b"\n").unwrap_or(raw);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            // A byte-order mark at the start of the file is not part of the first record.
            let text = if start == 0 { text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text) } else { text };
            if text.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            match self.decoder.decode_json(text) {
                Ok(rec) => batch.records.push(rec),
                Err(reason) => batch.dead.push(DeadLetter::line(
                    DeadLetterKind::Malformed,
                    location(self.line, start),
                    reason,
                    text,
                )),
            }
        }
        if !self.done {
            self.reader = Some(reader);
        }
        batch.done = self.done;
        batch
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn position(&self) -> u64 {
        self.offset
    }
    fn line(&self) -> u64 {
        self.line
    }
    /// An uncompressed file seeks to the byte; a compressed one (or standard input) is
    /// read again up to it.
    fn resume(&mut self, reads: u64, max: usize, bytes: u64, line: u64) -> Result<(), String> {
        use std::io::{Seek, SeekFrom};
        if is_gzip(&self.path) || is_stdin(&self.path) {
            return super::replay_reads(self, reads, max);
        }
        let cannot = |e: std::io::Error| format!("cannot resume `{}` at byte {bytes}: {e}", self.path.display());
        let mut file = std::fs::File::open(&self.path).map_err(cannot)?;
        file.seek(SeekFrom::Start(bytes)).map_err(cannot)?;
        self.reader = Some(BufReader::with_capacity(1 << 16, Box::new(file)));
        self.offset = bytes;
        self.line = line;
        Ok(())
    }
}

/// A CSV file, or a byte range of a large uncompressed one (the records from the boundary
/// its start moves to, up to the one its end moves to: `source::csv_ranges`), read with
/// the one-pass line reader ([`CsvLines`]): a line without quotes is split on commas in
/// place and decoded straight from the fields; a record with quotes (which may span lines)
/// goes through `csv_core`. Lines longer than [`MAX_LINE`] are dead letters. Opened at its
/// first read.
struct CsvPartition<T> {
    path: PathBuf,
    /// `[start, end)`; `(0, u64::MAX)` for the whole file (gzip and standard input too).
    range: Option<(u64, u64)>,
    expect_header: bool,
    /// The header's names (read when the source was opened; standard input: at its first
    /// read).
    header: Option<Vec<String>>,
    decoder: Arc<dyn Decoder<T>>,
    /// The decoder bound to the header.
    csv: Option<Box<dyn CsvDecoder<T>>>,
    lines: Option<CsvLines>,
    done: bool,
    /// Lines of the file before the range's first line, counted when first needed.
    prefix_lines: Option<u64>,
    /// Only looking for the first good record ([`Partition::first_event_time`]).
    probe: bool,
    /// The file's size when the source was opened.
    size: Option<u64>,
    /// Bytes consumed so far (kept when the reader is closed at the end).
    consumed: u64,
}

/// Bytes read at a time from a CSV file.
const READ_CHUNK: usize = 64 << 10;
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
    /// A read error: the file cannot be read further.
    Failed(std::io::Error),
}

/// Reads the next line into `buf` (cleared by the caller), counting lines and bytes. An
/// over-long line is skipped without being held in memory.
pub(crate) fn next_line(
    reader: &mut BufReader<Box<dyn Read + Send>>,
    buf: &mut Vec<u8>,
    line: &mut u64,
    offset: &mut u64,
) -> NextLine {
    let n = match reader.take(MAX_LINE as u64 + 1).read_until(b'\n', buf) {
        Ok(n) => n,
        Err(e) => return NextLine::Failed(e),
    };
    if n == 0 {
        return NextLine::Eof;
    }
    *offset += n as u64;
    *line += 1;
    if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
        // Skip to the end of the line a buffer at a time.
        loop {
            let (skip, found) = match reader.fill_buf() {
                Ok([]) => break,
                Ok(avail) => match memchr::memchr(b'\n', avail) {
                    Some(i) => (i + 1, true),
                    None => (avail.len(), false),
                },
                Err(e) => return NextLine::Failed(e),
            };
            reader.consume(skip);
            *offset += skip as u64;
            if found {
                break;
            }
        }
        return NextLine::TooLong;
    }
    NextLine::Line
}

impl<T: Send> CsvPartition<T> {
    fn location(&self, line: u64, byte: u64) -> Location {
        Location::File { path: self.path.display().to_string(), line, byte }
    }

    /// A reader of the range `[start, end)` of the file (moved to record boundaries), reading `chunk`
    /// bytes at a time.
    fn lines_of(&self, start: u64, end: u64, chunk: usize) -> std::io::Result<CsvLines> {
        open_range(&self.path, start, end, chunk)
    }

    /// Opens the reader: the header from the start of the file, then the range.
    fn open(&mut self) -> Result<CsvLines, String> {
        let (start, end) = self.range.unwrap_or((0, u64::MAX));
        let path = self.path.display().to_string();
        let cannot_open = move |e: std::io::Error| format!("cannot open `{path}`: {e}");
        if is_stdin(&self.path) || is_gzip(&self.path) {
            let input = open_input(&self.path).map_err(&cannot_open)?;
            let mut lines = CsvLines::with_chunk(input, 0, u64::MAX, READ_CHUNK);
            self.bind(&mut lines)?;
            return Ok(lines);
        }
        // The header alone needs little; the first range goes on with this reader.
        let chunk = if start == 0 && !self.probe { READ_CHUNK } else { PROBE_CHUNK };
        let mut first = self.lines_of(0, u64::MAX, chunk).map_err(&cannot_open)?;
        self.bind(&mut first)?;
        if start == 0 {
            first.set_end(end);
            return Ok(first);
        }
        self.lines_of(start, end, if self.probe { PROBE_CHUNK } else { READ_CHUNK }).map_err(&cannot_open)
    }

    /// Reads the header line from `lines` (at the start of the file) if there is one, and
    /// binds the decoder to it unless that was done when the source was opened.
    fn bind(&mut self, lines: &mut CsvLines) -> Result<(), String> {
        let names = if self.expect_header { Some(read_header(&self.path, lines)?) } else { None };
        if self.csv.is_none() {
            let bound =
                self.decoder.bind_csv(names.as_deref()).map_err(|e| format!("`{}`: {e}", self.path.display()))?;
            self.csv = Some(bound);
        }
        if names.is_some() {
            self.header = names;
        }
        Ok(())
    }

    /// The line number of a record that starts at `pos` of this partition's reader.
    fn line_of(&mut self, origin: u64, pos: Pos) -> u64 {
        line_number(&self.path, &mut self.prefix_lines, origin, pos)
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
            header: self.header.clone(),
            decoder: self.decoder.clone(),
            csv: None,
            lines: None,
            done: false,
            prefix_lines: Some(0),
            probe: true,
            size: None,
            consumed: 0,
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

impl<T: Send> Partition<T> for CsvPartition<T> {
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
                Err(e) => {
                    self.done = true;
                    batch.done = true;
                    batch.error = Some(e);
                    return batch;
                }
            },
        };
        let Some(csv) = self.csv.as_ref() else {
            self.done = true;
            batch.done = true;
            batch.error = Some(format!("`{}`: no CSV decoder", self.path.display()));
            return batch;
        };
        // Dead letters get their line numbers after the loop (a range's need the lines
        // before it): (position, kind, reason, text).
        let mut pending: Vec<(Pos, DeadLetterKind, String, Vec<u8>)> = Vec::new();
        // The open quotes of the dead letters with an empty reason, in order.
        let mut quotes: Vec<Pos> = Vec::new();
        let mut read = 0;
        while read < max {
            let next = match lines.next() {
                Ok((next, _)) => next,
                Err(e) => {
                    self.done = true;
                    batch.error =
                        Some(format!("cannot read `{}` at byte {}: {e}", self.path.display(), lines.record.byte));
                    break;
                }
            };
            read += 1;
            let got = match next {
                Next::End => {
                    self.done = true;
                    if self.range.is_none_or(|r| r.1 == u64::MAX) {
                        if let Err(e) = check_unchanged(&self.path, self.size) {
                            batch.error = Some(e);
                        }
                    }
                    break;
                }
                Next::Fast(a, b) => {
                    let line = &lines.buf[a..b];
                    if !lines.ascii && std::str::from_utf8(line).is_err() {
                        Err((DeadLetterKind::Malformed, "invalid UTF-8".to_string(), line.to_vec()))
                    } else {
                        csv.decode_into(CsvFields::split(line, &lines.commas), &mut batch.records)
                            .map_err(|r| (DeadLetterKind::Malformed, r, line.to_vec()))
                    }
                }
                Next::Slow => {
                    let slow: SmallVec<[&[u8]; 16]> = lines.slow_fields().collect();
                    if std::str::from_utf8(lines.slow_bytes()).is_err() {
                        Err((DeadLetterKind::Malformed, "invalid UTF-8".to_string(), slow.join(&b","[..])))
                    } else {
                        csv.decode_into(CsvFields::from_slices(&slow), &mut batch.records)
                            .map_err(|r| (DeadLetterKind::Malformed, r, slow.join(&b","[..])))
                    }
                }
                Next::TooLong => {
                    let reason = match lines.skipped {
                        Skipped::LongLine => {
                            format!("line longer than {MAX_LINE} bytes (the rest of the line is skipped)")
                        }
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
                    let kind = match lines.skipped {
                        Skipped::LongLine => DeadLetterKind::TooLong,
                        _ => DeadLetterKind::Malformed,
                    };
                    Err((kind, reason, lines.long_prefix.clone()))
                }
            };
            // A good record is already in the batch.
            if let Err((kind, reason, text)) = got {
                pending.push((lines.record, kind, reason, text));
            }
        }
        let origin = lines.origin();
        // The bytes this reader scanned (from where it began, its agreed record boundary).
        self.consumed = lines.consumed(lines.origin());
        self.lines = Some(lines);
        let mut quotes = quotes.into_iter();
        for (pos, kind, mut reason, text) in pending {
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
            batch.dead.push(DeadLetter::line(kind, self.location(line, pos.byte), reason, &text));
        }
        if self.done {
            // Close the file now: a job over many files holds few open.
            self.lines = None;
        }
        batch.done = self.done;
        batch
    }
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn describe(&self) -> String {
        match self.range {
            Some((start, end)) if (start, end) != (0, u64::MAX) => {
                let end = if end == u64::MAX { "end".to_string() } else { end.to_string() };
                format!("{} bytes [{start}, {end})", self.path.display())
            }
            _ => self.name(),
        }
    }
    fn first_event_time(&mut self, max: usize) -> Option<i64> {
        self.first_time(max)
    }
    fn position(&self) -> u64 {
        self.consumed
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// A file that grew (or shrank) while it was replayed used to go unnoticed: the job now
    /// fails, naming the file and saying to replay a copy.
    #[test]
    fn a_file_that_changes_while_it_is_read_fails_the_job() {
        let dir = std::env::temp_dir().join(format!("hw-files-changed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, header, row) in [("grow.csv", "a,t\n", "1,5\n"), ("grow.jsonl", "", "[1,5]\n")] {
            let path = dir.join(name);
            std::fs::write(&path, format!("{header}{}", row.repeat(10))).unwrap();
            let p = path.display().to_string();
            let files = if name.ends_with(".csv") {
                Files::<(u64, i64)>::csv([p])
            } else {
                Files::<(u64, i64)>::json_lines([p])
            };
            let files = files.event_time(|r: &(u64, i64)| r.1).watermark(WatermarkStrategy::Ascending);
            let mut parts = files.open(0, 1).unwrap();
            let first = parts[0].read(3);
            assert_eq!(first.records.len(), 3, "{name}");
            // Someone appends to the file while it is replayed.
            let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
            std::io::Write::write_all(&mut f, row.repeat(5).as_bytes()).unwrap();
            let mut error = None;
            for _ in 0..100 {
                let b = parts[0].read(1000);
                if b.error.is_some() || b.done {
                    error = b.error;
                    break;
                }
            }
            let error = error.unwrap_or_default();
            assert!(error.contains("changed while it was read") && error.contains(name), "{name}: {error}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

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
        let (records, dead, _) = read_csv_counting(name, text, partition_bytes);
        (records, dead)
    }

    /// [`read_csv`], and the bytes every partition consumed, added up.
    fn read_csv_counting(name: &str, text: &[u8], partition_bytes: u64) -> (Vec<Named>, Vec<(String, String)>, u64) {
        let dir = std::env::temp_dir().join(format!("hw-files-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.csv");
        std::fs::write(&path, text).unwrap();
        let files = Files::<Named>::csv([path.display().to_string()])
            .event_time(|r: &Named| r.t)
            .watermark(WatermarkStrategy::Ascending)
            .partition_bytes(partition_bytes);
        let (mut records, mut dead, mut consumed) = (Vec::new(), Vec::new(), 0);
        for mut part in files.open(0, 1).unwrap() {
            loop {
                let batch = part.read(1000);
                records.extend(batch.records.into_iter().map(|(_, r)| r));
                dead.extend(batch.dead.into_iter().map(|d| (d.location.to_string(), d.reason)));
                if batch.done {
                    break;
                }
            }
            consumed += part.position();
        }
        let _ = std::fs::remove_dir_all(&dir);
        (records, dead, consumed)
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
        let (records, dead, consumed) = read_csv_counting("long-line", &text, 1 << 16);
        assert_eq!((records.len(), dead.len()), (20, 1), "{dead:?}");
        assert!(dead[0].1.contains("longer than"), "{dead:?}");
        // Linear: the 2560 ranges over the line consume it once between them (each range
        // used to rescan it to its end: about 1280 times the file).
        let size = text.len() as u64;
        assert!(consumed <= size + (1 << 20), "{consumed} bytes consumed for a file of {size}");
    }
}
