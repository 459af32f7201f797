//! What the steps of a pipeline share: inside one worker (the scope, the clock, the step
//! names, the dead-letter streams) and across the workers of a run (the counters, the
//! problems that fail it, its output files).

use super::error::BuildError;
use crate::dead_letter::DeadLetter;
use crate::runtime::checkpoint::coordinator::Coordinator;
use crate::runtime::Progress;
use highwater_operators::clock::Clock;
use highwater_operators::time::Time;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use timely::dataflow::{Scope, Stream};

/// What the workers of one run share: the live counters, the problems that fail the run,
/// and the run's open output files (one writer per path, shared by the workers).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) progress: Arc<Progress>,
    pub(crate) problems: Mutex<Vec<String>>,
    pub(crate) outputs: crate::runtime::Outputs,
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
pub(crate) type DeadLetterStream<'s> = Stream<'s, Time, Vec<(i64, DeadLetter)>>;

/// The dead-letter stream of one step. Its frontier is also the step's progress: what the
/// step has applied of its input (the test harness waits on it, `crate::testing`).
#[derive(Clone)]
pub(crate) struct StepDeadLetters<'s> {
    /// The step's name.
    pub(crate) step: String,
    /// The dead letters, with the watermark at which each was dropped.
    pub(crate) stream: DeadLetterStream<'s>,
    /// Whether the stream's frontier may stand at a window's hold rather than at the
    /// step's progress (the sessions operator, whose progress follows its open sessions):
    /// `false` for sources, the reducer and the on-time windows, whose dead letters follow
    /// their input frontier.
    pub(crate) held_by_windows: bool,
}

/// The state a pipeline's steps share inside one worker.
pub(crate) struct Shared<'s> {
    pub scope: Scope<'s, Time>,
    pub clock: Arc<dyn Clock>,
    pub(crate) names: RefCell<BTreeSet<String>>,
    pub(crate) dead: RefCell<Vec<StepDeadLetters<'s>>>,
    /// Every step's dead letters, once [`crate::pipeline::Pipeline::dead_letters`] asked
    /// for them: a feedback edge whose stream is handed out while the pipeline is built
    /// and whose input, the steps' dead letters, is connected when the build ends.
    pub(crate) all_dead: RefCell<Option<(DeadLetterHandle<'s>, DeadLetterStream<'s>)>>,
    pub(crate) counters: Arc<Counters>,
    /// The run's checkpoints, if it takes any.
    pub(crate) checkpoints: Option<Arc<Coordinator>>,
    /// This worker, and the workers of the run.
    pub(crate) worker: usize,
    pub(crate) peers: usize,
    /// The file sinks of this worker, by path: how many were attached (their state's names).
    pub(crate) sinks: RefCell<std::collections::BTreeMap<std::path::PathBuf, usize>>,
    /// The changelogs of this worker made from panes without a step name
    /// ([`crate::pipeline::Collection::changelog`]): the next one's state is `changelog#N`.
    pub(crate) changelogs: std::cell::Cell<usize>,
}

/// The input end of the dead-letter feedback edge.
type DeadLetterHandle<'s> = timely::dataflow::operators::feedback::Handle<'s, Time, Vec<(i64, DeadLetter)>>;

impl<'s> Shared<'s> {
    pub(crate) fn claim_name(&self, name: &str) -> Result<(), BuildError> {
        if !self.names.borrow_mut().insert(name.to_string()) {
            return Err(BuildError::DuplicateName(name.to_string()));
        }
        Ok(())
    }
    /// Adds the dead letters of step `step` (`held_by_windows`: see [`StepDeadLetters`]).
    pub(crate) fn add_dead_letters(&self, step: &str, s: Stream<'s, Time, Vec<DeadLetter>>, held_by_windows: bool) {
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
        self.dead.borrow_mut().push(StepDeadLetters { step: step.to_string(), stream: s, held_by_windows });
    }
    /// The dead letters of every step of the pipeline, including steps not built yet.
    pub(crate) fn all_dead_letters(&self) -> DeadLetterStream<'s> {
        use timely::dataflow::operators::Feedback;
        let mut all = self.all_dead.borrow_mut();
        let (_, stream) = all.get_or_insert_with(|| self.scope.feedback(Default::default()));
        stream.clone()
    }
    /// Ends the build: the dead letters of every step flow into the stream
    /// [`Shared::all_dead_letters`] handed out.
    pub(crate) fn finish(&self) {
        use timely::dataflow::operators::{Concatenate, ConnectLoop};
        if let Some((handle, _)) = self.all_dead.borrow_mut().take() {
            let streams: Vec<_> = self.dead.borrow().iter().map(|d| d.stream.clone()).collect();
            self.scope.concatenate(streams).connect_loop(handle);
        }
    }
    /// The cut of the checkpoint this run restored, if it restored one: what the steps
    /// emit before it was written before the restore.
    pub(crate) fn restored_cut(&self) -> Option<Time> {
        self.checkpoints.as_ref()?.restored_from().map(|(_, cut)| cut)
    }
    pub(crate) fn problems(&self) -> Arc<Counters> {
        self.counters.clone()
    }
}
