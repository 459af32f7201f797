//! `highwater run`: a keyed windowed aggregation over files or a socket, configured by
//! flags.
//!
//! Files are replayed by [`FileSource`] (one partition per file, a bounded-out-of-orderness
//! watermark each; a progress bar on a terminal for long replays); a socket
//! (`--listen`, `--connect`) is read by the pipeline DSL's live [`crate::pipeline::Tcp`]
//! source (one partition per connection). Either is aggregated by the keyed windowed
//! aggregate of [`highwater_operators::operator`], and written as JSON lines: one per pane,
//!
//! ```text
//! {"key":"7","window":[10000,20000],"count":3,"max_price":912,"timestamp":19999,
//!  "timing":"on_time","index":0,"nonspeculative_index":0,"first":true,"last":true}
//! ```
//!
//! with `"retraction":true|false` added in retracting mode. Malformed lines and records
//! dropped as too late go to the dead-letter output (`--dead-letters`), one JSON object
//! per line, and are counted in the [`Summary`]. A malformed line of a file is
//! `{"kind":"malformed","file":…,"line":…,"byte_offset":…,"reason":…,"text":…}`; one of a
//! socket is `{"kind":"malformed","location":"tcp PEER, line N (byte B)","reason":…,"text":…}`.

use super::aggregates::{Aggregate, AggregateSet, AggregateValues};
use super::cluster::{ClusterArgs, ClusterError};
use super::progress::Progress;
use crate::pipeline::{execute, ExecutionError};
use crate::source::{
    expand_inputs, is_gzip, FileSource, Format, InputError, Malformed, Record, RunKey, Schema, TimeUnit,
};
use highwater_operators::clock::SystemClock;
use highwater_operators::duration::parse_ticks;
use highwater_operators::operator::{windowed_aggregate_precombined, OutputWatermark};
use highwater_operators::pane::{Pane, Timing};
use highwater_operators::reduce::{DropReason, Dropped};
use highwater_operators::strategy::{Accumulation, StrategyError, TimestampCombiner, WindowingStrategy};
use highwater_operators::time::{Time, GLOBAL_MAX};
use highwater_operators::trigger::Trigger;
use highwater_operators::watermark::WatermarkStrategy;
use highwater_operators::window::{Window, WindowSpec};
use serde_json::Value;
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

/// The flags of `highwater run`.
///
/// Tests and programs can build it with `RunArgs::try_parse_from(["run", "--input", …])`
/// (from [`clap::Parser`]) or field by field.
#[derive(clap::Parser, Clone, Debug)]
#[command(name = "run")]
pub struct RunArgs {
    /// Input files, directories (their files) or globs ('data/*.csv.gz'); each file is one
    /// partition. Repeat the flag or give several paths.
    #[arg(long, required_unless_present_any = ["listen", "connect"], conflicts_with_all = ["listen", "connect"], num_args = 1.., value_name = "PATH")]
    pub input: Vec<String>,
    /// Read newline-delimited records from TCP connections to this address instead of
    /// files (a bare port means 127.0.0.1, loopback; port 0 picks a free one, printed on
    /// stderr). Each connection is a partition with its own watermark; a CSV connection
    /// starts with its header line. Ends after --max-connections connections have closed
    /// (or when killed). Needs --format.
    #[arg(long, value_name = "ADDR", conflicts_with = "connect")]
    pub listen: Option<String>,
    /// Read newline-delimited records from a TCP server at this address, until it closes
    /// the connection. Needs --format.
    #[arg(long, value_name = "ADDR")]
    pub connect: Option<String>,
    /// With --listen: stop accepting after N connections, and end when they are closed.
    #[arg(long, value_name = "N", requires = "listen")]
    pub max_connections: Option<usize>,
    /// With a socket: a connection without data for this long stops holding the
    /// watermark back (e.g. 5s). By default a silent connection holds it.
    #[arg(long, value_parser = parse_ticks, value_name = "DURATION")]
    pub idle_timeout: Option<i64>,
    /// Line format; by default from each file's extension (.csv, .jsonl, .ndjson, .json,
    /// optionally followed by .gz). Required with a socket.
    #[arg(long, value_name = "csv|jsonl")]
    pub format: Option<Format>,
    /// The field holding each record's event time.
    #[arg(long, value_name = "NAME")]
    pub time_field: String,
    /// The unit of the event-time field.
    #[arg(long, default_value = "ms", value_name = "ms|s|rfc3339")]
    pub time_unit: TimeUnit,
    /// A key field; repeat it for a composite key (parts joined by `|`). Without it every
    /// record has the key "".
    #[arg(long, value_name = "NAME")]
    pub key_field: Vec<String>,
    /// Count the records of each pane (the default when no aggregate is given).
    #[arg(long)]
    pub count: bool,
    /// Sum a numeric field (output column `sum_FIELD`); repeatable.
    #[arg(long, value_name = "FIELD")]
    pub sum: Vec<String>,
    /// Minimum of a numeric field (`min_FIELD`); repeatable.
    #[arg(long, value_name = "FIELD")]
    pub min: Vec<String>,
    /// Maximum of a numeric field (`max_FIELD`); repeatable.
    #[arg(long, value_name = "FIELD")]
    pub max: Vec<String>,
    /// Mean of a numeric field (`mean_FIELD`); repeatable.
    #[arg(long, value_name = "FIELD")]
    pub mean: Vec<String>,
    /// The windows: global, fixed(SIZE), sliding(SIZE, PERIOD) or sessions(GAP), with
    /// durations such as 10s, 250ms, 5m (a bare number is milliseconds).
    #[arg(long, default_value = "global", value_name = "WINDOW")]
    pub window: WindowSpec,
    /// When panes fire, in the trigger grammar (e.g. default,
    /// after_watermark(early=after_processing_time(1s), late=after_count(1))).
    #[arg(long, default_value = "default", value_name = "TRIGGER")]
    pub trigger: Trigger,
    /// How long after the end of a window late records still update it.
    #[arg(long, default_value = "0s", value_parser = parse_ticks, value_name = "DURATION")]
    pub allowed_lateness: i64,
    /// How successive panes of a window relate.
    #[arg(long, default_value = "discarding", value_name = "discarding|accumulating|retracting")]
    pub accumulation: Accumulation,
    /// The pane timestamp.
    #[arg(long, default_value = "end_of_window", value_name = "end_of_window|earliest|latest")]
    pub timestamp_combiner: TimestampCombiner,
    /// Watermark of each file = latest event time seen − this bound.
    #[arg(long, default_value = "2s", value_parser = parse_ticks, value_name = "DURATION")]
    pub max_out_of_orderness: i64,
    /// The watermark strategy of each file or connection instead: `ascending` (sorted
    /// input), `bounded(DURATION)`, or — on a socket — `punctuated` (the watermark comes
    /// from lines `{"watermark": MILLIS}` in the stream); overrides --max-out-of-orderness.
    #[arg(long, value_name = "ascending|bounded(D)|punctuated")]
    pub watermark: Option<WatermarkStrategy>,
    /// Lines read per batch; the watermark advances once per batch.
    #[arg(long, default_value_t = FileSource::DEFAULT_BATCH, value_name = "LINES")]
    pub batch_size: usize,
    /// Where to write the panes as JSON lines (`-` is standard output). In process `I` of
    /// a cluster, a file is written as `PATH.p<I>`: each process writes the panes of its
    /// own workers.
    #[arg(long, default_value = "-", value_name = "PATH|-")]
    pub output: String,
    /// Where to write dead letters (malformed lines, too-late records) as JSON lines; by
    /// default they are only counted in the summary. `PATH.p<I>` in a cluster, as --output.
    #[arg(long, value_name = "PATH|-")]
    pub dead_letters: Option<String>,
    /// No progress bar (one is drawn on standard error for long file replays, when it is
    /// a terminal and the panes do not go to the same terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Where to run: `--workers N`, and `--processes P --process I --hostfile FILE` for
    /// one process of a cluster (or start a local cluster with `highwater cluster`).
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// What a run did, printed at its end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files read.
    pub files: u64,
    /// TCP connections read (socket input).
    pub connections: u64,
    /// Records read and parsed.
    pub records_read: u64,
    /// Panes (and retractions) written.
    pub panes_emitted: u64,
    /// Records dropped as too late (or for a closed window).
    pub late_dropped: u64,
    /// Lines that did not make a record.
    pub malformed: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = if self.files == 0 && self.connections > 0 {
            format!("{} connection(s)", self.connections)
        } else {
            format!("{} file(s)", self.files)
        };
        write!(
            f,
            "{} records read from {from}, {} panes emitted, {} late-dropped, {} malformed",
            self.records_read, self.panes_emitted, self.late_dropped, self.malformed
        )
    }
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// An `--input` names nothing readable, or a file's format is unknown.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The windowing strategy is invalid.
    #[error("invalid windowing strategy: {0}")]
    Strategy(#[from] StrategyError),
    /// A flag has a value that cannot work.
    #[error("--{flag}: {reason}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// What is wrong and what to do.
        reason: String,
    },
    /// An output file cannot be created or written.
    #[error("cannot write `{path}`: {source}")]
    Output {
        /// The destination.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Timely could not start or a worker failed.
    #[error("the dataflow failed: {0}")]
    Dataflow(String),
    /// The cluster flags cannot work.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The workers could not start (a peer process out of reach) or did not finish (a peer
    /// process lost, a worker panicked).
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    /// The socket job could not start (an address to listen on or connect to) or failed.
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
}

type SharedWriter = Arc<Mutex<Box<dyn Write + Send>>>;

/// An output destination and the first error writing to it.
#[derive(Clone)]
pub(super) struct Destination {
    path: String,
    writer: SharedWriter,
    error: Arc<Mutex<Option<std::io::Error>>>,
    /// Flush after every chunk: a live job's panes must reach the reader as they are made.
    live: bool,
}

impl Destination {
    pub(super) fn open(path: &str, live: bool) -> Result<Self, RunError> {
        let writer: Box<dyn Write + Send> = if path == "-" {
            Box::new(BufWriter::new(std::io::stdout()))
        } else {
            let f = File::create(path).map_err(|e| RunError::Output { path: path.to_string(), source: e })?;
            Box::new(BufWriter::new(f))
        };
        Ok(Destination { path: path.to_string(), writer: Arc::new(Mutex::new(writer)), error: Arc::default(), live })
    }
    /// Writes a chunk of lines at once (one lock per batch; flushed at once when live).
    pub(super) fn write(&self, chunk: &str) {
        if chunk.is_empty() {
            return;
        }
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let written = w.write_all(chunk.as_bytes()).and_then(|()| if self.live { w.flush() } else { Ok(()) });
        if let Err(e) = written {
            self.error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
        }
    }
    pub(super) fn finish(&self) -> Result<(), RunError> {
        let flushed = self.writer.lock().unwrap_or_else(|e| e.into_inner()).flush();
        if let Some(e) = self.error.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(RunError::Output { path: self.path.clone(), source: e });
        }
        flushed.map_err(|e| RunError::Output { path: self.path.clone(), source: e })
    }
}

impl RunArgs {
    /// The requested aggregates in output order: count, then sums, mins, maxes, means
    /// (each in the order given). Count alone when none is requested.
    pub fn aggregates(&self) -> Vec<Aggregate> {
        let mut out = Vec::new();
        if self.count {
            out.push(Aggregate::Count);
        }
        out.extend(self.sum.iter().cloned().map(Aggregate::Sum));
        out.extend(self.min.iter().cloned().map(Aggregate::Min));
        out.extend(self.max.iter().cloned().map(Aggregate::Max));
        out.extend(self.mean.iter().cloned().map(Aggregate::Mean));
        if out.is_empty() {
            out.push(Aggregate::Count);
        }
        out
    }

    /// The validated windowing strategy.
    pub fn strategy(&self) -> Result<WindowingStrategy, RunError> {
        Ok(WindowingStrategy::new(self.window.clone())
            .trigger(self.trigger.clone())
            .allowed_lateness(self.allowed_lateness)
            .accumulation(self.accumulation)
            .timestamp_combiner(self.timestamp_combiner)
            .build()?)
    }
}

/// Runs the job to the end of its input and returns what it did.
///
/// ```
/// use clap::Parser;
/// use highwater::cli::run::{run, RunArgs};
/// let dir = std::env::temp_dir().join(format!("hw-doc-run-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let input = dir.join("bids.csv");
/// std::fs::write(&input, "auction,price,t\na,5,1000\na,7,4000\nb,1,12000\n").unwrap();
/// let output = dir.join("panes.jsonl");
/// let args = RunArgs::try_parse_from([
///     "run", "--input", input.to_str().unwrap(), "--time-field", "t", "--key-field", "auction",
///     "--count", "--max", "price", "--window", "fixed(10s)", "--output", output.to_str().unwrap(),
/// ]).unwrap();
/// let summary = highwater::cli::run::run(&args).unwrap();
/// assert_eq!((summary.records_read, summary.panes_emitted, summary.malformed), (3, 2, 0));
/// let text = std::fs::read_to_string(&output).unwrap();
/// assert!(text.contains(r#"{"key":"a","window":[0,10000],"count":2,"max_price":7,"timestamp":9999"#));
/// ```
pub fn run(args: &RunArgs) -> Result<Summary, RunError> {
    if args.listen.is_some() || args.connect.is_some() {
        return super::socket::run_socket(args);
    }
    let config = args.cluster.config()?;
    let files = expand_inputs(&args.input)?;
    let set = AggregateSet::new(args.aggregates());
    let schema = args.schema(&set);
    let strategy = args.strategy()?;
    let watermark = match args.watermark {
        Some(WatermarkStrategy::Punctuated) => {
            return Err(RunError::Flag { flag: "watermark", reason: "punctuated watermarks are not read from files yet; use ascending or bounded(D) (punctuated works with --listen/--connect)".into() })
        }
        Some(w) => w,
        None => WatermarkStrategy::BoundedOutOfOrderness(args.max_out_of_orderness),
    };
    let source = FileSource::new(files.clone(), args.format, schema)?.watermark(watermark).batch_size(args.batch_size);
    let stats = source.stats();
    let outputs = Outputs::open(args)?;
    let total_bytes = if files.iter().any(|f| is_gzip(f)) {
        None
    } else {
        files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).ok()).sum::<Option<u64>>()
    };
    let progress =
        Progress::start(stats.clone(), total_bytes, !args.no_progress && super::progress::wanted(args.output == "-"));

    let o = outputs.clone();
    let executed = execute(&config, move |worker| {
        worker.dataflow(|scope| {
            let streams = source.stream(scope);
            aggregate_and_write(streams.records, strategy.clone(), set.clone(), &o);
            let dead_w = o.dead.clone();
            let mut chunk = String::new();
            streams.malformed.sink(Pipeline, "write-malformed", move |(input, _frontier)| {
                input.for_each(|_cap, data| {
                    if let Some(w) = &dead_w {
                        chunk.clear();
                        for m in data.iter() {
                            malformed_line(&mut chunk, m);
                        }
                        w.write(&chunk);
                    }
                });
            });
        });
    });
    progress.finish();
    executed?;
    outputs.finish()?;
    Ok(Summary {
        files: files.len() as u64,
        connections: 0,
        records_read: stats.records(),
        panes_emitted: outputs.panes.load(Ordering::Relaxed),
        late_dropped: outputs.late.load(Ordering::Relaxed),
        malformed: stats.malformed(),
    })
}

impl RunArgs {
    /// What each line must hold: the time, key and aggregated fields.
    pub(super) fn schema(&self, set: &AggregateSet) -> Schema {
        Schema {
            time_field: self.time_field.clone(),
            time_unit: self.time_unit,
            key_fields: self.key_field.clone(),
            value_fields: set.value_fields().to_vec(),
        }
    }
}

/// Where a job writes, and what it counted there.
#[derive(Clone)]
pub(super) struct Outputs {
    pub(super) output: Destination,
    pub(super) dead: Option<Destination>,
    pub(super) panes: Arc<AtomicU64>,
    pub(super) late: Arc<AtomicU64>,
    retracting: bool,
}

impl Outputs {
    pub(super) fn open(args: &RunArgs) -> Result<Self, RunError> {
        // Socket input: panes are flushed as they are written, not when the job ends.
        let live = args.listen.is_some() || args.connect.is_some();
        Ok(Outputs {
            output: Destination::open(&args.cluster.output_path(&args.output), live)?,
            dead: args
                .dead_letters
                .as_deref()
                .map(|p| Destination::open(&args.cluster.output_path(p), live))
                .transpose()?,
            panes: Arc::default(),
            late: Arc::default(),
            retracting: args.accumulation == Accumulation::Retracting,
        })
    }
    pub(super) fn finish(&self) -> Result<(), RunError> {
        self.output.finish()?;
        if let Some(d) = &self.dead {
            d.finish()?;
        }
        Ok(())
    }
}

/// The job after its source: the keyed windowed aggregate, its panes to the output and its
/// too-late records to the dead letters, counted.
pub(super) fn aggregate_and_write<'s>(
    records: Stream<'s, Time, Vec<Record>>,
    strategy: WindowingStrategy,
    set: AggregateSet,
    o: &Outputs,
) {
    // Pre-combined before the exchange where that cannot change a pane; the per-key output
    // watermark makes the panes the same at any worker count.
    let out = windowed_aggregate_precombined(
        records,
        "run",
        strategy,
        set.clone(),
        Arc::new(SystemClock),
        OutputWatermark::PerKey,
    );
    let (out_w, panes_c, retracting) = (o.output.clone(), o.panes.clone(), o.retracting);
    let mut chunk = String::new();
    out.panes.sink(Pipeline, "write-panes", move |(input, _frontier)| {
        input.for_each(|_cap, data| {
            chunk.clear();
            for p in data.iter() {
                pane_line(&mut chunk, &set, p, retracting);
            }
            panes_c.fetch_add(data.len() as u64, Ordering::Relaxed);
            out_w.write(&chunk);
        });
    });
    let (dead_w, late_c) = (o.dead.clone(), o.late.clone());
    let mut chunk = String::new();
    out.dead_letters.sink(Pipeline, "write-late", move |(input, _frontier)| {
        input.for_each(|_cap, data| {
            late_c.fetch_add(data.len() as u64, Ordering::Relaxed);
            if let Some(w) = &dead_w {
                chunk.clear();
                for d in data.iter() {
                    late_line(&mut chunk, d);
                }
                w.write(&chunk);
            }
        });
    });
}

/// Appends `"name":value` to a JSON object under construction.
pub(super) fn field(out: &mut String, first: bool, name: &str, value: &Value) {
    if !first {
        out.push(',');
    }
    out.push_str(&Value::from(name).to_string());
    out.push(':');
    out.push_str(&value.to_string());
}

fn window_json(w: &Window) -> Value {
    if w.is_global() {
        Value::from("global")
    } else {
        Value::from(vec![w.start, w.end])
    }
}

fn timestamp_json(t: i64) -> Value {
    if t == GLOBAL_MAX {
        Value::from("global_max")
    } else {
        Value::from(t)
    }
}

/// One pane as a JSON line (fields in the documented order), written straight from the
/// pane (no intermediate JSON values).
fn pane_line(out: &mut String, set: &AggregateSet, p: &Pane<RunKey, AggregateValues>, retracting: bool) {
    let mut digits = itoa::Buffer::new();
    out.push_str("{\"key\":");
    p.key.write_json(out);
    out.push_str(",\"window\":");
    if p.window.is_global() {
        out.push_str("\"global\"");
    } else {
        out.push('[');
        out.push_str(digits.format(p.window.start));
        out.push(',');
        out.push_str(digits.format(p.window.end));
        out.push(']');
    }
    set.write_json_fields(out, &p.value);
    out.push_str(",\"timestamp\":");
    if p.timestamp == GLOBAL_MAX {
        out.push_str("\"global_max\"");
    } else {
        out.push_str(digits.format(p.timestamp));
    }
    out.push_str(",\"timing\":\"");
    out.push_str(match p.info.timing {
        Timing::Early => "early",
        Timing::OnTime => "on_time",
        Timing::Late => "late",
    });
    out.push_str("\",\"index\":");
    out.push_str(digits.format(p.info.index));
    out.push_str(",\"nonspeculative_index\":");
    out.push_str(digits.format(p.info.nonspeculative_index));
    out.push_str(if p.info.first { ",\"first\":true" } else { ",\"first\":false" });
    out.push_str(if p.info.last { ",\"last\":true" } else { ",\"last\":false" });
    if retracting {
        out.push_str(if p.retraction { ",\"retraction\":true" } else { ",\"retraction\":false" });
    }
    out.push_str(
        "}
",
    );
}

/// A malformed line as a dead-letter JSON line.
fn malformed_line(out: &mut String, m: &Malformed) {
    out.push('{');
    field(out, true, "kind", &Value::from("malformed"));
    field(out, false, "file", &Value::from(m.file.as_str()));
    field(out, false, "line", &Value::from(m.line));
    field(out, false, "byte_offset", &Value::from(m.byte_offset));
    field(out, false, "reason", &Value::from(m.reason.as_str()));
    field(out, false, "text", &Value::from(m.text.as_str()));
    out.push_str("}\n");
}

/// A dropped record as a dead-letter JSON line.
fn late_line<V>(out: &mut String, d: &Dropped<RunKey, V>) {
    let kind = match d.reason {
        DropReason::TooLate => "too_late",
        DropReason::WindowClosed => "window_closed",
    };
    out.push('{');
    field(out, true, "kind", &Value::from(kind));
    out.push_str(",\"key\":");
    d.key.write_json(out);
    field(out, false, "timestamp", &Value::from(d.timestamp));
    field(out, false, "window", &window_json(&d.window));
    field(out, false, "watermark", &timestamp_json(d.watermark));
    field(out, false, "reason", &Value::from(d.reason.to_string()));
    out.push_str("}\n");
}
