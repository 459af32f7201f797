//! The per-key and per-window state of the reduction: plain data, serialisable for
//! checkpoints.

use crate::pane::PaneInfo;
use crate::trigger::{TimerDomain, TriggerState};
use crate::window::Window;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::BTreeMap;

/// One key's windows and, in retracting mode, its panes not yet retracted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyState<A, O> {
    pub windows: BTreeMap<Window, WinState<A>>,
    pub unretracted: Vec<Emitted<O>>,
}

impl<A, O> Default for KeyState<A, O> {
    fn default() -> Self {
        KeyState { windows: BTreeMap::new(), unretracted: Vec::new() }
    }
}

/// A pane emitted and not yet retracted (retracting mode).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Emitted<O> {
    pub window: Window,
    pub value: O,
    pub timestamp: i64,
    pub info: PaneInfo,
}

/// The state of one (key, window).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WinState<A> {
    /// The pane contents so far (accumulating) or since the last pane (discarding).
    pub acc: A,
    /// Elements arrived since the last pane (Beam's `NonEmptyPanes`).
    pub nonempty: bool,
    /// The trigger's state.
    pub trigger: TriggerState,
    /// The trigger finished: the window takes no more elements until it is collected.
    pub closed: bool,
    /// The last emitted pane (Beam's `PaneInfoTracker`).
    pub pane: Option<PaneInfo>,
    /// The element hold (combined by the timestamp combiner).
    pub element_hold: Option<i64>,
    /// The garbage-collection hold.
    pub extra_hold: Option<i64>,
    /// Timers set for this window, to delete them with it.
    pub timers: SmallVec<[(TimerDomain, i64); 2]>,
}

impl<A> WinState<A> {
    pub fn new(acc: A, trigger: TriggerState) -> Self {
        WinState {
            acc,
            nonempty: false,
            trigger,
            closed: false,
            pane: None,
            element_hold: None,
            extra_hold: None,
            timers: SmallVec::new(),
        }
    }
}
