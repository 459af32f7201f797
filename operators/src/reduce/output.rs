//! Emitting (the output half of Beam's `ReduceFnRunner.onTrigger`): panes, the
//! retractions that precede them in retracting mode, dead letters, and their counters.

use super::dead_letter::{DropReason, Dropped};
use crate::pane::{Pane, PaneInfo};
use crate::window::Window;
use serde::{Deserialize, Serialize};

/// Panes and dead letters produced since the last
/// [`WindowedReducer::take_output`](super::WindowedReducer::take_output).
#[derive(Debug)]
pub struct Output<K, O, V> {
    /// Emitted panes (and retractions) in emission order.
    pub panes: Vec<Pane<K, O>>,
    /// Dropped elements.
    pub dropped: Vec<Dropped<K, V>>,
}

impl<K, O, V> Default for Output<K, O, V> {
    fn default() -> Self {
        Output { panes: Vec::new(), dropped: Vec::new() }
    }
}

/// Counters of a reducer, for the run summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReducerStats {
    /// Elements added to a window.
    pub added: u64,
    /// Element-windows dropped as too late.
    pub dropped_late: u64,
    /// Element-windows dropped because the window had closed.
    pub dropped_closed: u64,
    /// Panes emitted (not counting retractions).
    pub panes: u64,
    /// Retractions emitted.
    pub retractions: u64,
}

/// A pane emitted and not yet retracted (retracting mode): what its retraction repeats.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Emitted<O> {
    /// The pane's window.
    pub window: Window,
    /// The pane's value.
    pub value: O,
    /// The pane's timestamp.
    pub timestamp: i64,
    /// The pane's description.
    pub info: PaneInfo,
}

/// Everything the reducer hands out.
pub(super) struct Emitter<K, O, V> {
    /// Panes (and retractions) and dead letters in emission order, since the last take:
    /// appended by [`Self::pane`] and [`Self::drop_element`], emptied by the reducer's
    /// `take_output` and `drain_into`.
    pub(super) out: Output<K, O, V>,
    /// The progress tick stamped on panes emitted from now on: set by the operator before
    /// each stamp it applies, never reset.
    pub(super) tick: u64,
    /// Counters since the reducer was made; never cleared.
    pub(super) stats: ReducerStats,
}

impl<K: Clone, O: Clone, V> Emitter<K, O, V> {
    /// Nothing emitted yet, tick 0.
    pub(super) fn new() -> Self {
        Emitter { out: Output::default(), tick: 0, stats: ReducerStats::default() }
    }

    /// A dead letter, counted by its reason.
    pub(super) fn drop_element(&mut self, dropped: Dropped<K, V>) {
        match dropped.reason {
            DropReason::TooLate => self.stats.dropped_late += 1,
            DropReason::WindowClosed => self.stats.dropped_closed += 1,
        }
        self.out.dropped.push(dropped);
    }

    /// The pane `(w, value, timestamp, info)` of `key`. In retracting mode it is preceded
    /// by the retractions of the key's `unretracted` panes whose window lies inside `w`
    /// (removed from it), and recorded there itself.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn pane(
        &mut self,
        key: &K,
        unretracted: &mut Vec<Emitted<O>>,
        retracting: bool,
        w: Window,
        value: O,
        timestamp: i64,
        info: PaneInfo,
    ) {
        if retracting {
            let mut kept = Vec::with_capacity(unretracted.len());
            for e in unretracted.drain(..) {
                if e.window.is_inside(&w) {
                    self.stats.retractions += 1;
                    self.out.panes.push(Pane {
                        key: key.clone(),
                        window: e.window,
                        value: e.value,
                        timestamp: e.timestamp,
                        info: e.info,
                        retraction: true,
                        tick: self.tick,
                    });
                } else {
                    kept.push(e);
                }
            }
            *unretracted = kept;
            unretracted.push(Emitted { window: w, value: value.clone(), timestamp, info });
        }
        self.stats.panes += 1;
        self.out.panes.push(Pane {
            key: key.clone(),
            window: w,
            value,
            timestamp,
            info,
            retraction: false,
            tick: self.tick,
        });
    }
}
