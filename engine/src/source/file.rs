//! File replay: CSV (with header) or JSON-lines files, optionally gzip-compressed, read as
//! fast as possible as a timely source.
//!
//! Each file is a logical partition — a large uncompressed CSV file one per byte range
//! ([`FileSource::partition_bytes`]) — and partition `p` belongs to worker `p % peers`
//! (DESIGN §3). Every partition keeps its own watermark (bounded out-of-orderness by
//! default, or ascending) and
//! reads in batches: the records of one batch are stamped with `Time::new(watermark,
//! tick)` taken *before* the batch, then the watermark advances to what the batch showed
//! and the tick increments. Batch boundaries depend only on the partition, so stamps — and
//! outputs — do not depend on the worker count. The worker's capability sits at the
//! minimum stamp over its unfinished partitions and is dropped when they are all done.
//!
//! Bad lines become [`Malformed`] dead letters on a second stream; nothing on input makes
//! the source panic.

use super::csv_lines::{line_number, open_range, CsvLines, Next, Pos};
use super::inputs::{is_gzip, Format, InputError};
use super::malformed::Malformed;
use super::schema::{Columns, FieldAccess, Record, Schema, SplitLine};
use crate::pipeline::files::NextLine;
use crate::pipeline::MAX_LINE;
use highwater_operators::time::{Time, NEG_INF};
use highwater_operators::watermark::{PartitionWatermark, WatermarkStrategy};
use serde_json::Value;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, Stream};

/// Counters shared by the source operators of all workers.
#[derive(Debug, Default)]
pub struct SourceStats {
    /// Records read and parsed.
    pub records: AtomicU64,
    /// Lines turned into dead letters.
    pub malformed: AtomicU64,
    /// Files finished.
    pub files_done: AtomicU64,
    /// Bytes read (of the decompressed data, for gzip files).
    pub bytes: AtomicU64,
    /// Each worker's least stamp still to come (its source watermark), while it reads.
    watermarks: Mutex<BTreeMap<usize, i64>>,
}

impl SourceStats {
    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// The watermark of the replay so far: the least over the workers still reading
    /// (`None` before any worker has read, or once all are done).
    pub fn watermark(&self) -> Option<i64> {
        self.watermarks.lock().unwrap_or_else(|e| e.into_inner()).values().min().copied()
    }
    fn publish_watermark(&self, worker: usize, watermark: Option<i64>) {
        let mut w = self.watermarks.lock().unwrap_or_else(|e| e.into_inner());
        match watermark {
            Some(wm) => w.insert(worker, wm),
            None => w.remove(&worker),
        };
    }
    /// Records read and parsed so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }
    /// Malformed lines so far.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }
}

/// The two streams of a [`FileSource`].
pub struct FileStreams<'scope> {
    /// Good records `(key, event time, values)`.
    pub records: Stream<'scope, Time, Vec<Record>>,
    /// Dead letters of lines that could not be read.
    pub malformed: Stream<'scope, Time, Vec<Malformed>>,
}

/// A replay of files. Build it once (outside the workers), then call
/// [`FileSource::stream`] inside each worker's dataflow.
///
/// ```
/// use highwater::source::{FileSource, Schema, TimeUnit};
/// use std::io::Write;
/// use std::sync::{Arc, Mutex};
/// use timely::dataflow::operators::Inspect;
///
/// let dir = std::env::temp_dir().join(format!("hw-doc-file-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("a.csv");
/// std::fs::write(&path, "k,t\nx,1\nx,oops\n").unwrap();
/// let schema = Schema { time_field: "t".into(), time_unit: TimeUnit::Millis, key_fields: vec!["k".into()], value_fields: vec![] };
/// let source = FileSource::new(vec![path], None, schema).unwrap();
/// let seen = Arc::new(Mutex::new((0, 0)));
/// let s = seen.clone();
/// timely::execute_directly(move |worker| {
///     worker.dataflow(|scope| {
///         let streams = source.stream(scope);
///         let (a, b) = (s.clone(), s.clone());
///         streams.records.inspect(move |_| a.lock().unwrap().0 += 1);
///         streams.malformed.inspect(move |m| { assert_eq!(m.line, 3); b.lock().unwrap().1 += 1 });
///     });
/// });
/// assert_eq!(*seen.lock().unwrap(), (1, 1));
/// ```
#[derive(Clone, Debug)]
pub struct FileSource {
    files: Vec<(PathBuf, Format)>,
    partition_bytes: u64,
    schema: Schema,
    watermark: WatermarkStrategy,
    batch_size: usize,
    stats: Arc<SourceStats>,
}

impl FileSource {
    /// The default number of lines per batch (one watermark advance per batch).
    pub const DEFAULT_BATCH: usize = 10_000;
    /// The default size of a byte-range partition of a large uncompressed CSV file.
    pub const DEFAULT_PARTITION_BYTES: u64 = 4 << 20;

    /// A source over `files` (one partition each, in this order). `format` forces a
    /// format; `None` takes it from each file's extension.
    pub fn new(files: Vec<PathBuf>, format: Option<Format>, schema: Schema) -> Result<Self, InputError> {
        let files = files
            .into_iter()
            .map(|p| match format.or_else(|| Format::from_path(&p)) {
                Some(f) => Ok((p, f)),
                None => Err(InputError::UnknownFormat(p.display().to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FileSource {
            files,
            partition_bytes: Self::DEFAULT_PARTITION_BYTES,
            schema,
            watermark: WatermarkStrategy::BoundedOutOfOrderness(0),
            batch_size: Self::DEFAULT_BATCH,
            stats: Arc::default(),
        })
    }
    /// Sets how far (ms) behind the latest event time a record may be and still be on
    /// time: the bounded-out-of-orderness watermark (the default, with bound 0).
    pub fn max_out_of_orderness(self, bound: i64) -> Self {
        self.watermark(WatermarkStrategy::BoundedOutOfOrderness(bound.max(0)))
    }
    /// Sets each partition's watermark strategy. `Punctuated` is not read from files yet:
    /// such a partition holds the watermark at −∞ until it ends.
    pub fn watermark(mut self, strategy: WatermarkStrategy) -> Self {
        self.watermark = strategy;
        self
    }
    /// Sets the size of the byte ranges an uncompressed CSV file larger than it is split
    /// into, each a partition of its own (at least 64 KiB; `u64::MAX`: one partition per
    /// file). The ranges depend only on the file, never on the worker count.
    pub fn partition_bytes(mut self, bytes: u64) -> Self {
        self.partition_bytes = bytes.max(1 << 16);
        self
    }
    /// The partitions, in order: each file, or each byte range of a large uncompressed
    /// CSV file.
    fn parts(&self) -> Vec<Part> {
        let mut out = Vec::new();
        for (path, format) in &self.files {
            let size = if *format == Format::Csv && !is_gzip(path) {
                std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
            } else {
                0
            };
            if size <= self.partition_bytes {
                out.push(Part { path: path.clone(), format: *format, range: None });
                continue;
            }
            for range in crate::pipeline::files::byte_ranges(size, self.partition_bytes) {
                out.push(Part { path: path.clone(), format: *format, range: Some(range) });
            }
        }
        out
    }
    /// Sets the number of lines per batch (at least 1).
    pub fn batch_size(mut self, lines: usize) -> Self {
        self.batch_size = lines.max(1);
        self
    }
    /// The counters, shared by every worker's copy of this source.
    pub fn stats(&self) -> Arc<SourceStats> {
        self.stats.clone()
    }

    /// Adds the source operator to `scope`: this worker reads partitions `p` with
    /// `p % peers == index`.
    pub fn stream<'scope>(&self, scope: Scope<'scope, Time>) -> FileStreams<'scope> {
        let (index, peers) = (scope.index(), scope.peers());
        let schema = self.schema.clone();
        let batch = self.batch_size;
        let mut parts: Vec<Partition> = self
            .parts()
            .into_iter()
            .enumerate()
            .filter(|(p, _)| p % peers == index)
            .map(|(_, part)| {
                let mut p = Partition::new(part, self.watermark);
                // A byte range after the first starts at the watermark of its first record,
                // not at −∞: it does not hold the frontier back while the ranges before it
                // are read (its stamps then only depend on the file).
                p.watermark = p.initial_watermark(&schema, self.watermark, batch);
                p
            })
            .collect();
        let stats = self.stats.clone();

        let mut builder = OperatorBuilder::new("file-source".to_owned(), scope);
        let activator = scope.activator_for(builder.operator_info().address);
        let (rec_out, records) = builder.new_output::<Vec<Record>>();
        let (mal_out, malformed) = builder.new_output::<Vec<Malformed>>();
        let mut rec_out = OutputBuilder::from(rec_out);
        let mut mal_out = OutputBuilder::from(mal_out);
        builder.build(move |mut caps| {
            let mut mal_cap: Option<Capability<Time>> = caps.pop();
            let mut rec_cap: Option<Capability<Time>> = caps.pop();
            let mut recs: Vec<Record> = Vec::new();
            let mut bad: Vec<Malformed> = Vec::new();
            move |_frontiers| {
                let (Some(rc), Some(mc)) = (rec_cap.as_mut(), mal_cap.as_mut()) else { return };
                // Read the partitions holding the least watermark (all of them at first): the
                // others' records would wait downstream for these anyway.
                let least_wm = parts.iter().map(|p| p.watermark).min().unwrap_or(NEG_INF);
                for part in parts.iter_mut().filter(|p| p.watermark == least_wm) {
                    let stamp = part.stamp();
                    recs.reserve(batch);
                    part.read_batch(&schema, batch, &mut recs, &mut bad);
                    stats.records.fetch_add(recs.len() as u64, Ordering::Relaxed);
                    stats.malformed.fetch_add(bad.len() as u64, Ordering::Relaxed);
                    if !recs.is_empty() {
                        let c = rc.delayed(&stamp);
                        // The batch itself goes downstream (no copy); `recs` comes back empty.
                        rec_out.activate().session(&c).give_container(&mut recs);
                        recs.clear();
                    }
                    if !bad.is_empty() {
                        let c = mc.delayed(&stamp);
                        mal_out.activate().session(&c).give_iterator(bad.drain(..));
                    }
                    if part.done {
                        stats.files_done.fetch_add(1, Ordering::Relaxed);
                    }
                    let position = part.position();
                    stats.bytes.fetch_add(position.saturating_sub(part.bytes_counted), Ordering::Relaxed);
                    part.bytes_counted = position;
                }
                parts.retain(|p| !p.done);
                let least = parts.iter().map(Partition::stamp).min();
                stats.publish_watermark(index, least.map(|t| t.watermark()));
                match least {
                    Some(low) => {
                        rc.downgrade(&low);
                        mc.downgrade(&low);
                        // Yield to the downstream operators, then read the next batch.
                        activator.activate();
                    }
                    None => {
                        rec_cap = None;
                        mal_cap = None;
                    }
                }
            }
        });
        FileStreams { records, malformed }
    }
}

/// An open reader of one partition.
enum Reader {
    Csv {
        lines: CsvLines,
        /// Column index of each field the schema reads.
        columns: Columns,
        width: usize,
    },
    Json {
        reader: BufReader<Box<dyn Read + Send>>,
        line: u64,
        offset: u64,
        buf: Vec<u8>,
    },
}

/// What a partition reads: a whole file, or the byte range `[start, end)` of an
/// uncompressed CSV file (the lines that start in it).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Part {
    path: PathBuf,
    format: Format,
    /// The byte range; `None` for the whole file.
    range: Option<(u64, u64)>,
}

/// One partition: its reader (opened on the first batch), its watermark and its tick.
struct Partition {
    part: Part,
    name: String,
    reader: Option<Reader>,
    strategy: PartitionWatermark,
    watermark: i64,
    tick: u64,
    done: bool,
    /// Bytes already added to [`SourceStats::bytes`].
    bytes_counted: u64,
    /// Lines of the file before a byte range's start, counted when first needed.
    prefix_lines: Option<u64>,
}

/// Counts the newlines of `path` before byte `end`.
pub(crate) fn count_newlines(path: &Path, end: u64) -> std::io::Result<u64> {
    let mut f = File::open(path)?.take(end);
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        n += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
    }
}

impl Partition {
    fn new(part: Part, strategy: WatermarkStrategy) -> Self {
        let name = part.path.display().to_string();
        Partition {
            part,
            name,
            reader: None,
            strategy: PartitionWatermark::new(strategy),
            watermark: NEG_INF,
            tick: 0,
            done: false,
            bytes_counted: 0,
            prefix_lines: None,
        }
    }

    fn start(&self) -> u64 {
        self.part.range.map_or(0, |r| r.0)
    }

    /// Bytes read so far (decompressed).
    fn position(&self) -> u64 {
        match &self.reader {
            Some(Reader::Csv { lines, .. }) => lines.consumed(self.start()),
            Some(Reader::Json { offset, .. }) => *offset,
            None => 0,
        }
    }

    /// The stamp of this partition's next batch.
    fn stamp(&self) -> Time {
        Time::new(self.watermark, self.tick)
    }

    /// The CSV reader of `[start, end)` of the file (`skip_partial`: begin at a line start).
    fn csv_lines(&self, start: u64, end: u64) -> std::io::Result<CsvLines> {
        self.csv_lines_chunked(start, end, 1 << 20)
    }

    /// [`Partition::csv_lines`] reading `chunk` bytes at a time.
    fn csv_lines_chunked(&self, start: u64, end: u64, chunk: usize) -> std::io::Result<CsvLines> {
        open_range(&self.part.path, start, end, chunk)
    }

    fn open(&self, schema: &Schema) -> Result<Reader, Malformed> {
        let whole_file = |reason: String| Malformed::new(&self.name, 0, 0, reason, b"");
        match self.part.format {
            Format::JsonLines => {
                let file = File::open(&self.part.path).map_err(|e| whole_file(format!("cannot open the file: {e}")))?;
                let raw: Box<dyn Read + Send> = if is_gzip(&self.part.path) {
                    Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file)))
                } else {
                    Box::new(file)
                };
                Ok(Reader::Json { reader: BufReader::with_capacity(1 << 16, raw), line: 0, offset: 0, buf: Vec::new() })
            }
            Format::Csv => {
                // The header alone needs little; the first range goes on with this reader.
                let chunk = if self.start() == 0 { 1 << 20 } else { 16 << 10 };
                let mut head = self
                    .csv_lines_chunked(0, u64::MAX, chunk)
                    .map_err(|e| whole_file(format!("cannot open the file: {e}")))?;
                let header_error = |e: std::io::Error| {
                    Malformed::new(&self.name, 1, 0, format!("cannot read the CSV header: {e}"), b"")
                };
                let names: Vec<String> = match head.next().map_err(header_error)?.0 {
                    Next::End => Vec::new(),
                    Next::TooLong => {
                        return Err(Malformed::new(
                            &self.name,
                            1,
                            0,
                            format!("the CSV header is longer than {MAX_LINE} bytes; the file is skipped"),
                            &head.long_prefix,
                        ))
                    }
                    Next::Fast(a, b) => {
                        head.buf[a..b].split(|&c| c == b',').map(|f| f.to_vec()).enumerate().map(header_name).collect()
                    }
                    Next::Slow => head.slow_fields().map(|f| f.to_vec()).enumerate().map(header_name).collect(),
                };
                let columns = schema.columns(&names).map_err(|f| {
                    Malformed::new(
                        &self.name,
                        1,
                        0,
                        format!(
                            "the CSV header has no column `{f}` (columns: {}); the file is skipped",
                            names.join(", ")
                        ),
                        b"",
                    )
                })?;
                let lines = match self.part.range {
                    None | Some((0, _)) => {
                        let end = self.part.range.map_or(u64::MAX, |r| r.1);
                        head.set_end(end);
                        head
                    }
                    Some((start, end)) => {
                        self.csv_lines(start, end).map_err(|e| whole_file(format!("cannot open the file: {e}")))?
                    }
                };
                Ok(Reader::Csv { lines, columns, width: names.len() })
            }
        }
    }

    /// The watermark this partition starts from: for a byte range after the first, the
    /// watermark its first good record (within `max` lines) would give; else −∞.
    fn initial_watermark(&self, schema: &Schema, strategy: WatermarkStrategy, max: usize) -> i64 {
        if self.start() == 0 {
            return NEG_INF;
        }
        let Ok(mut reader) = self.open(schema) else { return NEG_INF };
        let Reader::Csv { lines, columns, width } = &mut reader else { return NEG_INF };
        for _ in 0..max {
            let Ok((next, _)) = lines.next() else { return NEG_INF };
            let got = match next {
                Next::End => return NEG_INF,
                Next::TooLong => None,
                Next::Fast(a, b) => {
                    let fields: SmallVec<[&[u8]; 16]> = lines.buf[a..b].split(|&c| c == b',').collect();
                    check_and_extract(schema, columns, *width, &lines.buf[a..b], &fields[..]).ok()
                }
                Next::Slow => {
                    let fields: SmallVec<[&[u8]; 16]> = lines.slow_fields().collect();
                    check_and_extract(schema, columns, *width, lines.slow_bytes(), &fields[..]).ok()
                }
            };
            if let Some((_, t, _)) = got {
                let mut w = PartitionWatermark::new(strategy);
                w.observe(t);
                return w.watermark();
            }
        }
        NEG_INF
    }

    /// The absolute line number of a position of this partition's CSV reader.
    fn line_of(&mut self, pos: Pos) -> u64 {
        let origin = match &self.reader {
            Some(Reader::Csv { lines, .. }) => lines.origin(),
            _ => 0,
        };
        line_number(&self.part.path, &mut self.prefix_lines, origin, pos)
    }

    /// Reads up to `max` lines into `recs` and `bad`, then advances the watermark and the
    /// tick. Sets `done` at the end of the partition or on an I/O error (reported in `bad`).
    fn read_batch(&mut self, schema: &Schema, max: usize, recs: &mut Vec<Record>, bad: &mut Vec<Malformed>) {
        if self.reader.is_none() {
            match self.open(schema) {
                Ok(r) => self.reader = Some(r),
                Err(m) => {
                    bad.push(m);
                    self.done = true;
                    return;
                }
            }
        }
        let mut lines_read = 0;
        // Dead letters of a byte range get their line numbers after the loop (they may
        // need the lines before the range): (position, reason, text).
        let mut pending: Vec<(Pos, String, Vec<u8>)> = Vec::new();
        let mut io_error = None;
        let Some(reader) = self.reader.as_mut() else { return };
        let name = &self.name;
        while lines_read < max {
            match reader {
                Reader::Csv { lines, columns, width } => {
                    let (next, pos) = match lines.next() {
                        Ok(x) => x,
                        Err(e) => {
                            io_error = Some(Malformed::new(
                                name,
                                0,
                                0,
                                format!("cannot read the file further: {e}; the rest is skipped"),
                                b"",
                            ));
                            self.done = true;
                            break;
                        }
                    };
                    let got = match next {
                        Next::End => {
                            self.done = true;
                            break;
                        }
                        Next::Fast(a, b) => {
                            let line = &lines.buf[a..b];
                            let fields = SplitLine { line, commas: &lines.commas };
                            if !lines.ascii && std::str::from_utf8(line).is_err() {
                                Err(("invalid UTF-8".to_string(), line.to_vec()))
                            } else if fields.count() != *width {
                                Err((
                                    format!("expected {width} fields (as in the header), found {}", fields.count()),
                                    line.to_vec(),
                                ))
                            } else {
                                schema.extract_columns(columns, &fields).map_err(|r| (r, line.to_vec()))
                            }
                        }
                        Next::Slow => {
                            let fields: SmallVec<[&[u8]; 16]> = lines.slow_fields().collect();
                            check_and_extract(schema, columns, *width, lines.slow_bytes(), &fields[..])
                                .map_err(|r| (r, fields.join(&b","[..])))
                        }
                        Next::TooLong => Err((format!("line longer than {MAX_LINE} bytes"), lines.long_prefix.clone())),
                    };
                    lines_read += 1;
                    match got {
                        Ok(r) => {
                            self.strategy.observe(r.1);
                            recs.push(r);
                        }
                        Err((reason, text)) => pending.push((pos, reason, text)),
                    }
                }
                Reader::Json { reader, line, offset, buf } => {
                    buf.clear();
                    let start = *offset;
                    match crate::pipeline::files::next_line(reader, buf, line, offset) {
                        NextLine::Eof => {
                            self.done = true;
                            break;
                        }
                        NextLine::TooLong => {
                            lines_read += 1;
                            bad.push(Malformed::new(
                                name,
                                *line,
                                start,
                                format!("line longer than {MAX_LINE} bytes"),
                                &buf[..buf.len().min(200)],
                            ));
                        }
                        NextLine::Failed(reason) => {
                            bad.push(Malformed::new(name, *line + 1, start, reason, b""));
                            self.done = true;
                            break;
                        }
                        NextLine::Line => {
                            lines_read += 1;
                            let Ok(text) = std::str::from_utf8(buf) else {
                                bad.push(Malformed::new(name, *line, start, "invalid UTF-8", buf));
                                continue;
                            };
                            if text.trim().is_empty() {
                                continue;
                            }
                            match json_record(schema, text) {
                                Ok(r) => {
                                    self.strategy.observe(r.1);
                                    recs.push(r);
                                }
                                Err(reason) => bad.push(Malformed::new(name, *line, start, reason, buf)),
                            }
                        }
                    }
                }
            }
        }
        for (pos, reason, text) in pending {
            let line = self.line_of(pos);
            bad.push(Malformed::new(&self.name, line, pos.byte, reason, &text));
        }
        bad.extend(io_error);
        self.watermark = self.watermark.max(self.strategy.watermark());
        self.tick += 1;
    }
}

/// A header field's name: trimmed, and without a byte-order mark on the first.
fn header_name((i, h): (usize, Vec<u8>)) -> String {
    let h = String::from_utf8_lossy(&h);
    let h = if i == 0 { h.trim_start_matches('\u{feff}') } else { &h };
    h.trim().to_string()
}

/// Checks a CSV record (`raw`: its bytes, for the UTF-8 check) and reads it; `Err` is the
/// dead-letter reason.
fn check_and_extract<F: FieldAccess + ?Sized>(
    schema: &Schema,
    columns: &Columns,
    width: usize,
    raw: &[u8],
    fields: &F,
) -> Result<Record, String> {
    if !raw.is_ascii() && std::str::from_utf8(raw).is_err() {
        return Err("invalid UTF-8".to_string());
    }
    if fields.count() != width {
        return Err(format!("expected {width} fields (as in the header), found {}", fields.count()));
    }
    schema.extract_columns(columns, fields)
}

/// Reads one JSON line into a record.
pub(crate) fn json_record(schema: &Schema, text: &str) -> Result<Record, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))?;
    let Value::Object(map) = value else { return Err("not a JSON object".to_string()) };
    schema.extract(|f| match map.get(f)? {
        Value::Null => None,
        Value::String(s) => Some(Cow::Owned(s.clone())),
        other => Some(Cow::Owned(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::TimeUnit;
    use timely::dataflow::operators::Inspect;

    /// Records and dead letters of `path` read with `bytes`-sized partitions by `workers`.
    fn read_all(path: &Path, bytes: u64, workers: usize) -> (Vec<String>, Vec<(u64, u64, String, String)>) {
        let schema = Schema {
            time_field: "t".into(),
            time_unit: TimeUnit::Millis,
            key_fields: vec!["k".into()],
            value_fields: vec!["p".into()],
        };
        let source =
            FileSource::new(vec![path.to_path_buf()], None, schema).unwrap().partition_bytes(bytes).batch_size(500);
        let seen = Arc::new(Mutex::new((Vec::new(), Vec::new())));
        let s = seen.clone();
        timely::execute(timely::Config::process(workers), move |worker| {
            let (a, b) = (s.clone(), s.clone());
            worker.dataflow(|scope| {
                let streams = source.stream(scope);
                streams.records.inspect(move |r| a.lock().unwrap().0.push(format!("{}@{}={:?}", r.0, r.1, r.2)));
                streams.malformed.inspect(move |m| {
                    b.lock().unwrap().1.push((m.line, m.byte_offset, m.reason.clone(), m.text.clone()))
                });
            });
        })
        .unwrap();
        let mut out = std::mem::take(&mut *seen.lock().unwrap());
        out.0.sort();
        out.1.sort();
        out
    }

    #[test]
    fn byte_ranges_read_what_one_partition_reads_with_the_same_dead_letters() {
        let dir = std::env::temp_dir().join(format!("hw-ranges-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.csv");
        let mut text = String::from("k,p,t\n");
        for i in 0..40_000u64 {
            match i % 997 {
                0 => text.push_str(&format!("{i},oops,{i}\n")),
                1 => text.push_str(&format!("{i},{i}\n")),
                2 => text.push_str(&format!("\"{i}\",\"1,5\",{i}\r\n")),
                3 => text.push('\n'),
                _ => text.push_str(&format!("{},{},{}\n", i % 13, i, i * 10)),
            }
        }
        std::fs::write(&path, text).unwrap();
        let whole = read_all(&path, u64::MAX, 1);
        assert_eq!(whole.1.len(), 3 * 41);
        for workers in [1, 2] {
            let ranged = read_all(&path, 1 << 16, workers);
            let first_diff = ranged.0.iter().zip(&whole.0).find(|(a, b)| a != b);
            assert_eq!((ranged.0.len(), first_diff), (whole.0.len(), None), "records at {workers} workers");
            let diff: Vec<_> = ranged.1.iter().zip(&whole.1).filter(|(a, b)| a != b).take(4).collect();
            assert_eq!((ranged.1.len(), diff), (whole.1.len(), vec![]), "dead letters at {workers} workers");
        }
    }

    #[test]
    fn an_over_long_line_is_a_dead_letter_and_reading_goes_on() {
        let dir = std::env::temp_dir().join(format!("hw-long-line-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, header) in [("long.csv", "k,p,t\n"), ("long.jsonl", "")] {
            let path = dir.join(name);
            let long = "x".repeat(MAX_LINE + 5);
            let good = |i: u64| {
                if name.ends_with(".csv") {
                    format!("a,{i},{i}\n")
                } else {
                    format!("{{\"k\":\"a\",\"p\":{i},\"t\":{i}}}\n")
                }
            };
            std::fs::write(&path, format!("{header}{}{}\n{}", good(1), long, good(2))).unwrap();
            let (records, dead) = read_all(&path, u64::MAX, 1);
            assert_eq!(records.len(), 2, "{name}: the records on both sides of the long line: {records:?}");
            assert_eq!(dead.len(), 1, "{name}");
            let line = if name.ends_with(".csv") { 3 } else { 2 };
            assert_eq!(dead[0].0, line, "{name}: the long line's number");
            assert!(dead[0].2.contains("longer than"), "{name}: {:?}", dead[0].2);
            assert!(dead[0].3.len() <= 200, "{name}: the dead letter keeps the start of the line");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
