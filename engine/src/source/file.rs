//! File replay: CSV (with header) or JSON-lines files, optionally gzip-compressed, read as
//! fast as possible as a timely source.
//!
//! Each file is a logical partition; partition `p` belongs to worker `p % peers`
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

use super::inputs::{is_gzip, Format, InputError};
use super::malformed::Malformed;
use super::schema::{Record, Schema};
use highwater_operators::time::{Time, NEG_INF};
use highwater_operators::watermark::{PartitionWatermark, WatermarkStrategy};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::collections::BTreeMap;
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
    schema: Schema,
    watermark: WatermarkStrategy,
    batch_size: usize,
    stats: Arc<SourceStats>,
}

impl FileSource {
    /// The default number of lines per batch (one watermark advance per batch).
    pub const DEFAULT_BATCH: usize = 10_000;

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
        Ok(FileSource { files, schema, watermark: WatermarkStrategy::BoundedOutOfOrderness(0), batch_size: Self::DEFAULT_BATCH, stats: Arc::default() })
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
        let mut parts: Vec<Partition> = self
            .files
            .iter()
            .enumerate()
            .filter(|(p, _)| p % peers == index)
            .map(|(_, (path, format))| Partition::new(path.clone(), *format, self.watermark))
            .collect();
        let schema = self.schema.clone();
        let batch = self.batch_size;
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
                for part in parts.iter_mut() {
                    let stamp = part.stamp();
                    part.read_batch(&schema, batch, &mut recs, &mut bad);
                    stats.records.fetch_add(recs.len() as u64, Ordering::Relaxed);
                    stats.malformed.fetch_add(bad.len() as u64, Ordering::Relaxed);
                    if !recs.is_empty() {
                        let c = rc.delayed(&stamp);
                        rec_out.activate().session(&c).give_iterator(recs.drain(..));
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

/// An open reader of one file.
enum Reader {
    Csv {
        reader: csv::Reader<Box<dyn Read>>,
        /// Column index of each field the schema reads.
        columns: HashMap<String, usize>,
        width: usize,
        record: csv::ByteRecord,
    },
    Json {
        reader: BufReader<Box<dyn Read>>,
        line: u64,
        offset: u64,
        buf: Vec<u8>,
    },
}

/// One file: its reader (opened on the first batch), its watermark and its tick.
struct Partition {
    path: PathBuf,
    name: String,
    format: Format,
    reader: Option<Reader>,
    strategy: PartitionWatermark,
    watermark: i64,
    tick: u64,
    done: bool,
    /// Bytes already added to [`SourceStats::bytes`].
    bytes_counted: u64,
}

impl Partition {
    fn new(path: PathBuf, format: Format, strategy: WatermarkStrategy) -> Self {
        let name = path.display().to_string();
        Partition { path, name, format, reader: None, strategy: PartitionWatermark::new(strategy), watermark: NEG_INF, tick: 0, done: false, bytes_counted: 0 }
    }

    /// Bytes read so far (decompressed).
    fn position(&self) -> u64 {
        match &self.reader {
            Some(Reader::Csv { reader, .. }) => reader.position().byte(),
            Some(Reader::Json { offset, .. }) => *offset,
            None => 0,
        }
    }

    /// The stamp of this partition's next batch.
    fn stamp(&self) -> Time {
        Time::new(self.watermark, self.tick)
    }

    fn open(&self, schema: &Schema) -> Result<Reader, Malformed> {
        let whole_file = |reason: String| Malformed::new(&self.name, 0, 0, reason, b"");
        let file = File::open(&self.path).map_err(|e| whole_file(format!("cannot open the file: {e}")))?;
        let raw: Box<dyn Read> = if is_gzip(&self.path) {
            Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file)))
        } else {
            Box::new(file)
        };
        match self.format {
            Format::JsonLines => Ok(Reader::Json { reader: BufReader::with_capacity(1 << 16, raw), line: 0, offset: 0, buf: Vec::new() }),
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).buffer_capacity(1 << 16).from_reader(raw);
                let header = reader.byte_headers().map_err(|e| Malformed::new(&self.name, 1, 0, format!("cannot read the CSV header: {e}"), b""))?.clone();
                let names: Vec<String> = header
                    .iter()
                    .enumerate()
                    .map(|(i, h)| {
                        let h = String::from_utf8_lossy(h);
                        let h = if i == 0 { h.trim_start_matches('\u{feff}') } else { &h };
                        h.trim().to_string()
                    })
                    .collect();
                let mut columns = HashMap::new();
                for f in schema.fields() {
                    match names.iter().position(|n| n == f) {
                        Some(i) => {
                            columns.insert(f.to_string(), i);
                        }
                        None => {
                            return Err(Malformed::new(
                                &self.name,
                                1,
                                0,
                                format!("the CSV header has no column `{f}` (columns: {}); the file is skipped", names.join(", ")),
                                &header.as_slice()[..0],
                            ))
                        }
                    }
                }
                Ok(Reader::Csv { reader, columns, width: names.len(), record: csv::ByteRecord::new() })
            }
        }
    }

    /// Reads up to `max` lines into `recs` and `bad`, then advances the watermark and the
    /// tick. Sets `done` at the end of the file or on an I/O error (reported in `bad`).
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
        let Some(reader) = self.reader.as_mut() else { return };
        let name = &self.name;
        let mut lines = 0;
        while lines < max {
            match reader {
                Reader::Csv { reader, columns, width, record } => match reader.read_byte_record(record) {
                    Ok(false) => {
                        self.done = true;
                        break;
                    }
                    Ok(true) => {
                        lines += 1;
                        let (line, byte) = record.position().map_or((0, 0), |p| (p.line(), p.byte()));
                        let text = || record.iter().collect::<Vec<_>>().join(&b","[..]);
                        if std::str::from_utf8(record.as_slice()).is_err() {
                            bad.push(Malformed::new(name, line, byte, "invalid UTF-8", &text()));
                            continue;
                        }
                        if record.len() != *width {
                            let reason = format!("expected {width} fields (as in the header), found {}", record.len());
                            bad.push(Malformed::new(name, line, byte, reason, &text()));
                            continue;
                        }
                        let got = schema.extract(|f| {
                            let i = *columns.get(f)?;
                            record.get(i).and_then(|b| std::str::from_utf8(b).ok()).map(Cow::Borrowed)
                        });
                        match got {
                            Ok(r) => {
                                self.strategy.observe(r.1);
                                recs.push(r);
                            }
                            Err(reason) => bad.push(Malformed::new(name, line, byte, reason, &text())),
                        }
                    }
                    Err(e) => {
                        let (line, byte) = e.position().map_or((0, 0), |p| (p.line(), p.byte()));
                        if let csv::ErrorKind::Io(io) = e.kind() {
                            bad.push(Malformed::new(name, line, byte, format!("cannot read the file further: {io}; the rest is skipped"), b""));
                            self.done = true;
                            break;
                        }
                        lines += 1;
                        bad.push(Malformed::new(name, line, byte, format!("malformed CSV: {e}"), b""));
                    }
                },
                Reader::Json { reader, line, offset, buf } => {
                    buf.clear();
                    let start = *offset;
                    match reader.read_until(b'\n', buf) {
                        Ok(0) => {
                            self.done = true;
                            break;
                        }
                        Ok(n) => {
                            *line += 1;
                            *offset += n as u64;
                            lines += 1;
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
                        Err(e) => {
                            bad.push(Malformed::new(name, *line + 1, start, format!("cannot read the file further: {e}; the rest is skipped"), b""));
                            self.done = true;
                            break;
                        }
                    }
                }
            }
        }
        self.watermark = self.watermark.max(self.strategy.watermark());
        self.tick += 1;
    }
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
