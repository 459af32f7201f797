//! A pipeline's steps and the checkpoint coordinator: the hooks each worker's windowed
//! operators save and restore their state through, and the state of the file sinks.

use super::shared::{Counters, Shared};
use crate::runtime::checkpoint::coordinator::Coordinator;
pub(crate) use crate::runtime::outputs::SinkState;
use highwater_operators::operator::{Checkpointing, CutHooks};
use highwater_operators::time::Time;
use std::sync::Arc;

/// The coordinator as the steps of one worker see it.
pub(crate) struct WorkerHooks {
    pub(crate) coordinator: Arc<Coordinator>,
    pub(crate) worker: usize,
    pub(crate) counters: Arc<Counters>,
}

impl CutHooks for WorkerHooks {
    fn register(&self, step: &str) {
        self.coordinator.register(self.worker, step, false);
    }
    fn pending(&self, step: &str) -> Option<Time> {
        self.coordinator.pending(self.worker, step)
    }
    fn save(&self, step: &str, cut: Time, state: Vec<u8>) {
        self.coordinator.save(self.worker, step, cut, state);
    }
    fn restored(&self, step: &str) -> Vec<Vec<u8>> {
        self.coordinator.restored(step)
    }
    fn fail(&self, step: &str, message: String) {
        self.counters.report(format!("step `{step}`: {message}"));
    }
    fn restored_cut(&self) -> Option<Time> {
        self.coordinator.restored_from().map(|(_, cut)| cut)
    }
}

/// The checkpoint hooks of a worker's windowed operators, if the run takes checkpoints.
pub(crate) fn hooks(shared: &Shared<'_>) -> Option<Checkpointing> {
    let coordinator = shared.checkpoints.clone()?;
    let hooks = WorkerHooks { coordinator, worker: shared.worker, counters: shared.counters.clone() };
    Some(Checkpointing { hooks: std::rc::Rc::new(hooks), worker: shared.worker, peers: shared.peers })
}

/// The name under which the next file sink of a worker writing `path` saves its state, if
/// the run takes checkpoints: `sink:PATH`, and `#N` for the N-th other one.
pub(crate) fn sink_step(shared: &Shared<'_>, path: &std::path::Path) -> Option<String> {
    shared.checkpoints.as_ref()?;
    let mut sinks = shared.sinks.borrow_mut();
    let n = sinks.entry(path.to_path_buf()).or_default();
    let step = if *n == 0 { format!("sink:{}", path.display()) } else { format!("sink:{}#{n}", path.display()) };
    *n += 1;
    Some(step)
}
