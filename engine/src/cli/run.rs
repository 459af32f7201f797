//! `highwater run`: a keyed windowed aggregation over files or a socket, configured by
//! flags — a thin layer over the pipeline DSL.
//!
//! The flags become one pipeline of public pieces: a [`crate::pipeline::Files`] source
//! (`--input`) or a [`crate::pipeline::Tcp`] source (`--listen`, `--connect`), both
//! decoding lines with a [`crate::format::Schema`]; `map_to_keyed` and `window` with a
//! [`crate::pipeline::Windowing`]; `aggregate` with the requested aggregates as one
//! combiner ([`AggregateSet`]); and [`crate::pipeline::JsonLines`] sinks for the panes and
//! the dead letters. One JSON line per pane, the row of `docs/output-format.md`
//! ([`crate::row::write_pane_row`], the same as a pipeline's [`JsonLines::rows`]):
//!
//! ```text
//! {"key":7,"window":{"start":10000,"end":20000},"value":{"count":3,"max_price":912},
//!  "timestamp":19999,"pane":{"index":0,"nonspeculative_index":0,"timing":"on_time",
//!  "first":true,"last":true},"retraction":false}
//! ```
//!
//! Malformed lines and records dropped as too late go to the dead-letter output
//! (`--dead-letters`), one JSON object per line ([`crate::pipeline::DeadLetter::write_json`]),
//! and are counted in the [`Summary`]. `--rfc3339` adds an RFC 3339 companion to every time.

use super::aggregates::{Aggregate, AggregateSet, AggregateValues};
use super::cluster::{ClusterArgs, ClusterError};
use super::progress::Progress;
use crate::format::{RunKey, Schema, TimeUnit};
use crate::pipeline::{
    BuildError, Delivery, ExecutionError, Files, JsonLines, Kafka, KafkaSink, PipelineError, RunSummary, Tcp, Windowing,
};
use crate::row::{write_pane_row, RowFormat};
use crate::runtime::checkpoint::{CheckpointConfig, RunCheckpoints};
use crate::source::{expand_inputs_with, is_gzip, is_stdin, Format, InputError};
use highwater_operators::duration::parse_ticks;
use highwater_operators::pane::Pane;
use highwater_operators::strategy::{Accumulation, StrategyError, TimestampCombiner, WindowingStrategy};
use highwater_operators::trigger::Trigger;
use highwater_operators::watermark::WatermarkStrategy;
use highwater_operators::window::WindowSpec;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The flags of `highwater run`.
///
/// Tests and programs can build it with `RunArgs::try_parse_from(["run", "--input", …])`
/// (from [`clap::Parser`]) or field by field.
#[derive(clap::Parser, Clone, Debug)]
#[command(name = "run")]
pub struct RunArgs {
    /// Input files, directories (their files) or globs ('data/*.csv.gz'); each file is one
    /// partition. Repeat the flag or give several paths.
    #[arg(long, required_unless_present_any = ["listen", "connect", "kafka_brokers"], conflicts_with_all = ["listen", "connect", "kafka_brokers"], num_args = 1.., value_name = "PATH")]
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
    /// Read from Kafka: the brokers (HOST:PORT,...). Each partition of each
    /// --kafka-topic is a partition with its own watermark, read by worker `p % workers`;
    /// each message's value is one record (--format jsonl, or csv with --csv-header).
    /// Unbounded unless --kafka-stop-at-end. Needs --format.
    #[arg(long, value_name = "HOSTS", conflicts_with_all = ["listen", "connect"], requires = "kafka_topic")]
    pub kafka_brokers: Option<String>,
    /// A Kafka topic to read (repeat the flag for several).
    #[arg(long, value_name = "TOPIC", requires = "kafka_brokers")]
    pub kafka_topic: Vec<String>,
    /// Where each Kafka partition starts: earliest, latest (messages produced after the
    /// start), timestamp:MILLIS (the first message at or after it), or
    /// offsets:TOPIC/PARTITION=OFFSET[,...] (others at earliest). A resumed run starts
    /// where its checkpoint left each partition instead.
    #[arg(long, default_value = "earliest", value_name = "WHERE", requires = "kafka_brokers")]
    pub kafka_start: crate::source::StartAt,
    /// Bounded: each Kafka partition ends at the end offset it had when the job started
    /// (a topic replays as a batch job). Without it the job runs until stopped.
    #[arg(long, requires = "kafka_brokers")]
    pub kafka_stop_at_end: bool,
    /// The consumer group whose committed offsets follow the checkpoints (monitoring
    /// only; default `highwater`).
    #[arg(long, value_name = "NAME", requires = "kafka_brokers")]
    pub kafka_group: Option<String>,
    /// How long the Kafka brokers have to answer at start (default 10s).
    #[arg(long, value_parser = parse_ticks, value_name = "DURATION")]
    pub kafka_timeout: Option<i64>,
    /// How long a broker that went away mid-run is retried, with back-off, before the
    /// job fails (default 60s).
    #[arg(long, value_parser = parse_ticks, value_name = "DURATION")]
    pub kafka_retry_for: Option<i64>,
    /// With --listen: stop accepting after N connections, and end when they are closed.
    /// With --checkpoint-dir the connections of every run count (a rerun replays their
    /// journals, then accepts the rest).
    #[arg(long, value_name = "N", requires = "listen")]
    pub max_connections: Option<usize>,
    /// With --listen: at most N connections open at once (default 256); a client over the
    /// limit is refused with a message and reported on standard error.
    #[arg(long, value_name = "N")]
    pub max_clients: Option<usize>,
    /// With a CSV socket: the header (comma-separated names), when connections send data
    /// lines only. Without it each connection's first line is its header. Required with
    /// CSV Kafka messages (a message is one record, without a header).
    #[arg(long, value_name = "NAMES")]
    pub csv_header: Option<String>,
    /// With a socket or Kafka: a connection or partition without data for this long stops
    /// holding the watermark back (e.g. 5s). By default a silent one holds it.
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
    /// The windows: global, fixed(SIZE[, offset=O]), sliding(SIZE, PERIOD[, offset=O]) or
    /// sessions(GAP), with durations such as 10s, 250ms, 5m (a bare number is
    /// milliseconds); `offset` shifts the window boundaries (fixed(1d, offset=2h)).
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
    /// Lines read per batch (1 to 1048576). Triggers are evaluated once per batch (an
    /// `after_count(N)` may fire with more than N records); which records are late does not
    /// depend on it.
    #[arg(long, default_value_t = Files::<()>::DEFAULT_BATCH, value_name = "LINES")]
    pub batch_size: usize,
    /// Where to write the panes as JSON lines (`-` is standard output). In process `I` of
    /// a cluster, a file is written as `PATH.p<I>`: each process writes the panes of its
    /// own workers. `kafka://HOST:PORT,.../TOPIC` produces them to a Kafka topic
    /// instead (the topic must exist): one message per pane, its value the pane's JSON row,
    /// its key the pane's key; at least once (idempotent production).
    #[arg(long, default_value = "-", value_name = "PATH|-|kafka://HOSTS/TOPIC")]
    pub output: String,
    /// Ask for exactly-once Kafka output (--output kafka://...): refused, saying why
    /// (transactions tied to checkpoints are not supported).
    #[arg(long)]
    pub kafka_exactly_once: bool,
    /// Where to write dead letters (malformed lines, too-late records) as JSON lines; by
    /// default they are only counted in the summary. `PATH.p<I>` in a cluster, as --output.
    #[arg(long, value_name = "PATH|-")]
    pub dead_letters: Option<String>,
    /// Add an RFC 3339 companion to every time in the output and dead-letter rows
    /// (`timestamp_rfc3339`, the window's `start_rfc3339` and `end_rfc3339`, …), next to
    /// the milliseconds.
    #[arg(long)]
    pub rfc3339: bool,
    /// No progress bar (one is drawn on standard error for long file replays, when it is
    /// a terminal and the panes do not go to the same terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Also draw a pane diagram of the job into this SVG file when it ends: event time
    /// across, processing time (ms since the start) upwards, the elements of a few keys as
    /// points, the input and output watermarks as lines, each pane a bar across its window
    /// coloured by timing (early, on time, late), retractions dashed. `PATH.p<I>` in a
    /// cluster, as --output.
    #[arg(long, value_name = "FILE.svg")]
    pub diagram: Option<PathBuf>,
    /// With --diagram: draw this key (as it appears in the output's `key`; repeat for
    /// several). By default the 3 busiest of the first 1000 keys read. Each key shows its
    /// first 200 elements and the panes of the windows they span.
    #[arg(long, value_name = "KEY", requires = "diagram")]
    pub diagram_key: Vec<String>,
    /// Take checkpoints in this directory (created if missing), and resume from its
    /// newest intact checkpoint: rerunning the same command after a crash or a kill
    /// continues where the checkpoint was and writes exactly the --output and
    /// --dead-letters files of a run never interrupted (the files are cut back to their
    /// checkpointed length). Standard output is at-least-once after a resume. With
    /// --listen every connection is journaled in DIR/journal before its lines are read; a
    /// restart replays the journals from the checkpoint, then listens again
    /// (--max-connections counts the connections of every run). Not with --connect. A
    /// cluster (--processes) checkpoints every process at one cut
    /// into the same directory (one every process sees); it restores at any --workers and
    /// --processes (rows before the cut stay in the files of the old count: FILE.p0, …).
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Processing time between checkpoints (default 10s).
    #[arg(long, value_parser = parse_ticks, value_name = "DURATION", requires = "checkpoint_dir")]
    pub checkpoint_interval: Option<i64>,
    /// Discard the checkpoints in --checkpoint-dir and start from the beginning (a changed
    /// job is refused otherwise).
    #[arg(long, requires = "checkpoint_dir")]
    pub fresh: bool,
    /// Where to run: `--workers N`, and `--processes P --process I --hostfile FILE` for
    /// one process of a cluster (or start a local cluster with `highwater cluster`).
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Metrics (--metrics-addr) and the stall warning (--stall-warning).
    #[command(flatten)]
    pub observe: super::observe::ObserveArgs,
}

/// What a run did, printed at its end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files read.
    pub files: u64,
    /// Kafka partitions read (Kafka input).
    pub kafka_partitions: u64,
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
    /// Checkpoints written (with --checkpoint-dir), and their bytes.
    pub checkpoints: u64,
    /// The bytes of those checkpoints, over all workers.
    pub checkpoint_bytes: u64,
    /// Each source: records, dead letters, partitions, last watermark
    /// ([`Summary::source_table`]).
    pub sources: Vec<crate::runtime::metrics::SourceStatus>,
}

impl Summary {
    /// One line per source, under a header: its partitions read, records, dead letters
    /// and the last watermark it reached (what `highwater run` prints at its end).
    ///
    /// ```text
    /// source  partitions  records  dead letters  last watermark
    /// input   3           200000   2             1699999998000 ms = 2023-11-14T22:13:18.000Z
    /// ```
    pub fn source_table(&self) -> String {
        let rows: Vec<[String; 5]> = self
            .sources
            .iter()
            .map(|s| {
                [
                    s.name.clone(),
                    (s.partitions_done as usize + s.partitions.len()).to_string(),
                    s.records.to_string(),
                    s.dead_letters.to_string(),
                    crate::runtime::metrics::describe_watermark(s.last_watermark),
                ]
            })
            .collect();
        let header = ["source", "partitions", "records", "dead letters", "last watermark"].map(String::from);
        let mut widths = header.clone().map(|h| h.len());
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        for r in std::iter::once(&header).chain(&rows) {
            let line: Vec<String> = r.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let from = if self.files == 0 && self.kafka_partitions > 0 {
            format!("{} Kafka partition(s)", self.kafka_partitions)
        } else if self.files == 0 && self.connections > 0 {
            format!("{} connection(s)", self.connections)
        } else {
            format!("{} file(s)", self.files)
        };
        write!(
            f,
            "{} records read from {from}, {} panes emitted, {} late-dropped, {} malformed",
            self.records_read, self.panes_emitted, self.late_dropped, self.malformed
        )?;
        if self.checkpoints > 0 {
            write!(f, ", {} checkpoints written ({} bytes)", self.checkpoints, self.checkpoint_bytes)?;
        }
        Ok(())
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
    Strategy(StrategyError),
    /// A flag has a value that cannot work.
    #[error("--{flag}: {reason}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The cluster flags cannot work.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The workers could not start (a peer process out of reach) or did not finish (a peer
    /// process lost, a worker panicked).
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    /// The job could not be built (a file or header that cannot work, a socket that cannot
    /// be opened) or failed while running (an input that cannot be read, an output that
    /// cannot be written). The outputs hold what was written before the failure.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// Every line of the input was malformed: the flags do not fit the data.
    #[error("{0}")]
    Misfit(String),
    /// The pane diagram could not be drawn or written (the job's outputs are complete).
    #[error("--diagram: {0}")]
    Diagram(String),
    /// The run was stopped (a signal) before the end of its input; what was read was
    /// aggregated and flushed: the outputs are complete up to there, and no further.
    #[error("stopped before the end of the input; the output holds what was read until then: {0}")]
    Stopped(Summary),
}

// The strategy's error is in the message, not also its source: `{:#}` would print it twice.
impl From<StrategyError> for RunError {
    fn from(e: StrategyError) -> Self {
        RunError::Strategy(e)
    }
}

/// The largest `--batch-size`.
pub const MAX_BATCH: usize = Files::<()>::MAX_BATCH;

impl RunArgs {
    /// The requested aggregates in output order: count, then sums, mins, maxes, means
    /// (each in the order given, each field once). Count alone when none is requested.
    pub fn aggregates(&self) -> Vec<Aggregate> {
        let mut out = Vec::new();
        if self.count {
            out.push(Aggregate::Count);
        }
        out.extend(self.sum.iter().cloned().map(Aggregate::Sum));
        out.extend(self.min.iter().cloned().map(Aggregate::Min));
        out.extend(self.max.iter().cloned().map(Aggregate::Max));
        out.extend(self.mean.iter().cloned().map(Aggregate::Mean));
        let mut seen = Vec::new();
        out.retain(|a| {
            let new = !seen.contains(a);
            seen.push(a.clone());
            new
        });
        if out.is_empty() {
            out.push(Aggregate::Count);
        }
        out
    }

    /// The validated windowing strategy.
    pub fn strategy(&self) -> Result<WindowingStrategy, RunError> {
        self.windowing().strategy().map_err(|e| match e {
            BuildError::Strategy(s) => RunError::Strategy(s),
            BuildError::Window(w) => RunError::Strategy(StrategyError::Window(w)),
            other => RunError::Flag { flag: "window", reason: other.to_string() },
        })
    }

    /// The windowing of the pipeline: the DSL's one door, from the flags.
    fn windowing(&self) -> Windowing {
        // A negative lateness is refused by `validate`; here it cannot arise.
        let lateness = Duration::from_millis(self.allowed_lateness.max(0) as u64);
        Windowing::from_spec(self.window.clone())
            .trigger(self.trigger.clone())
            .allowed_lateness(lateness)
            .accumulation(self.accumulation)
            .timestamp_combiner(self.timestamp_combiner)
    }

    /// What each line must hold: the time, key and aggregated fields.
    pub(super) fn schema(&self, set: &AggregateSet) -> Schema {
        Schema {
            time_field: self.time_field.clone(),
            time_unit: self.time_unit,
            key_fields: self.key_field.clone(),
            value_fields: set.value_fields().to_vec(),
        }
    }

    /// What the job is, one `name: value` line per part: a checkpoint is restored only
    /// by the same job (the error names the first line that differs). The worker count
    /// is not part of it: a checkpoint restores at another.
    pub fn fingerprint(&self, inputs: &[PathBuf]) -> String {
        let inputs: Vec<String> = inputs.iter().map(|p| canonical(p).display().to_string()).collect();
        // A socket's address is not part of it: a restart may listen on another port.
        let inputs = if self.is_kafka() {
            // Neither the brokers (a restart may reach them elsewhere), the start (a resumed
            // run starts at its checkpoint) nor --kafka-stop-at-end (an unbounded run may be
            // resumed bounded, to drain the topic) are part of it.
            format!(
                "inputs: kafka topics {} (csv header: {})",
                self.kafka_topic.join(","),
                self.csv_header.as_deref().unwrap_or("none")
            )
        } else if self.is_socket() {
            format!("inputs: a socket (csv header: {})", self.csv_header.as_deref().unwrap_or("from each connection"))
        } else {
            format!("inputs: {}", inputs.join(" "))
        };
        let lines = [
            inputs,
            format!("format: {:?}", self.format),
            format!("time: {} ({:?})", self.time_field, self.time_unit),
            format!("keys: {}", self.key_field.join(",")),
            format!("aggregates: {:?}", self.aggregates()),
            format!("window: {}", self.window),
            format!("trigger: {}", self.trigger),
            format!("allowed lateness: {} ms", self.allowed_lateness),
            format!("accumulation: {:?}", self.accumulation),
            format!("timestamp combiner: {:?}", self.timestamp_combiner),
            format!(
                "watermark: {:?}",
                self.watermark.unwrap_or(WatermarkStrategy::BoundedOutOfOrderness(self.max_out_of_orderness))
            ),
            format!("batch size: {}", self.batch_size),
            format!("output: {}", self.output),
            format!("dead letters: {}", self.dead_letters.as_deref().unwrap_or("(none)")),
            format!("rfc3339: {}", self.rfc3339),
        ];
        lines.join("\n")
    }
    fn is_socket(&self) -> bool {
        self.listen.is_some() || self.connect.is_some()
    }
    fn is_kafka(&self) -> bool {
        self.kafka_brokers.is_some()
    }
    /// Input that arrives while the job runs: a socket, or Kafka without
    /// --kafka-stop-at-end.
    fn is_live(&self) -> bool {
        self.is_socket() || (self.is_kafka() && !self.kafka_stop_at_end)
    }

    /// Checks the flags that clap cannot: values in range, combinations that would be
    /// silently ignored.
    fn validate(&self) -> Result<(), RunError> {
        let flag = |flag: &'static str, reason: String| Err(RunError::Flag { flag, reason });
        if self.batch_size == 0 || self.batch_size > MAX_BATCH {
            return flag("batch-size", format!("{} lines: use 1 to {MAX_BATCH}", self.batch_size));
        }
        if self.max_out_of_orderness < 0 {
            return flag(
                "max-out-of-orderness",
                "a negative bound would drop in-order records as late; use 0 or more".into(),
            );
        }
        if let Some(WatermarkStrategy::BoundedOutOfOrderness(b)) = self.watermark {
            if b < 0 {
                return flag("watermark", "bounded(D) needs D ≥ 0: a negative bound drops in-order records".into());
            }
        }
        if self.allowed_lateness < 0 {
            return flag("allowed-lateness", "must be 0 or more".into());
        }
        if !self.is_socket() && !self.is_kafka() {
            if self.idle_timeout.is_some() {
                return flag(
                    "idle-timeout",
                    "only applies to a socket (--listen/--connect) or Kafka: a file is never idle".into(),
                );
            }
            if self.csv_header.is_some() {
                return flag(
                    "csv-header",
                    "only applies to a socket or Kafka; files start with their header line".into(),
                );
            }
        }
        if self.max_clients.is_some() && !self.is_socket() {
            return flag("max-clients", "only applies to --listen".into());
        }
        if !self.is_kafka() {
            for (name, set) in
                [("kafka-timeout", self.kafka_timeout.is_some()), ("kafka-retry-for", self.kafka_retry_for.is_some())]
            {
                if set {
                    return flag(name, "only applies to Kafka input (--kafka-brokers)".into());
                }
            }
        }
        for (name, t) in [("kafka-timeout", self.kafka_timeout), ("kafka-retry-for", self.kafka_retry_for)] {
            if t.is_some_and(|t| t <= 0) {
                return flag(name, "must be positive (e.g. 10s)".into());
            }
        }
        if self.is_kafka() && self.format == Some(Format::Csv) && self.csv_header.is_none() {
            return flag(
                "csv-header",
                "CSV Kafka messages are one record each, without a header line: name the fields with --csv-header a,b,c"
                    .into(),
            );
        }
        if self.checkpoint_dir.is_some() && self.connect.is_some() {
            return flag(
                "checkpoint-dir",
                "a connection to a server cannot be resumed (the server would send its stream again from its start): with checkpoints, use --listen (each connection is journaled) or --input files".into(),
            );
        }
        if self.checkpoint_interval.is_some_and(|t| t <= 0) {
            return flag("checkpoint-interval", "must be positive (e.g. 10s)".into());
        }
        if let Some(t) = self.idle_timeout {
            if t <= 0 {
                return flag("idle-timeout", "must be positive (e.g. 5s)".into());
            }
        }
        let max_windows = self.window.max_windows_per_record();
        if max_windows > MAX_WINDOWS_PER_RECORD {
            return flag(
                "window",
                format!(
                    "{} puts each record in {max_windows} windows (at most {MAX_WINDOWS_PER_RECORD}): make the period larger",
                    self.window
                ),
            );
        }
        Ok(())
    }
}

/// The most windows one record may fall into (`sliding(SIZE, PERIOD)`: SIZE / PERIOD).
pub const MAX_WINDOWS_PER_RECORD: u64 = 10_000;

/// A path compared by what it names (`Err` when it does not exist yet: then by its
/// parent's canonical path and its name).
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(p), Some(name)) => p.join(name),
        _ => path.to_path_buf(),
    }
}

/// Refuses outputs that would destroy an input or tear each other's lines.
fn check_outputs(inputs: &[PathBuf], output: &str, dead: Option<&str>) -> Result<(), RunError> {
    let files: Vec<(&'static str, &str)> =
        [("output", Some(output)), ("dead-letters", dead)].into_iter().filter_map(|(f, p)| Some((f, p?))).collect();
    let named: Vec<(&'static str, PathBuf)> =
        files.iter().filter(|(_, p)| *p != "-").map(|(f, p)| (*f, canonical(Path::new(p)))).collect();
    for (flag, out) in &named {
        for input in inputs.iter().filter(|p| !is_stdin(p)) {
            if canonical(input) == *out {
                return Err(RunError::Flag {
                    flag,
                    reason: format!(
                        "`{}` is also an input: writing it would destroy it before it is read; choose another path",
                        input.display()
                    ),
                });
            }
        }
    }
    if let [(_, a), (_, b)] = named.as_slice() {
        if a == b {
            return Err(RunError::Flag {
                flag: "dead-letters",
                reason: format!("`{}` is also --output: give the dead letters a file of their own", a.display()),
            });
        }
    }
    Ok(())
}

/// The source of a run: files, a socket or Kafka, decoding lines with the run's schema.
#[derive(Clone)]
enum Input {
    Files(Files<(RunKey, crate::format::Values)>),
    Tcp(Tcp<(RunKey, crate::format::Values)>),
    Kafka(Kafka<(RunKey, crate::format::Values)>),
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
/// assert!(text.contains(r#"{"key":"a","window":{"start":0,"end":10000},"value":{"count":2,"max_price":7},"timestamp":9999,"#));
/// ```
pub fn run(args: &RunArgs) -> Result<Summary, RunError> {
    run_with(args, |_| {})
}

/// [`run`], calling `started` with the run's live counters before it starts: a progress
/// display of your own, or a handler that stops the run gracefully
/// ([`crate::pipeline::Progress::stop`]: the sources stop reading, the open windows are
/// flushed, and the run returns [`RunError::Stopped`]).
pub fn run_with(args: &RunArgs, started: impl FnOnce(Arc<crate::pipeline::Progress>)) -> Result<Summary, RunError> {
    args.validate()?;
    let mut config = args.observe.apply(args.cluster.config()?);
    let set = AggregateSet::new(args.aggregates());
    let schema = args.schema(&set);
    args.strategy()?;
    let windowing = args.windowing();
    let watermark = args.watermark.unwrap_or(WatermarkStrategy::BoundedOutOfOrderness(args.max_out_of_orderness));
    let kafka_output = kafka_output(&args.output)?;
    if args.kafka_exactly_once && kafka_output.is_none() {
        return Err(RunError::Flag {
            flag: "kafka-exactly-once",
            reason: "only applies to Kafka output (--output kafka://HOSTS/TOPIC)".into(),
        });
    }
    let output = match kafka_output {
        Some(_) => "-".to_string(),
        None => args.cluster.output_path(&args.output),
    };
    let dead_path = args.dead_letters.as_deref().map(|p| args.cluster.output_path(p));
    let socket = args.is_socket();
    let live = args.is_live();

    let (input, files) = if args.is_kafka() {
        (Input::Kafka(kafka_source(args, schema.clone(), watermark)?), Vec::new())
    } else if socket {
        (Input::Tcp(tcp_source(args, schema.clone(), watermark)?), Vec::new())
    } else {
        let files = expand_inputs_with(&args.input, args.format.is_some())?;
        check_outputs(&files, &output, dead_path.as_deref())?;
        if files.iter().any(|f| is_stdin(f)) && args.format.is_none() {
            return Err(RunError::Flag {
                flag: "format",
                reason: "standard input has no file name to tell the format from: pass --format csv or --format jsonl"
                    .into(),
            });
        }
        let inputs: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        let source = match args.format {
            Some(f) => Files::of_format(inputs, f),
            None => Files::by_name(inputs),
        };
        (Input::Files(source.decoder(schema.clone()).watermark(watermark).batch_size(args.batch_size)), files)
    };
    if socket || args.is_kafka() {
        check_outputs(&[], &output, dead_path.as_deref())?;
    }
    if let Some(dir) = &args.checkpoint_dir {
        let mut checkpoints = RunCheckpoints::new(CheckpointConfig::new(dir)).fingerprint(args.fingerprint(&files));
        if let Some(ms) = args.checkpoint_interval {
            checkpoints = checkpoints.interval(Duration::from_millis(ms.max(1) as u64));
        }
        if args.fresh {
            checkpoints = checkpoints.fresh();
        }
        config = config.checkpoints(checkpoints);
    }

    let progress_counters = config.progress();
    let total_bytes = if files.iter().any(|f| is_gzip(f) || is_stdin(f)) {
        None
    } else {
        files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).ok()).sum::<Option<u64>>()
    };
    let bar = Progress::start(
        progress_counters.clone(),
        total_bytes,
        !files.is_empty() && !args.no_progress && super::progress::wanted(args.output == "-"),
    );
    started(progress_counters.clone());

    let panes = Arc::new(AtomicU64::new(0));
    let keyless = args.key_field.is_empty();
    let rows = if args.rfc3339 { RowFormat::default().rfc3339() } else { RowFormat::default() };
    let (src, counted) = (input.clone(), panes.clone());
    let recorder = args.diagram.as_ref().map(|_| {
        let axis = if socket { super::diagram::Axis::Millis } else { super::diagram::Axis::Stamps };
        super::diagram::Recorder::new(args.diagram_key.clone(), axis)
    });
    let tap = recorder.clone();
    let exactly_once = args.kafka_exactly_once;
    let result = crate::pipeline::run(config, move |p| {
        let mut records = match &src {
            Input::Files(f) => p.read_keyed("input", f.clone())?,
            Input::Tcp(t) => p.read_keyed("input", t.clone())?,
            Input::Kafka(k) => p.read_keyed("input", k.clone())?,
        };
        let set = set.clone();
        if let Some(r) = &tap {
            records = r.tap_records(records);
        }
        let mut panes = records.window(windowing.clone()).aggregate("run", set.clone())?;
        if let Some(r) = &tap {
            let set = set.clone();
            panes = r.tap_panes(panes, move |out, v| set.write_json_object(out, v));
        }
        let counted = counted.clone();
        if let Some((brokers, topic)) = &kafka_output {
            let delivery = if exactly_once { Delivery::ExactlyOnce } else { Delivery::AtLeastOnce };
            let set = set.clone();
            let sink = KafkaSink::with_messages(
                brokers.clone(),
                topic.clone(),
                move |p: &Pane<RunKey, AggregateValues>, key: &mut Vec<u8>, line: &mut String| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    let mut k = String::new();
                    if keyless {
                        k.push_str("null")
                    } else {
                        p.key.write_json(&mut k)
                    }
                    key.extend_from_slice(k.as_bytes());
                    let write_key =
                        |out: &mut String, k: &RunKey| if keyless { out.push_str("null") } else { k.write_json(out) };
                    write_pane_row(line, p, write_key, |out, v| set.write_json_object(out, v), &rows);
                },
            )
            .delivery(delivery);
            panes.write(sink);
            if let Some(path) = &dead_path {
                let mut sink = JsonLines::file(path).rows_with(rows);
                if live {
                    sink = sink.live();
                }
                p.dead_letters().write(sink);
            }
            return Ok(());
        }
        let mut sink = JsonLines::file(&output).lines(move |p: &Pane<RunKey, AggregateValues>, line: &mut String| {
            counted.fetch_add(1, Ordering::Relaxed);
            // The one pane row (crate::row), the key typed (`null` without key fields) and
            // the aggregates as one object.
            let key = |out: &mut String, k: &RunKey| if keyless { out.push_str("null") } else { k.write_json(out) };
            write_pane_row(line, p, key, |out, v| set.write_json_object(out, v), &rows);
        });
        if live {
            sink = sink.live();
        }
        panes.write(sink);
        if let Some(path) = &dead_path {
            let mut sink = JsonLines::file(path).rows_with(rows);
            if live {
                sink = sink.live();
            }
            p.dead_letters().write(sink);
        }
        Ok(())
    });
    bar.finish();
    let summary = |s: RunSummary| Summary {
        files: files.len() as u64,
        kafka_partitions: match &input {
            Input::Kafka(_) => {
                progress_counters.status().sources.iter().map(|s| s.partitions_done + s.partitions.len() as u64).sum()
            }
            _ => 0,
        },
        connections: match &input {
            Input::Tcp(t) => t.connections(),
            _ => 0,
        },
        records_read: s.records_read,
        panes_emitted: panes.load(Ordering::Relaxed),
        late_dropped: progress_counters.late(),
        malformed: progress_counters.bad_input(),
        checkpoints: s.checkpoints,
        checkpoint_bytes: s.checkpoint_bytes,
        sources: progress_counters.status().sources,
    };
    if let (Some(path), Some(recorder), Ok(_)) = (&args.diagram, &recorder, &result) {
        let path = args.cluster.output_path(&path.display().to_string());
        let subtitle = format!(
            "{} · {} · {:?} · allowed lateness {} ms",
            args.window, args.trigger, args.accumulation, args.allowed_lateness
        );
        let svg = recorder
            .svg("highwater run", &subtitle)
            .ok_or_else(|| RunError::Diagram(format!("no record was read, so `{path}` is not drawn")))?;
        std::fs::write(&path, svg).map_err(|e| {
            RunError::Diagram(format!("cannot write `{path}`: {e}; check the directory exists and is writable"))
        })?;
    }
    match result {
        Ok(s) => {
            // A resumed run reads only the rest of the input: a tail of malformed lines
            // says nothing about the flags.
            if let Some(why) = misfit(&progress_counters).filter(|_| s.restored_from.is_none()) {
                return Err(RunError::Misfit(why));
            }
            Ok(summary(s))
        }
        Err(PipelineError::Stopped(s)) => Err(RunError::Stopped(summary(s))),
        Err(e) => Err(e.into()),
    }
}

/// The socket source of a run.
fn tcp_source(
    args: &RunArgs,
    schema: Schema,
    watermark: WatermarkStrategy,
) -> Result<Tcp<(RunKey, crate::format::Values)>, RunError> {
    let Some(format) = args.format else {
        return Err(RunError::Flag {
            flag: "format",
            reason: "a socket has no file name to tell the format from: pass --format csv or --format jsonl".into(),
        });
    };
    let mut source = match (&args.listen, &args.connect) {
        // Worker 0 reads the connections; it runs in the first process, which binds now
        // so that the address (a free port for port 0) can be told.
        (Some(address), _) if args.cluster.process == 0 => {
            let s = Tcp::bind(address).map_err(|e| RunError::Flag { flag: "listen", reason: e.to_string() })?;
            if let Some(a) = s.local_addr() {
                eprintln!("highwater run: listening on {a}");
            }
            s
        }
        (Some(address), _) => Tcp::listen(address.clone()),
        (None, Some(address)) => Tcp::connect(address.clone()),
        (None, None) => {
            return Err(RunError::Flag { flag: "listen", reason: "give --listen ADDR or --connect ADDR".into() })
        }
    };
    source = source.decoder(schema).watermark(watermark).batch_size(args.batch_size);
    if format == Format::Csv {
        source = match &args.csv_header {
            Some(names) => source.csv_with_header(names.split(',').map(|n| n.trim().to_string())),
            None => source.csv(),
        };
    }
    if let Some(n) = args.max_connections {
        source = source.max_connections(n);
    }
    source = source.max_clients(args.max_clients.unwrap_or(Tcp::<()>::DEFAULT_MAX_CLIENTS));
    if let Some(ms) = args.idle_timeout {
        source = source.idle_timeout(Duration::from_millis(ms.max(0) as u64));
    }
    Ok(source)
}

/// `kafka://HOSTS/TOPIC`: the brokers and topic of Kafka output (`None`: not Kafka).
fn kafka_output(output: &str) -> Result<Option<(String, String)>, RunError> {
    let Some(rest) = output.strip_prefix("kafka://") else { return Ok(None) };
    match rest.rsplit_once('/') {
        Some((brokers, topic)) if !brokers.is_empty() && !topic.is_empty() => {
            Ok(Some((brokers.to_string(), topic.to_string())))
        }
        _ => Err(RunError::Flag {
            flag: "output",
            reason: format!("`{output}`: write kafka://HOST:PORT[,HOST:PORT]/TOPIC"),
        }),
    }
}

/// The Kafka source of a run.
fn kafka_source(
    args: &RunArgs,
    schema: Schema,
    watermark: WatermarkStrategy,
) -> Result<Kafka<(RunKey, crate::format::Values)>, RunError> {
    let Some(brokers) = args.kafka_brokers.clone() else {
        return Err(RunError::Flag { flag: "kafka-brokers", reason: "give the brokers, HOST:PORT[,HOST:PORT]".into() });
    };
    let format = match args.format {
        Some(f) => f,
        None => {
            return Err(RunError::Flag {
                flag: "format",
                reason: "Kafka messages have no file name to tell the format from: pass --format jsonl (or csv with --csv-header)".into(),
            })
        }
    };
    let mut source = Kafka::new(brokers, args.kafka_topic.clone())
        .decoder(schema)
        .watermark(watermark)
        .batch_size(args.batch_size)
        .start_at(args.kafka_start.clone());
    if format == Format::Csv {
        let names = args.csv_header.as_deref().unwrap_or_default();
        source = source.csv_with_header(names.split(',').map(|n| n.trim().to_string()));
    }
    if args.kafka_stop_at_end {
        source = source.stop_at_end();
    }
    if let Some(g) = &args.kafka_group {
        source = source.group(g.clone());
    }
    if let Some(ms) = args.kafka_timeout {
        source = source.connect_timeout(Duration::from_millis(ms.max(1) as u64));
    }
    if let Some(ms) = args.kafka_retry_for {
        source = source.retry_for(Duration::from_millis(ms.max(1) as u64));
    }
    if let Some(ms) = args.idle_timeout {
        source = source.idle_timeout(Duration::from_millis(ms.max(0) as u64));
    }
    Ok(source)
}

/// When every line of a run's input was malformed and no record was read, the flags do not
/// fit the data (a wrong `--time-unit` or field name): why, and which flags to check.
fn misfit(progress: &crate::pipeline::Progress) -> Option<String> {
    let (good, bad) = (progress.records(), progress.bad_input());
    (good == 0 && bad > 0).then(|| {
        format!(
            "all {bad} lines were malformed and no record was read: the flags do not fit the data; check --time-field, --time-unit (ms, s or rfc3339), --key-field, the aggregates' fields and --format against the input (pass --dead-letters PATH to see why each line failed)"
        )
    })
}
