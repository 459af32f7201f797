//! `highwater nexmark`: generate Nexmark events, or run a Nexmark query over generated
//! events or a replayed file.

use super::cluster::{ClusterArgs, ClusterError};
use crate::nexmark::queries::{self, QueryConfig};
use crate::nexmark::{write_bids_csv, write_events, Bid, Event, Format, Generator};
use crate::pipeline::{pane_row, run as run_pipeline, Collection, Files, JsonLines, PipelineError, Sink};
use crate::runtime::checkpoint::{CheckpointConfig, RunCheckpoints};
use highwater_operators::duration::parse_ticks;
use highwater_operators::watermark::WatermarkStrategy;
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The queries `highwater nexmark --query` runs.
pub const QUERIES: &[&str] = &["q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q11", "q12"];

/// What `highwater nexmark generate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GenerateFormat {
    /// All events, one CSV row each led by its kind.
    Csv,
    /// All events as JSON lines (`{"kind":"bid",...}`).
    Jsonl,
    /// Bids only: `auction,bidder,price,date_time_ms` with a header (what `highwater run`
    /// and the benchmarks replay).
    BidsCsv,
}

/// Arguments of `highwater nexmark generate`.
#[derive(clap::Args, Clone, Debug)]
pub struct GenerateArgs {
    /// Number of events (persons, auctions and bids in Nexmark's 1:3:46 proportion).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: GenerateFormat,
    /// Output file (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Arguments of `highwater nexmark --query`.
#[derive(clap::Args, Clone, Debug)]
pub struct QueryArgs {
    /// The query: q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q11 or q12.
    #[arg(long)]
    pub query: Option<String>,
    /// Generated events to run over (ignored with --input).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Replay a file instead: events as JSON lines (`.jsonl`), or bids as
    /// `auction,bidder,price,date_time_ms` CSV (`.csv`).
    #[arg(long)]
    pub input: Option<String>,
    /// Watermark bound for replayed files (e.g. 2s).
    #[arg(long, default_value = "0")]
    pub max_out_of_orderness: String,
    /// Write results as JSON lines to this file, `-` for standard output, or `none` to
    /// only count them (benchmarks).
    #[arg(long, default_value = "-")]
    pub output: String,
    /// Take checkpoints in this directory (created if missing), and resume from its
    /// newest intact checkpoint, as `highwater run --checkpoint-dir` does: rerunning the
    /// same command after a crash or a kill continues the generator (or the replayed
    /// file) where the checkpoint left each partition and writes exactly the --output file
    /// of a run never interrupted. Standard output is at-least-once after a resume. Every
    /// query (q8's changelog rows sum to the same collection, every change once; their
    /// `time` column is a progress time the cuts can move); in a cluster
    /// every process takes part (the directory must be one they all see); a generated run
    /// restores at the total worker count it was checkpointed at (the generator's
    /// partitions are four per worker).
    #[arg(long, value_name = "DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Processing time between checkpoints (default 10s).
    #[arg(long, value_parser = parse_ticks, value_name = "DURATION", requires = "checkpoint_dir")]
    pub checkpoint_interval: Option<i64>,
    /// Discard the checkpoints in --checkpoint-dir and start from the beginning (a changed
    /// job is refused otherwise).
    #[arg(long, requires = "checkpoint_dir")]
    pub fresh: bool,
    /// Where to run.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Metrics and the stall warning.
    #[command(flatten)]
    pub observe: super::observe::ObserveArgs,
}

impl QueryArgs {
    /// What the job is, one `name: value` line per part: a checkpoint is restored only by
    /// the same job (the error names the first line that differs). `partitions` is the
    /// generator's partition count (four per worker): the generator's positions are
    /// per partition.
    pub fn fingerprint(&self, partitions: u64) -> String {
        let input = match &self.input {
            Some(path) => format!("input: {}", canonical(std::path::Path::new(path)).display()),
            None => format!("input: {} generated events in {partitions} partitions", self.events),
        };
        [
            format!("nexmark query: {}", self.query.as_deref().unwrap_or("")),
            input,
            format!("max out of orderness: {}", self.max_out_of_orderness),
            format!("output: {}", self.output),
        ]
        .join("\n")
    }
}

/// A path compared by what it names (as given when it cannot be resolved).
fn canonical(path: &std::path::Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// What went wrong in `highwater nexmark`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NexmarkError {
    /// An unknown query.
    #[error("unknown query `{0}`; use one of q0, q1, q2, q3, q4, q5, q6, q7, q8, q9, q11, q12")]
    UnknownQuery(String),
    /// Bad flags.
    #[error("{0}")]
    Flag(String),
    /// Cluster flags.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The pipeline failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// Output could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Writes generated events.
pub fn generate(args: &GenerateArgs) -> Result<u64, NexmarkError> {
    let generator = Generator::default();
    let name = args.output.as_ref().map_or("standard output".to_string(), |p| p.display().to_string());
    let io = |source| NexmarkError::Io { path: name.clone(), source };
    let out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::fs::File::create(p).map_err(io)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let range = 0..args.events;
    match args.format {
        GenerateFormat::Csv => write_events(&generator, range, Format::Csv, out),
        GenerateFormat::Jsonl => write_events(&generator, range, Format::JsonLines, out),
        GenerateFormat::BidsCsv => write_bids_csv(&generator, range, out),
    }
    .map_err(io)
}

/// The bid rows of `highwater nexmark generate --format bids-csv`.
#[derive(Clone, Debug, serde::Deserialize, Serialize)]
struct BidRowCsv {
    auction: u64,
    bidder: u64,
    price: u64,
    date_time_ms: i64,
}

/// A summary of a query run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuerySummary {
    /// Events read (generated or replayed) by this process.
    pub events: u64,
    /// Result rows written by this process.
    pub results: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Input lines that did not make an event (and records dropped as too late).
    pub dead_letters: u64,
}

impl std::fmt::Display for QuerySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events, {} results, {:.3} s, {:.2} M events/s",
            self.events,
            self.results,
            self.seconds,
            self.events as f64 / self.seconds.max(1e-9) / 1e6
        )?;
        if self.dead_letters > 0 {
            write!(
                f,
                "; {} dead letters (lines that are not events, or too-late records): a .csv input must be a bid file `auction,bidder,price,date_time_ms` (`nexmark generate --format bids-csv`); replay all event kinds from .jsonl (`--format jsonl`)",
                self.dead_letters
            )?;
        }
        Ok(())
    }
}

struct Counting<S> {
    inner: Option<S>,
    count: Arc<AtomicU64>,
}

impl<T: crate::pipeline::Data, S: Sink<T>> Sink<T> for Counting<S> {
    fn attach(self, c: Collection<'_, T>) {
        use timely::dataflow::channels::pact::Pipeline;
        use timely::dataflow::operators::generic::Operator;
        let count = self.count.clone();
        let counted = c.clone();
        counted.stream().sink(Pipeline, "count-results", move |(input, _)| {
            input.for_each(|_, d| {
                count.fetch_add(d.len() as u64, Ordering::Relaxed);
            });
        });
        if let Some(s) = self.inner {
            s.attach(c);
        }
    }
}

/// Runs one query.
pub fn query(args: &QueryArgs) -> Result<QuerySummary, NexmarkError> {
    let q = args.query.clone().ok_or_else(|| {
        NexmarkError::Flag(
            "give --query q0|q1|q2|q3|q4|q5|q6|q7|q8|q9|q11|q12, or use `highwater nexmark generate`".into(),
        )
    })?;
    if !QUERIES.contains(&q.as_str()) {
        return Err(NexmarkError::UnknownQuery(q));
    }
    let mut config = args.observe.apply(args.cluster.config()?);
    if let Some(dir) = &args.checkpoint_dir {
        if args.checkpoint_interval.is_some_and(|t| t <= 0) {
            return Err(NexmarkError::Flag("--checkpoint-interval: must be positive (e.g. 10s)".into()));
        }
        let partitions = (args.cluster.workers * args.cluster.processes).max(1) as u64 * 4;
        let mut checkpoints = RunCheckpoints::new(CheckpointConfig::new(dir)).fingerprint(args.fingerprint(partitions));
        if let Some(ms) = args.checkpoint_interval {
            checkpoints = checkpoints.interval(std::time::Duration::from_millis(ms.max(1) as u64));
        }
        if args.fresh {
            checkpoints = checkpoints.fresh();
        }
        config = config.checkpoints(checkpoints);
    }
    let bound: WatermarkStrategy = args.max_out_of_orderness.parse().map_err(NexmarkError::Flag)?;
    let results = Arc::new(AtomicU64::new(0));
    let (input, events, output, res) = (args.input.clone(), args.events, args.output.clone(), results.clone());
    // Every process builds the same graph (a sink attached on one process only would stall
    // the others); each writes what its own workers produced.
    let output = if output == "none" { output } else { args.cluster.output_path(&output) };
    let generator = Arc::new(Generator::default());
    let start = std::time::Instant::now();
    let summary = run_pipeline(config, move |p| {
        let peers = p.peers() as u64;
        let events: Collection<'_, Event> = match &input {
            None => p.read("events", queries::events(generator.clone(), events, peers.max(1) * 4))?,
            Some(path) if path.ends_with(".jsonl") || path.ends_with(".jsonl.gz") => p.read(
                "events",
                Files::<Event>::json_lines([path.clone()]).event_time(Event::date_time).watermark(bound),
            )?,
            Some(path) => p
                .read(
                    "bids",
                    Files::<BidRowCsv>::csv([path.clone()]).event_time(|b: &BidRowCsv| b.date_time_ms).watermark(bound),
                )?
                .map(|b| {
                    Event::Bid(Bid {
                        auction: b.auction,
                        bidder: b.bidder,
                        price: b.price,
                        channel: "".into(),
                        url: "".into(),
                        date_time: b.date_time_ms,
                        extra: Default::default(),
                    })
                }),
        };
        let sink_for = |_: ()| -> Option<String> {
            if output == "none" {
                None
            } else {
                Some(output.clone())
            }
        };
        let c = QueryConfig::default();
        macro_rules! write {
            ($coll:expr, $fmt:expr) => {{
                let target = sink_for(());
                let json = target.map(|t| if t == "-" { JsonLines::stdout() } else { JsonLines::file(t) }.format($fmt));
                $coll.write(Counting { inner: json, count: res.clone() });
            }};
        }
        match q.as_str() {
            "q0" => write!(queries::q0(events), |e: &Event| serde_json::to_value(e).unwrap_or_default()),
            "q1" => write!(queries::q1(events), |b: &Bid| serde_json::to_value(b).unwrap_or_default()),
            "q2" => write!(
                queries::q2(events, c.auction_skip),
                |x: &(u64, u64)| serde_json::json!({"auction": x.0, "price": x.1})
            ),
            "q3" => {
                write!(queries::q3(events)?, |r: &queries::NameCityStateId| serde_json::to_value(r).unwrap_or_default())
            }
            "q4" => write!(queries::q4(events, c)?, |r: &queries::CategoryPrice| serde_json::to_value(r)
                .unwrap_or_default()),
            "q5" => write!(queries::q5(events, c)?, pane_row),
            "q6" => {
                write!(queries::q6(events)?, |r: &queries::SellerPrice| serde_json::to_value(r).unwrap_or_default())
            }
            "q7" => write!(queries::q7(events, c)?, pane_row),
            "q8" => write!(queries::q8(events, c)?.into_rows(), |r: &crate::pipeline::ChangeRow<
                u64,
                (String, u64),
            >| serde_json::json!({
                "person": r.key, "window": [r.window.start, r.window.end], "name": r.value.0, "auctions": r.value.1, "diff": r.diff
            })),
            "q9" => write!(queries::q9(events)?, |r: &crate::nexmark::AuctionBid| serde_json::to_value(r)
                .unwrap_or_default()),
            "q11" => write!(queries::q11(events, c)?, pane_row),
            _ => write!(queries::q12(events, c)?, pane_row),
        }
        Ok(())
    })?;
    Ok(QuerySummary {
        events: summary.records_read,
        results: results.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
        dead_letters: summary.dead_letters,
    })
}
