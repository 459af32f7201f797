//! What a windowed operator needs to take part in checkpoints: the cut it owes its state
//! at, where to hand that state, and the state a restored run starts from.
//!
//! A checkpoint at a cut `T` (a [`Time`] whose tick is 0: every stamp of a watermark below
//! `T`'s before it, every other after it) is the state each operator holds when its input
//! frontier first passes `T`. The operators apply their input in stamp order (or, the
//! on-time phases, set aside every batch stamped at or after `T` while a cut is pending),
//! so their state then holds every stamp before `T` and none after: timely's frontier is
//! the barrier, and nothing travels in the data. Before saving, an operator emits every
//! pane of a window the watermark of `T` closes, at a time before `T`, and after saving
//! it emits nothing before `T`: the output before the cut is exactly what the state
//! before the cut produced.
//!
//! State is plain serde data (bincode) keyed by key; a restored operator keeps the keys
//! whose hash routes to it ([`Checkpointing::owns`]), so a checkpoint taken at one worker
//! count restores at another.

use super::key_hash::KeyHash;
use crate::time::Time;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::rc::Rc;
use timely::progress::frontier::MutableAntichain;

/// The checkpoint coordinator as one step of one worker sees it (implemented by the
/// engine's `highwater::runtime::checkpoint` machinery; by a test of your own).
///
/// ```
/// use highwater::model::operator::CutHooks;
/// use highwater::model::time::Time;
/// use std::cell::RefCell;
///
/// /// Remembers what the steps saved; a cut at watermark 10 s is pending until saved.
/// #[derive(Default)]
/// struct InMemory(RefCell<Vec<(String, Time, Vec<u8>)>>);
/// impl CutHooks for InMemory {
///     fn register(&self, _step: &str) {}
///     fn pending(&self, step: &str) -> Option<Time> {
///         let saved = self.0.borrow().iter().any(|(s, _, _)| s == step);
///         (!saved).then(|| Time::new(10_000, 0))
///     }
///     fn save(&self, step: &str, cut: Time, state: Vec<u8>) {
///         self.0.borrow_mut().push((step.to_string(), cut, state));
///     }
///     fn restored(&self, _step: &str) -> Vec<Vec<u8>> {
///         Vec::new()
///     }
///     fn fail(&self, step: &str, message: String) {
///         panic!("{step}: {message}")
///     }
/// }
/// let hooks = InMemory::default();
/// assert_eq!(hooks.pending("run"), Some(Time::new(10_000, 0)));
/// hooks.save("run", Time::new(10_000, 0), vec![1, 2, 3]);
/// assert_eq!(hooks.pending("run"), None);
/// ```
pub trait CutHooks {
    /// Announces a step that saves state at every cut (when the operator is built).
    fn register(&self, step: &str);
    /// The cut `step` owes its state at, if one is pending.
    fn pending(&self, step: &str) -> Option<Time>;
    /// Hands in `step`'s state at `cut` (bytes of its own format).
    fn save(&self, step: &str, cut: Time, state: Vec<u8>);
    /// The state `step` had in the checkpoint this run restores, one buffer per worker of
    /// the run that wrote it (empty when the run starts afresh).
    fn restored(&self, step: &str) -> Vec<Vec<u8>>;
    /// The state cannot be read or written: the run fails with this message.
    fn fail(&self, step: &str, message: String);
    /// The cut of the checkpoint this run restores, if it restores one: a restored step
    /// sends nothing before it (the run before the restore sent that).
    fn restored_cut(&self) -> Option<Time> {
        None
    }
}

/// The checkpoint hooks of one worker, with its index and the worker count (to keep the
/// restored keys that route to it).
#[derive(Clone)]
pub struct Checkpointing {
    /// The coordinator.
    pub hooks: Rc<dyn CutHooks>,
    /// This worker.
    pub worker: usize,
    /// The workers of the run.
    pub peers: usize,
}

impl std::fmt::Debug for Checkpointing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointing").field("worker", &self.worker).field("peers", &self.peers).finish()
    }
}

impl Checkpointing {
    /// Whether a restored key belongs to this worker: the worker the exchange routes it to
    /// (timely takes the hash modulo the worker count).
    pub fn owns<K: KeyHash + ?Sized>(&self, key: &K) -> bool {
        (key.key_hash() % self.peers.max(1) as u64) as usize == self.worker
    }

    /// The cut of the checkpoint this run restores, if any.
    pub fn restored_cut(&self) -> Option<Time> {
        self.hooks.restored_cut()
    }

    /// Registers `step` and decodes its restored pieces; a piece that does not decode
    /// fails the run (it was written by another version of the pipeline).
    pub(super) fn start<S: DeserializeOwned>(&self, step: &str) -> Vec<S> {
        self.hooks.register(step);
        let mut out = Vec::new();
        for piece in self.hooks.restored(step) {
            match decode(&piece) {
                Ok(s) => out.push(s),
                Err(e) => self.hooks.fail(
                    step,
                    format!(
                        "its checkpointed state cannot be read ({e}): was the pipeline changed? rerun with --fresh"
                    ),
                ),
            }
        }
        out
    }

    /// Saves `state` as `step`'s at `cut`.
    pub(super) fn save<S: Serialize>(&self, step: &str, cut: Time, state: &S) {
        self.save_encoded(step, cut, encode(state));
    }

    /// Saves a state already encoded (or fails the step with why it could not be) as
    /// `step`'s at `cut`.
    pub(super) fn save_encoded(&self, step: &str, cut: Time, state: Result<Vec<u8>, String>) {
        match state {
            Ok(bytes) => self.hooks.save(step, cut, bytes),
            Err(e) => self.hooks.fail(step, format!("its state cannot be serialized for a checkpoint: {e}")),
        }
    }
}

/// The pending cut of `step`, if any.
pub(super) fn pending(ckpt: &Option<Checkpointing>, step: &str) -> Option<Time> {
    ckpt.as_ref().and_then(|c| c.hooks.pending(step))
}

/// Whether the frontier has passed `cut`: no stamp before it can still arrive.
pub(super) fn passed(frontier: &MutableAntichain<Time>, cut: Time) -> bool {
    frontier.frontier().iter().all(|t| *t >= cut)
}

/// State as bytes (bincode).
pub fn encode<S: Serialize>(state: &S) -> Result<Vec<u8>, String> {
    bincode::serialize(state).map_err(|e| e.to_string())
}

/// Bytes as state (bincode).
pub fn decode<S: DeserializeOwned>(bytes: &[u8]) -> Result<S, String> {
    bincode::deserialize(bytes).map_err(|e| e.to_string())
}
