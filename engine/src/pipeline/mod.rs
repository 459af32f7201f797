//! # The pipeline DSL
//!
//! A typed builder that compiles into a timely dataflow. The pipeline function runs inside
//! every worker and adds operators as it goes (the way timely programs are written); the
//! graph is the same on every worker. A pipeline reads from sources, transforms records
//! (`map`, `filter`, `flat_map`, `with_event_time`), keys them, windows them with a
//! trigger, allowed lateness, accumulation mode and timestamp combiner, aggregates them
//! with a built-in or custom combiner, and writes the panes to sinks. Too-late and
//! malformed records go to the dead-letter output, counted.
//!
//! ```
//! use highwater::pipeline::{run, Collector, Memory, RunConfig, Windowing};
//! use highwater::model::watermark::WatermarkStrategy;
//! use highwater::model::trigger::Trigger;
//!
//! #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
//! struct Bid { auction: u64, price: u64, time: i64 }
//!
//! let bids: Vec<(i64, Bid)> = (0..100)
//!     .map(|i| (i * 100, Bid { auction: (i % 3) as u64, price: i as u64, time: i * 100 }))
//!     .collect();
//! let out = Collector::new();
//! let sink = out.clone();
//! let summary = run(RunConfig::workers(2), move |p| {
//!     let source = Memory::new(vec![bids.clone()], WatermarkStrategy::BoundedOutOfOrderness(500));
//!     p.read("bids", source)?
//!         .key_by(|b: &Bid| b.auction)
//!         .window(Windowing::fixed(1_000).trigger(Trigger::Default))
//!         .count("bids-per-auction")?
//!         .write(sink.clone());
//!     Ok(())
//! })
//! .unwrap();
//! let panes = out.take();
//! let total: u64 = panes.iter().map(|(_, p)| p.value).sum();
//! assert_eq!(total, 100);
//! assert_eq!(summary.records_read, 100);
//! ```

mod changelog;
mod collection;
mod csv_sink;
mod dead_letter;
pub(crate) mod files;
mod heartbeat;
mod progress;
mod reader;
mod runtime;
mod sink;
mod source;
mod tcp;
mod tcp_connection;
mod tcp_sink;

pub use changelog::{ChangeRow, ChangeValue, Changelog, Upsert};
pub use collection::{key_hash, Collection, Data, Key, Keyed, Windowed, Windowing};
pub use csv_sink::CsvFile;
pub use dead_letter::{DeadLetter, DeadLetterKind, Location};
pub use files::{Files, MAX_LINE};
pub use progress::Progress;
pub use runtime::{execute, ExecutionError};
pub use sink::{pane_row, Collector, JsonLines, Sink};
pub use source::{Batch, Generated, Live, Memory, Partition, Source, Waker};
pub use tcp::{socket_addresses, StopHandle, Tcp, TcpError};

pub use tcp_sink::TcpSink;

use highwater_operators::clock::{Clock, SystemClock};
use highwater_operators::time::Time;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use timely::dataflow::operators::Concatenate;
use timely::dataflow::{Scope, Stream};

/// A pipeline that cannot be built, with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two steps share a name.
    #[error("two steps are named `{0}`: every stateful step needs a unique name")]
    DuplicateName(String),
    /// An invalid window.
    #[error("invalid window: {0}")]
    Window(#[from] highwater_operators::window::WindowError),
    /// An invalid windowing strategy (trigger, lateness, window).
    #[error("invalid windowing strategy: {0}")]
    Strategy(#[from] highwater_operators::strategy::StrategyError),
    /// The same, in a named step.
    #[error("step `{step}`: {message}")]
    Step {
        /// The step.
        step: String,
        /// What is wrong.
        message: String,
    },
    /// A source could not be opened.
    #[error("source `{step}`: {message}")]
    Source {
        /// The source step.
        step: String,
        /// Why.
        message: String,
    },
}

impl BuildError {
    pub(crate) fn in_step(self, step: &str) -> BuildError {
        BuildError::Step { step: step.to_string(), message: self.to_string() }
    }
}

/// A pipeline run that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The pipeline could not be built.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Timely could not start, or a worker failed.
    #[error("the dataflow failed: {0}")]
    Dataflow(String),
    /// The workers could not start (a peer process out of reach) or did not finish (a
    /// peer process lost, a worker panicked).
    #[error(transparent)]
    Execution(#[from] ExecutionError),
    /// Problems reported while running (an input that could not be read, an output that
    /// could not be written): the run stopped at the first; outputs hold what was written
    /// before it.
    #[error("{}", .0.join("; "))]
    Runtime(Vec<String>),
    /// The configuration cannot work (e.g. a worker count out of range).
    #[error("{0}")]
    Config(String),
    /// The run was asked to stop ([`Progress::stop`], a signal) and did: the sources
    /// stopped reading and every open window was flushed. The outputs are complete up to
    /// where the inputs were read, no further.
    #[error("stopped before the end of the input ({} records read)", .0.records_read)]
    Stopped(RunSummary),
}

/// Where a pipeline runs: worker threads of this process, or one process of a cluster.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Worker threads in this process (1 to [`RunConfig::MAX_WORKERS`]).
    pub workers: usize,
    /// This process's index and every process's `host:port` (empty: a single process).
    pub cluster: Option<(usize, Vec<String>)>,
    /// How long a process of a cluster waits for its peers at start-up before it fails
    /// naming the missing one (default [`RunConfig::DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: std::time::Duration,
    /// How long a process of a cluster waits without a heartbeat from a running peer
    /// before it fails the run naming it (default [`RunConfig::DEFAULT_PEER_TIMEOUT`]; see
    /// [`execute`]).
    pub peer_timeout: std::time::Duration,
    progress: Arc<Progress>,
}

impl RunConfig {
    /// The default start-up deadline of a cluster.
    pub const DEFAULT_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
    /// The default time without a heartbeat after which a peer is declared hung.
    pub const DEFAULT_PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
    /// The shortest peer timeout (shorter ones are raised to it): several heartbeats must
    /// fit in it.
    pub const MIN_PEER_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
    /// The most worker threads a process may run (timely's channels grow with the square
    /// of the worker count: more workers than cores only cost memory).
    pub const MAX_WORKERS: usize = 256;
    /// `n` worker threads in this process (more than [`RunConfig::MAX_WORKERS`], or 0,
    /// fails the run with a clear error).
    pub fn workers(n: usize) -> Self {
        RunConfig {
            workers: n,
            cluster: None,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            peer_timeout: Self::DEFAULT_PEER_TIMEOUT,
            progress: Arc::default(),
        }
    }
    /// Process `process` of a cluster whose processes listen at `addresses`, each with
    /// `workers` threads. Timely's ports are unauthenticated: bind them to loopback or a
    /// private network.
    pub fn cluster(workers: usize, process: usize, addresses: Vec<String>) -> Self {
        RunConfig { cluster: Some((process, addresses)), ..Self::workers(workers) }
    }
    /// Sets the start-up deadline of a cluster.
    pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// Sets how long a process of a cluster waits without a heartbeat from a peer (one
    /// that is stopped, frozen or cut off keeps its connections open) before the run
    /// fails with [`ExecutionError::PeerUnresponsive`]; at least
    /// [`RunConfig::MIN_PEER_TIMEOUT`]. A single process sends no heartbeat.
    pub fn peer_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.peer_timeout = timeout.max(Self::MIN_PEER_TIMEOUT);
        self
    }
    /// The live counters of the run this configuration starts (records read, dead
    /// letters, bytes, the sources' watermark), and the handle that stops it gracefully.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }
}

/// Counters of a run, summed over the workers of this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Records read by the sources.
    pub records_read: u64,
    /// Dead letters (malformed input, too-late or closed-window elements).
    pub dead_letters: u64,
}

/// What the workers of one run share: the live counters, the problems that fail the run,
/// and the run's open output files (one writer per path, shared by the workers).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) progress: Arc<Progress>,
    problems: Mutex<Vec<String>>,
    pub(crate) outputs: sink::Outputs,
}

impl Counters {
    /// A problem that fails the run: sources stop reading and sinks stop writing.
    pub(crate) fn report(&self, problem: String) {
        self.progress.fail();
        let mut p = self.problems.lock().unwrap_or_else(|e| e.into_inner());
        if !p.contains(&problem) {
            p.push(problem);
        }
    }
}

/// The dead letters of one step, with the watermark at which each was dropped.
type DeadLetterStream<'s> = Stream<'s, Time, Vec<(i64, DeadLetter)>>;

/// The state a pipeline's steps share inside one worker.
pub(crate) struct Shared<'s> {
    pub scope: Scope<'s, Time>,
    pub clock: Arc<dyn Clock>,
    names: RefCell<BTreeSet<String>>,
    dead: RefCell<Vec<DeadLetterStream<'s>>>,
    counters: Arc<Counters>,
}

impl<'s> Shared<'s> {
    pub(crate) fn claim_name(&self, name: &str) -> Result<(), BuildError> {
        if !self.names.borrow_mut().insert(name.to_string()) {
            return Err(BuildError::DuplicateName(name.to_string()));
        }
        Ok(())
    }
    pub(crate) fn add_dead_letters(&self, s: Stream<'s, Time, Vec<DeadLetter>>) {
        use timely::dataflow::channels::pact::Pipeline as P;
        use timely::dataflow::operators::generic::Operator;
        let counters = self.counters.clone();
        let s = s.unary(P, "dead-letter-times", move |_, _| {
            move |input, output| {
                input.for_each(|cap, data| {
                    for d in data.iter() {
                        counters.progress.add_dead(d.kind);
                    }
                    let t = cap.least().map_or(0, |t| t.watermark());
                    output.session(&cap).give_iterator(data.drain(..).map(|d| (t, d)));
                });
            }
        });
        self.dead.borrow_mut().push(s);
    }
    pub(crate) fn problems(&self) -> Arc<Counters> {
        self.counters.clone()
    }
}

/// The pipeline builder of one worker. See the module docs.
pub struct Pipeline<'s> {
    shared: Rc<Shared<'s>>,
    worker: usize,
    peers: usize,
}

impl<'s> Pipeline<'s> {
    /// This worker's index among all workers of all processes.
    pub fn worker(&self) -> usize {
        self.worker
    }
    /// The number of workers of all processes.
    pub fn peers(&self) -> usize {
        self.peers
    }
    /// The timely scope, to add operators of your own.
    pub fn scope(&self) -> Scope<'s, Time> {
        self.shared.scope
    }

    /// Reads a source; `name` names the step. Partition `p` is read by worker `p % peers`;
    /// a live source's partitions (e.g. [`Tcp`] connections) arrive while the pipeline
    /// runs, on the worker the source chooses.
    pub fn read<T: Data>(
        &mut self,
        name: &str,
        source: impl Source<T> + 'static,
    ) -> Result<Collection<'s, T>, BuildError> {
        self.shared.claim_name(name)?;
        let (stream, dead) = reader::source_operator(&self.shared, name, source, self.worker, self.peers)?;
        self.shared.add_dead_letters(dead);
        Ok(Collection { stream, shared: self.shared.clone() })
    }

    /// Every dead letter of the steps built so far (build it last), with the watermark at
    /// which it was dropped as its event time.
    pub fn dead_letters(&mut self) -> Collection<'s, DeadLetter> {
        let streams: Vec<_> = self.shared.dead.borrow().clone();
        let stream = self.shared.scope.concatenate(streams);
        Collection { stream, shared: self.shared.clone() }
    }
}

/// Runs a pipeline: `build` is called in every worker to add the pipeline's operators,
/// then the dataflow runs to completion (every source exhausted, every window fired).
pub fn run<F>(config: RunConfig, build: F) -> Result<RunSummary, PipelineError>
where
    F: Fn(&mut Pipeline<'_>) -> Result<(), BuildError> + Send + Sync + 'static,
{
    run_with_clock(config, Arc::new(SystemClock), build)
}

/// [`run`] with a clock of your own (a virtual clock in tests).
pub fn run_with_clock<F>(config: RunConfig, clock: Arc<dyn Clock>, build: F) -> Result<RunSummary, PipelineError>
where
    F: Fn(&mut Pipeline<'_>) -> Result<(), BuildError> + Send + Sync + 'static,
{
    if config.workers == 0 || config.workers > RunConfig::MAX_WORKERS {
        return Err(PipelineError::Config(format!(
            "{} workers: use 1 to {} worker threads per process (about one per core; add processes for more)",
            config.workers,
            RunConfig::MAX_WORKERS
        )));
    }
    let counters = Arc::new(Counters {
        progress: config.progress.clone(),
        problems: Mutex::default(),
        outputs: Default::default(),
    });
    let build_errors: Arc<Mutex<Option<BuildError>>> = Arc::new(Mutex::new(None));
    let (c, errs) = (counters.clone(), build_errors.clone());
    let executed = execute(&config, move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let clock = clock.clone();
        let c = c.clone();
        let result = worker.dataflow::<Time, _, _>(|scope| {
            let shared = Rc::new(Shared {
                scope,
                clock,
                names: RefCell::new(BTreeSet::new()),
                dead: RefCell::new(Vec::new()),
                counters: c,
            });
            let mut p = Pipeline { shared, worker: index, peers };
            build(&mut p)
        });
        if let Err(e) = result {
            errs.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
            // A pipeline that failed to build does not run, and the workers that did build
            // it (a source may fail to open on one process only) must not wait for this
            // one: stop the whole run. Unwinding (without a panic message) is how a worker
            // stops a run; the build error is what `run` reports.
            std::panic::resume_unwind(Box::new("the pipeline could not be built"));
        }
    });
    if let Some(e) = build_errors.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(PipelineError::Build(e));
    }
    executed?;
    // Every output file is flushed (and closed) here; a failure to flush fails the run.
    for problem in counters.outputs.close() {
        counters.report(problem);
    }
    let problems = std::mem::take(&mut *counters.problems.lock().unwrap_or_else(|e| e.into_inner()));
    if !problems.is_empty() {
        return Err(PipelineError::Runtime(problems));
    }
    let progress = &counters.progress;
    let summary = RunSummary { records_read: progress.records(), dead_letters: progress.dead_letters() };
    if progress.stopped() {
        return Err(PipelineError::Stopped(summary));
    }
    Ok(summary)
}
