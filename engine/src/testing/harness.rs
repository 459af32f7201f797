//! Running a pipeline on a [`TestStream`]: the run on a virtual clock, the watcher operator
//! of every worker (collects the panes and dead letters, confirms each action to the
//! [`Gate`]), and the tagging of what it collected.

use super::gate::{passes, Gate, Script, VALVE_MS};
use super::result::TestResult;
use super::stream::TestStream;
use crate::dead_letter::DeadLetter;
use crate::pipeline::StepDeadLetters;
use crate::pipeline::{run_with_clock, BuildError, Collection, Data, Key, Pipeline, PipelineError, RunConfig};
use highwater_operators::clock::{Clock, SystemClock, VirtualClock};
use highwater_operators::pane::{Pane, Timing};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use timely::dataflow::channels::pact::Pipeline as PipelinePact;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

/// A failure of [`Harness::run_on_each`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// The pipeline could not be built or failed while running.
    #[error("the pipeline failed at {workers} workers: {source}")]
    Pipeline {
        /// The worker count of the failed run.
        workers: usize,
        /// What failed.
        source: PipelineError,
    },
    /// Two worker counts gave different answers: a bug in the engine (or a pipeline that
    /// depends on the worker, e.g. through [`Pipeline::worker`]).
    #[error("{a} and {b} workers disagree\n\nat {a} workers:\n{first}\nat {b} workers:\n{second}")]
    WorkersDisagree {
        /// The first worker count.
        a: usize,
        /// The second.
        b: usize,
        /// The first run, printed.
        first: String,
        /// The second run, printed.
        second: String,
    },
}

/// Runs pipelines on a [`TestStream`]: at a worker count of your choice, or at several,
/// checking that they agree.
///
/// ```
/// use std::time::Duration;
/// use highwater::pipeline::Windowing;
/// use highwater::testing::{Harness, TestStream};
///
/// let stream = TestStream::new().add_elements([(1, ('a', 1)), (2, ('b', 1))]).advance_watermark_to(10);
/// let result = Harness::new(stream)
///     .run_on_each(&[1, 2, 4], |p, input| {
///         p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
///     })
///     .unwrap();
/// assert_eq!(result.panes().values(), vec![1, 1]);
/// ```
#[derive(Clone, Debug)]
pub struct Harness<T> {
    stream: TestStream<T>,
    workers: usize,
}

impl<T: Data + Debug + Sync> Harness<T> {
    /// A harness for `stream`, on one worker.
    ///
    /// ```
    /// use highwater::testing::{Harness, TestStream};
    /// let h = Harness::new(TestStream::new().add_element(1, 'x'));
    /// # let _ = h;
    /// ```
    pub fn new(stream: TestStream<T>) -> Self {
        Harness { stream, workers: 1 }
    }

    /// Runs on `n` worker threads.
    ///
    /// ```
    /// use highwater::pipeline::Windowing;
    /// use highwater::testing::{Harness, TestStream};
    /// let result = Harness::new(TestStream::new().add_element(1, ('k', ())))
    ///     .workers(4)
    ///     .run(|p, input| p.read_keyed("input", input)?.window(Windowing::global()).count("count"))
    ///     .unwrap();
    /// assert_eq!(result.workers(), 4);
    /// ```
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Runs the pipeline `build` makes, in every worker, from the stream it is handed
    /// (read it with [`Pipeline::read`] or [`Pipeline::read_keyed`], once): it returns the
    /// panes to collect. The dead letters of every step are collected too. The run uses a
    /// fresh virtual clock at 0 ([`run_with_clock`]), moved by the script's
    /// processing-time advances.
    ///
    /// ```
    /// use std::time::Duration;
    /// use highwater::pipeline::Windowing;
    /// use highwater::testing::{Harness, TestStream};
    /// let stream = TestStream::new().add_elements([(3, 10u64), (4, 20)]);
    /// let result = Harness::new(stream)
    ///     .run(|p, input| {
    ///         p.read("input", input)?
    ///             .key_by(|v: &u64| v % 2)
    ///             .window(Windowing::fixed(Duration::from_millis(10)))
    ///             .aggregate("sum", highwater::model::combine::Sum::default())
    ///     })
    ///     .unwrap();
    /// assert_eq!(result.panes().single().value, 30);
    /// ```
    pub fn run<K, V, F>(&self, build: F) -> Result<TestResult<K, V>, PipelineError>
    where
        K: Key,
        V: Data,
        F: for<'s> Fn(&mut Pipeline<'s>, TestStream<T>) -> Result<Collection<'s, Pane<K, V>>, BuildError>
            + Send
            + Sync
            + 'static,
    {
        let script = self.stream.script();
        let gate = Arc::new(Gate::new(script.clone()));
        let clock = VirtualClock::new(0);
        let stream = self.stream.bound(clock.clone(), gate.clone());
        let collected: Arc<Mutex<Collected<K, V>>> = Arc::default();
        let sink = collected.clone();
        let watched_gate = gate.clone();
        run_with_clock(RunConfig::workers(self.workers), Arc::new(clock), move |p| {
            let panes = build(p, stream.clone())?;
            let steps = p.dead_letter_steps();
            watch(p, panes, steps, watched_gate.clone(), sink.clone());
            Ok(())
        })?;
        let mut c = std::mem::take(&mut *collected.lock().unwrap_or_else(|e| e.into_inner()));
        c.warnings = gate.warnings();
        Ok(tag(&script, &self.stream, c, self.workers))
    }

    /// Runs at each worker count of `workers` and returns the first run's result, or
    /// [`TestError::WorkersDisagree`] (both runs printed) when two runs differ in any pane
    /// or dead letter, tags included.
    ///
    /// ```
    /// use std::time::Duration;
    /// use highwater::pipeline::Windowing;
    /// use highwater::testing::{Harness, TestStream};
    /// let stream = TestStream::new().add_elements((0..20).map(|i| (i, (i % 3, ()))));
    /// let result = Harness::new(stream)
    ///     .run_on_each(&[1, 2], |p, input| p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(5))).count("n"))
    ///     .unwrap();
    /// assert_eq!(result.panes().len(), 12);
    /// ```
    pub fn run_on_each<K, V, F>(&self, workers: &[usize], build: F) -> Result<TestResult<K, V>, TestError>
    where
        K: Key,
        V: Data + Debug + PartialEq,
        F: for<'s> Fn(&mut Pipeline<'s>, TestStream<T>) -> Result<Collection<'s, Pane<K, V>>, BuildError>
            + Send
            + Sync
            + 'static,
    {
        let build = Arc::new(build);
        let mut first: Option<TestResult<K, V>> = None;
        for &n in workers {
            let b = build.clone();
            let r = self
                .clone()
                .workers(n)
                .run(move |p, s| b(p, s))
                .map_err(|source| TestError::Pipeline { workers: n, source })?;
            match &first {
                None => first = Some(r),
                Some(f) if !f.same_answer(&r) => {
                    return Err(TestError::WorkersDisagree {
                        a: f.workers(),
                        b: n,
                        first: f.to_string(),
                        second: r.to_string(),
                    })
                }
                Some(_) => {}
            }
        }
        first.ok_or_else(|| TestError::Pipeline {
            workers: 0,
            source: PipelineError::Config("no worker count given: use e.g. &[1, 2, 4]".into()),
        })
    }
}

/// Runs the pipeline `build` makes from `stream` on one worker ([`Harness::run`]).
///
/// ```
/// use std::time::Duration;
/// use highwater::pipeline::Windowing;
/// use highwater::testing::{self, TestStream};
/// let stream = TestStream::new().add_elements([(1, ('a', ())), (2, ('a', ()))]);
/// let result = testing::run(stream, |p, input| {
///     p.read_keyed("input", input)?.window(Windowing::fixed(Duration::from_millis(10))).count("count")
/// })
/// .unwrap();
/// assert_eq!(result.panes().single().value, 2);
/// ```
pub fn run<T, K, V, F>(stream: TestStream<T>, build: F) -> Result<TestResult<K, V>, PipelineError>
where
    T: Data + Debug + Sync,
    K: Key,
    V: Data,
    F: for<'s> Fn(&mut Pipeline<'s>, TestStream<T>) -> Result<Collection<'s, Pane<K, V>>, BuildError>
        + Send
        + Sync
        + 'static,
{
    Harness::new(stream).run(build)
}

/// What the watchers of a run collected: panes as emitted (their tick the reducer's), dead
/// letters with the progress tick they were dropped at.
struct Collected<K, V> {
    panes: Vec<Pane<K, V>>,
    dead_letters: Vec<(usize, DeadLetter)>,
    warnings: Vec<String>,
}

impl<K, V> Default for Collected<K, V> {
    fn default() -> Self {
        Collected { panes: Vec::new(), dead_letters: Vec::new(), warnings: Vec::new() }
    }
}

/// Adds worker `p.worker()`'s watcher: it collects `panes` and every step's dead letters,
/// and confirms each action to `gate` once every step has passed it ([`passes`]).
fn watch<'s, K: Key, V: Data>(
    p: &Pipeline<'s>,
    panes: Collection<'s, Pane<K, V>>,
    steps: Vec<StepDeadLetters<'s>>,
    gate: Arc<Gate>,
    sink: Arc<Mutex<Collected<K, V>>>,
) {
    let scope = p.scope();
    let worker = p.worker();
    let mut builder = OperatorBuilder::new("test-watcher".to_string(), scope);
    let info = builder.operator_info();
    let activator = scope.activator_for(info.address.clone());
    gate.set_watcher(worker, scope.worker().sync_activator_for(info.address.to_vec()));
    let mut pane_input = builder.new_input(panes.stream(), PipelinePact);
    let mut dead_inputs: Vec<_> = steps.iter().map(|s| builder.new_input(s.stream.clone(), PipelinePact)).collect();
    // The pane stream counts as held by windows: any pane operator may hold it there.
    let watched: Vec<(String, bool)> = std::iter::once(("the panes returned".to_string(), true))
        .chain(steps.iter().map(|s| (format!("step `{}`", s.step), s.held_by_windows)))
        .collect();
    builder.build(move |_caps| {
        move |frontiers| {
            {
                let mut c = sink.lock().unwrap_or_else(|e| e.into_inner());
                pane_input.for_each(|_, data| c.panes.extend(data.drain(..).map(|(_, p)| p)));
                for input in dead_inputs.iter_mut() {
                    input.for_each(|cap, data| {
                        let tick = cap.least().map_or(0, |t| t.tick as usize);
                        c.dead_letters.extend(data.drain(..).map(|(_, d)| (tick, d)));
                    });
                }
            }
            let Some((action, previous, target, released_at)) = gate.awaited(worker) else { return };
            let lagging: Vec<&str> = frontiers
                .iter()
                .zip(&watched)
                .filter(|(f, (_, held))| !passes(f.frontier().iter().min().copied(), previous, target, *held))
                .map(|(_, (name, _))| name.as_str())
                .collect();
            if lagging.is_empty() {
                gate.confirm(worker, action, None);
                return;
            }
            let waited = SystemClock.now().saturating_sub(released_at);
            if waited >= VALVE_MS {
                let warning = format!(
                    "worker {worker} released action {} after {waited} ms without seeing action {action} pass {}: \
                     a step stood still behind a window hold at the current watermark, or did not run; \
                     panes and dead letters of action {action} may be tagged with a later action",
                    action + 1,
                    lagging.join(", ")
                );
                gate.confirm(worker, action, Some(warning));
            } else {
                activator.activate_after(Duration::from_millis((VALVE_MS - waited) as u64));
            }
        }
    });
}

/// Tags the collected panes with the action after which each came and orders everything.
///
/// A pane's tick is the action during which its reducer emitted it (the stamps' ticks are
/// the actions' indices, see [`super::gate`]). An on-time pane of the on-time operators
/// carries its window hold's tick instead, and fires when the watermark passes its window:
/// the action that moved it there, as the conformance runner does.
fn tag<T, K: Key, V>(script: &Script, stream: &TestStream<T>, c: Collected<K, V>, workers: usize) -> TestResult<K, V>
where
    T: Debug,
{
    let mut panes: Vec<Pane<K, V>> = c
        .panes
        .into_iter()
        .map(|mut p| {
            let tick = p.tick as usize;
            let a = match p.info.timing {
                Timing::OnTime => tick.max(script.action_passing(p.window.max_timestamp())),
                _ => tick,
            };
            p.tick = a.min(script.len()) as u64;
            p
        })
        .collect();
    // A pane sorts before its retraction, which comes with the key's next pane.
    panes.sort_by(|a, b| {
        (a.tick, a.window, &a.key, a.info.index, a.retraction).cmp(&(
            b.tick,
            b.window,
            &b.key,
            b.info.index,
            b.retraction,
        ))
    });
    let mut dead_letters = c.dead_letters;
    for (a, _) in dead_letters.iter_mut() {
        *a = (*a).min(script.len());
    }
    dead_letters.sort_by(|(a, x), (b, y)| {
        (a, &x.step, x.kind, &x.location, &x.record).cmp(&(b, &y.step, y.kind, &y.location, &y.record))
    });
    TestResult {
        actions: stream.actions().iter().map(|a| a.to_string()).collect(),
        panes,
        dead_letters,
        warnings: c.warnings,
        workers,
    }
}
