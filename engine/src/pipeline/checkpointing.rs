//! A pipeline's steps and the checkpoint coordinator: the hooks each worker's windowed
//! operators save and restore their state through, and the state of the file sinks.

use super::shared::{Counters, Shared};
use crate::runtime::checkpoint::coordinator::Coordinator;
use highwater_operators::operator::{Checkpointing, CutHooks};
use highwater_operators::time::Time;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
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
}

/// A file sink's state at a cut: the file and its length, every row before the cut
/// written and none after. A restored run truncates the file to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SinkState {
    /// The file.
    pub(crate) path: PathBuf,
    /// Its length at the cut.
    pub(crate) length: u64,
    /// A CSV file's columns, when a formatter's first row named them (the header is
    /// written once, before the first row).
    pub(crate) columns: Option<Vec<String>>,
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
