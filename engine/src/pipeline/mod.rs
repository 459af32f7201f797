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
//! use std::time::Duration;
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
//!     let source = Memory::new(vec![bids.clone()], WatermarkStrategy::bounded(Duration::from_millis(500)));
//!     p.read("bids", source)?
//!         .key_by(|b: &Bid| b.auction)
//!         .window(Windowing::fixed(Duration::from_secs(1)).trigger(Trigger::Default))
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
mod checkpointing;
mod collection;
mod error;
mod join;
mod process;
mod read;
mod shared;
mod sink;
mod windowing;

pub use changelog::{ChangeRow, ChangeValue, Changelog, Upsert};
pub use collection::{key_hash, Collection, Data, Key, KeyByBeforeWindow, Keyed, Sink, Windowed};
pub use error::{BuildError, PipelineError};
pub(crate) use shared::{Counters, Shared, StepDeadLetters};
pub use sink::{pane_row, Collector, CsvFile, Delivery, JsonLines, KafkaSink, TcpSink};
pub use windowing::Windowing;

// The keyed process step's pieces (`Keyed::process`), from the model.
pub use highwater_operators::keyed::{
    Context, KeyedProcess, ListState, MapState, ProcessError, ProcessSpec, StateSpec, TimeDomain, Timer, ValueState,
};

// The joins' pieces (`Keyed::connect`, `window_join`, `interval_join`, `temporal_join`).
pub use highwater_operators::join::{
    CoGrouped, CoGroupedAll, IntervalJoined, JoinKind, Side, TemporalJoined, WindowJoined,
};

// The pipeline's one door: the sources, dead letters and runtime it is built from.
pub use crate::dead_letter::{DeadLetter, DeadLetterKind, Location};
pub use crate::runtime::{execute, ExecutionError, Progress, RunConfig, RunSummary};
pub use crate::source::{
    socket_addresses, Batch, Files, Generated, Kafka, Live, Memory, Partition, Source, StartAt, StopHandle, Tcp,
    TcpError, Waker, MAX_LINE,
};

use highwater_operators::clock::{Clock, SystemClock};
use highwater_operators::time::Time;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use timely::dataflow::Scope;

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
        let (stream, dead) = read::source_operator(&self.shared, name, source, self.worker, self.peers, |r| r)?;
        self.shared.add_dead_letters(name, dead, false);
        Ok(Collection { stream, shared: self.shared.clone() })
    }

    /// Reads a source of `(key, value)` records as a keyed collection: the same as
    /// `read(name, source)?.map_to_keyed(|kv| kv)`, without the extra step (`highwater run` reads
    /// this way).
    ///
    /// ```
    /// use highwater::pipeline::{run, Collector, Memory, RunConfig, Windowing};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// let out = Collector::new();
    /// let sink = out.clone();
    /// run(RunConfig::workers(1), move |p| {
    ///     let pairs = vec![(1, ('a', 1u64)), (2, ('a', 2)), (3, ('b', 5))];
    ///     let src = Memory::new(vec![pairs], WatermarkStrategy::Ascending);
    ///     p.read_keyed("pairs", src)?.window(Windowing::global()).count("n")?.write(sink.clone());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert_eq!(out.take().len(), 2);
    /// ```
    pub fn read_keyed<K: Key, V: Data>(
        &mut self,
        name: &str,
        source: impl Source<(K, V)> + 'static,
    ) -> Result<Keyed<'s, K, V>, BuildError> {
        self.shared.claim_name(name)?;
        let (stream, dead) =
            read::source_operator(&self.shared, name, source, self.worker, self.peers, |(t, (k, v))| (k, t, v))?;
        self.shared.add_dead_letters(name, dead, false);
        Ok(Keyed { stream, shared: self.shared.clone() })
    }

    /// The dead letters of every step built so far, one stream per step (the test
    /// harness watches each step's progress through them).
    pub(crate) fn dead_letter_steps(&self) -> Vec<StepDeadLetters<'s>> {
        self.shared.dead.borrow().clone()
    }

    /// Every dead letter of every step of the pipeline — the steps built before this call
    /// and those built after it — with the watermark at which it was dropped as its event
    /// time. Call it anywhere in the pipeline function: the steps' dead letters are joined
    /// into it when the function returns.
    ///
    /// The dead letters must not flow back into a step that drops records (a window over
    /// them, [`Collection::try_with_event_time`]): that step's dead letters would be
    /// among its own input, a cycle that never finishes.
    ///
    /// ```
    /// use highwater::pipeline::{run, Collector, Memory, RunConfig};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// let dead = Collector::new();
    /// let sink = dead.clone();
    /// run(RunConfig::workers(1), move |p| {
    ///     p.dead_letters().write(sink.clone()); // first, before the step that drops records
    ///     let src = Memory::new(vec![vec![(0, "1000".to_string()), (0, "soon".to_string())]], WatermarkStrategy::Ascending);
    ///     p.read("times", src)?.try_with_event_time("parse", |s: &String| s.parse::<i64>())?;
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert_eq!(dead.take()[0].1.step, "parse");
    /// ```
    pub fn dead_letters(&mut self) -> Collection<'s, DeadLetter> {
        Collection { stream: self.shared.all_dead_letters(), shared: self.shared.clone() }
    }
}

/// Opens the run's checkpoints: the store, and the checkpoint to restore (its file sinks'
/// lengths are where the outputs continue).
fn open_checkpoints(
    config: &RunConfig,
    settings: crate::runtime::checkpoint::RunCheckpoints,
    clock: Arc<dyn Clock>,
    counters: &Counters,
) -> Result<crate::runtime::checkpoint::coordinator::Coordinator, PipelineError> {
    let processes = match &config.cluster {
        Some((process, addresses)) if addresses.len() > 1 => (*process, addresses.len()),
        _ => (0, 1),
    };
    let coordinator =
        crate::runtime::checkpoint::coordinator::Coordinator::open(settings, config.workers, processes, clock)?;
    // Every output file of the checkpoint is cut back to its length now, before this
    // process connects to the others (so before any process writes a row): the files this
    // run writes continue from there, and those it does not (another process count writes
    // other files) keep the rows before the cut.
    for sink in coordinator.restored_sinks() {
        crate::runtime::outputs::reopen(&sink.path, sink.length)
            .map_err(|e| PipelineError::Config(format!("output `{}`: {e}", sink.path.display())))?;
        counters.outputs.resume(sink.path.clone(), sink.length);
    }
    Ok(coordinator)
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
    crate::logging::ensure_default();
    let counters = Arc::new(Counters {
        progress: config.progress.clone(),
        problems: Mutex::default(),
        outputs: Default::default(),
    });
    let checkpoints = match config.checkpoints.clone() {
        None => None,
        Some(settings) => Some(Arc::new(open_checkpoints(&config, settings, clock.clone(), &counters)?)),
    };
    if let Some(k) = &checkpoints {
        // Weak: the counters hold the metrics, which hold the coordinator.
        let c = Arc::downgrade(&counters);
        k.set_reporter(move |problem| {
            if let Some(c) = c.upgrade() {
                c.report(problem);
            }
        });
    }
    let metrics = config.progress.metrics();
    metrics.clear();
    metrics.set_clock(clock.clone());
    if let Some(k) = &checkpoints {
        metrics.set_checkpoints(k.clone());
    }
    // Both stop when dropped, at the end of the run.
    let _server = match &config.metrics_addr {
        Some(address) => {
            let server = crate::runtime::metrics::MetricsServer::start(address, config.progress.clone())?;
            tracing::info!(address = %server.local_addr(), "metrics at http://{}/metrics", server.local_addr());
            metrics.set_address(Some(server.local_addr()));
            Some(server)
        }
        None => None,
    };
    let _watcher =
        config.stall_warning.map(|after| crate::runtime::metrics::StallWatcher::start(config.progress.clone(), after));
    let build_errors: Arc<Mutex<Option<BuildError>>> = Arc::new(Mutex::new(None));
    let (c, errs, coordinator) = (counters.clone(), build_errors.clone(), checkpoints.clone());
    let on_control: Option<crate::runtime::ControlHook> = checkpoints.clone().map(|k| {
        let hook: crate::runtime::ControlHook = Box::new(move |peers| k.connect(peers));
        hook
    });
    let executed = crate::runtime::execute_with_control(&config, on_control, move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let clock = clock.clone();
        let c = c.clone();
        let coordinator = coordinator.clone();
        let result = worker.dataflow::<Time, _, _>(|scope| {
            let shared = Rc::new(Shared {
                scope,
                clock,
                names: RefCell::new(BTreeSet::new()),
                dead: RefCell::new(Vec::new()),
                all_dead: RefCell::new(None),
                counters: c.clone(),
                checkpoints: coordinator.clone(),
                worker: index,
                peers,
                sinks: RefCell::default(),
                changelogs: Default::default(),
            });
            let mut p = Pipeline { shared, worker: index, peers };
            let built = build(&mut p);
            // Also after a failed build: every operator timely reserved must be built.
            p.shared.finish();
            built
        });
        if let (Ok(()), Some(k)) = (&result, coordinator.as_ref()) {
            if let Err(problem) = k.built() {
                c.report(problem);
            }
        }
        if let Err(e) = result {
            errs.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
            // A pipeline that failed to build does not run, and the workers that did build
            // it (a source may fail to open on one process only) must not wait for this
            // one: stop the whole run. Unwinding (without a panic message) is how a worker
            // stops a run; the build error is what `run` reports.
            std::panic::resume_unwind(Box::new("the pipeline could not be built"));
        }
    });
    metrics.set_address(None);
    if let Some(k) = &checkpoints {
        // The last checkpoint is written (or, if the run failed, given up) before the run
        // returns.
        k.finish(executed.is_ok() && build_errors.lock().unwrap_or_else(|e| e.into_inner()).is_none());
    }
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
    let (checkpoints_written, checkpoint_bytes) = checkpoints.as_ref().map_or((0, 0), |k| k.written());
    let summary = RunSummary {
        records_read: progress.records(),
        dead_letters: progress.dead_letters(),
        checkpoints: checkpoints_written,
        checkpoint_bytes,
        restored_from: checkpoints.as_ref().and_then(|k| k.restored_from()).map(|(id, _)| id),
    };
    if progress.stopped() {
        return Err(PipelineError::Stopped(summary));
    }
    Ok(summary)
}
