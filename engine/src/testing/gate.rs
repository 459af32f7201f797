//! The lockstep of a test run: the next action of a [`super::TestStream`] is released only
//! once every worker has seen the previous one's effects pass every step.
//!
//! The conformance runner steps its workers itself and waits on a probe
//! (`conformance::run_plan`); a pipeline run by [`crate::pipeline::run_with_clock`] steps
//! on its own, so here the source asks a [`Gate`] before each action and a watcher operator
//! in every worker ([`super::harness`]) confirms each action once the step progress it
//! watches has passed it. The rule is the runner's: a step's progress is the frontier of
//! its dead-letter stream, which follows its input frontier, not its window holds.
//!
//! **Stamps.** The test stream reads action `a` at stamp `(wm_a, a)`, after which the
//! source's frontier is `f(a + 1) = (wm_{a+1}, a + 1)` ([`Script::frontier`]): the
//! progress tick of a stamp is its action's index, as in the conformance runner, so the
//! reducer tags each pane with the action that produced it.
//!
//! **Holds.** A window whose hold stands at the current watermark keeps the frontier
//! downstream of it at `(wm, x)` with `x` an earlier action, until the watermark moves on:
//! a step behind such a hold is *parked* and passes once its frontier has moved at the
//! current watermark ([`passes`]). The on-time operators hold their own progress at their
//! open windows (they read no processing time, so the moment they are released at makes no
//! difference to their panes). A step that stays exactly where it was when the action was
//! released might be parked or might not have run yet; the gate waits for it, and after
//! [`VALVE_MS`] of real time releases the next action anyway, with a warning in the result.

use crate::source::Waker;
use highwater_operators::clock::{Clock, SystemClock};
use highwater_operators::time::{Time, NEG_INF};
use std::sync::Mutex;
use timely::scheduling::SyncActivator;

/// How long (real milliseconds) a worker waits for a step that might be parked before it
/// confirms an action anyway and records a warning.
pub(crate) const VALVE_MS: i64 = 5_000;

/// The watermarks a script moves through: `watermarks[a]` is the watermark after the first
/// `a` actions (`watermarks[0]` is −∞).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Script {
    pub(crate) watermarks: Vec<i64>,
}

impl Script {
    /// The script of actions that set the watermark to `marks[a]` (`None`: unchanged).
    pub(crate) fn new(marks: impl IntoIterator<Item = Option<i64>>) -> Self {
        let mut watermarks = vec![NEG_INF];
        for m in marks {
            let last = *watermarks.last().expect("starts with −∞");
            watermarks.push(m.map_or(last, |m| m.max(last)));
        }
        Script { watermarks }
    }
    /// The number of actions.
    pub(crate) fn len(&self) -> usize {
        self.watermarks.len() - 1
    }
    /// The source's frontier once the first `a` actions are read.
    pub(crate) fn frontier(&self, a: usize) -> Time {
        Time::new(self.watermarks[a.min(self.len())], a as u64)
    }
    /// The first action after which the watermark is past `max_timestamp`: the action
    /// whose watermark fired an on-time pane of a window ending there (`len()`: the end of
    /// the stream, when the watermark goes to +∞).
    pub(crate) fn action_passing(&self, max_timestamp: i64) -> usize {
        (1..=self.len()).find(|&a| self.watermarks[a] > max_timestamp).map_or(self.len(), |a| a - 1)
    }
}

/// Whether a step whose watched frontier is `frontier` has passed the action after which
/// the source's frontier moved from `previous` to `target`.
///
/// It has when its frontier is at or past `target` (or empty), or when it is parked at the
/// current watermark behind a hold: for a step held by its own windows, any frontier at the
/// current watermark; for another step, one that moved there (a step still exactly at
/// `previous` may simply not have run yet).
pub(crate) fn passes(frontier: Option<Time>, previous: Time, target: Time, held_by_windows: bool) -> bool {
    let Some(f) = frontier else { return true };
    if f >= target {
        return true;
    }
    f.watermark() == target.watermark() && (held_by_windows || f != previous)
}

/// What the source and the watchers of one run share.
pub(crate) struct Gate {
    script: Script,
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    /// Actions read by the source so far.
    released: usize,
    /// Real time (ms) at which the last action was released.
    released_at: i64,
    /// Per worker: how many actions it has confirmed.
    confirmed: Vec<usize>,
    /// Per worker: whether the stream was opened there (it may be read once per pipeline).
    opened: Vec<bool>,
    /// Wakes the source (worker 0) when every worker has confirmed.
    source: Option<Waker>,
    /// Wakes each worker's watcher when an action is released.
    watchers: Vec<Option<SyncActivator>>,
    /// Actions released before every step had visibly passed the previous one.
    warnings: Vec<String>,
}

impl Gate {
    /// The gate of a run of `script`.
    pub(crate) fn new(script: Script) -> Self {
        Gate { script, state: Mutex::new(GateState::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sizes the gate for `peers` workers as `worker` opens the stream; a second read of
    /// the stream in one pipeline is refused (its actions would wait for each other).
    pub(crate) fn open(&self, worker: usize, peers: usize) -> Result<(), String> {
        let mut s = self.lock();
        if s.confirmed.len() < peers {
            s.confirmed.resize(peers, 0);
            s.opened.resize(peers, false);
            s.watchers.resize_with(peers, || None);
        }
        match s.opened.get_mut(worker) {
            Some(o) if *o => Err("a test stream can be read once per pipeline: read it once and reuse the \
                 collection (`clone` it) where several steps need it"
                .into()),
            Some(o) => {
                *o = true;
                Ok(())
            }
            None => Err(format!("worker {worker} of {peers}: out of range")),
        }
    }

    /// The source's waker: woken when every worker has confirmed the last action.
    pub(crate) fn set_source(&self, waker: Waker) {
        self.lock().source = Some(waker);
    }

    /// Worker `worker`'s watcher: activated when an action is released.
    pub(crate) fn set_watcher(&self, worker: usize, activator: SyncActivator) {
        let mut s = self.lock();
        if worker < s.watchers.len() {
            s.watchers[worker] = Some(activator);
        }
    }

    /// Whether every worker has confirmed every action released so far.
    fn settled(s: &GateState) -> bool {
        !s.confirmed.is_empty() && s.confirmed.iter().all(|&c| c >= s.released)
    }

    /// Releases action `a` if it is the next one and the previous one has passed
    /// everywhere; wakes every watcher.
    pub(crate) fn try_release(&self, a: usize) -> bool {
        let mut s = self.lock();
        if s.released != a || !Self::settled(&s) {
            return false;
        }
        s.released = a + 1;
        s.released_at = SystemClock.now();
        for w in s.watchers.iter().flatten() {
            // A watcher that is gone belongs to a run that is ending.
            let _ = w.activate();
        }
        true
    }

    /// Whether every released action has passed everywhere (the stream may end).
    pub(crate) fn is_settled(&self) -> bool {
        Self::settled(&self.lock())
    }

    /// The action worker `worker` should confirm next, with the source frontiers before
    /// and after it and the real time it was released at; `None` when it has confirmed
    /// everything released.
    pub(crate) fn awaited(&self, worker: usize) -> Option<(usize, Time, Time, i64)> {
        let s = self.lock();
        let done = s.confirmed.get(worker).copied().unwrap_or(0);
        (done < s.released).then(|| {
            let a = s.released - 1;
            (a, self.script.frontier(a), self.script.frontier(a + 1), s.released_at)
        })
    }

    /// Worker `worker` has seen action `a` pass (with `warning` when it gave up waiting).
    pub(crate) fn confirm(&self, worker: usize, a: usize, warning: Option<String>) {
        let mut s = self.lock();
        if let Some(c) = s.confirmed.get_mut(worker) {
            *c = (*c).max(a + 1);
        }
        s.warnings.extend(warning);
        if Self::settled(&s) {
            if let Some(w) = &s.source {
                w.wake();
            }
        }
    }

    /// The warnings of the run.
    pub(crate) fn warnings(&self) -> Vec<String> {
        self.lock().warnings.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_knows_each_frontier_and_which_action_passes_a_window() {
        // elements, watermark 9, elements, watermark 20
        let s = Script::new([None, Some(9), None, Some(20)]);
        assert_eq!(s.len(), 4);
        assert_eq!(s.frontier(0), Time::new(NEG_INF, 0));
        assert_eq!(s.frontier(2), Time::new(9, 2));
        assert_eq!(s.frontier(4), Time::new(20, 4));
        // [0, 10) ends at 9: the watermark 9 does not pass it, 20 does (action 3).
        assert_eq!(s.action_passing(9), 3);
        assert_eq!(s.action_passing(8), 1);
        // Never passed by the script: the end of the stream.
        assert_eq!(s.action_passing(25), 4);
    }

    #[test]
    fn a_step_passes_at_the_target_or_parked_behind_a_hold() {
        let (prev, target) = (Time::new(9, 3), Time::new(9, 4));
        assert!(passes(None, prev, target, false));
        assert!(passes(Some(target), prev, target, false));
        // Not run yet: still at the frontier the action started from.
        assert!(!passes(Some(prev), prev, target, false));
        // Parked behind a hold at the current watermark since an earlier action.
        assert!(passes(Some(Time::new(9, 1)), prev, target, false));
        // An on-time step held by its own window at the current watermark.
        assert!(passes(Some(prev), prev, target, true));
        // Behind the current watermark: not passed, whatever holds it.
        assert!(!passes(Some(Time::new(8, 9)), prev, target, true));
    }

    #[test]
    fn the_next_action_waits_for_every_worker() {
        let g = Gate::new(Script::new([None, Some(10)]));
        g.open(0, 2).unwrap();
        g.open(1, 2).unwrap();
        assert!(g.open(1, 2).is_err(), "read twice");
        assert!(g.try_release(0));
        assert!(!g.try_release(1), "no worker has confirmed action 0");
        assert_eq!(g.awaited(1).map(|a| a.0), Some(0));
        g.confirm(0, 0, None);
        assert!(!g.try_release(1), "worker 1 has not");
        g.confirm(1, 0, Some("slow".into()));
        assert!(g.awaited(1).is_none());
        assert!(g.try_release(1));
        assert!(!g.is_settled());
        g.confirm(0, 1, None);
        g.confirm(1, 1, None);
        assert!(g.is_settled());
        assert_eq!(g.warnings(), vec!["slow".to_string()]);
    }
}
