//! The state of one (key, window): plain data (serde types). The
//! collaborators that read and write each field are named on it.

use crate::pane::PaneInfo;
use crate::trigger::{TimerDomain, TriggerState};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// The state of one (key, window). When windows merge, the sources' states are folded into
/// the result's (the result's own first if it was an active window, else a fresh one) and
/// the sources' states are dropped; each field says how.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct WinState<A> {
    /// The pane contents: everything so far (accumulating, retracting) or since the last
    /// pane (discarding). Merges by `CombineFn::merge`. Reset to an empty accumulator after
    /// a pane in discarding mode and when the trigger finishes.
    pub acc: A,
    /// Elements arrived since the last pane (Beam's `NonEmptyPanes`): an empty pane is
    /// emitted only when on time. Merges by or-ing the active sources (the result's own
    /// only if it was one). Cleared after every pane.
    pub nonempty: bool,
    /// The trigger's state (run by `TriggerMachine`). Merges by `TriggerMachine::on_merge`.
    /// Cleared (finished bits kept) when the trigger finishes.
    pub trigger: TriggerState,
    /// The trigger finished: the window takes no more elements (they are dropped as
    /// [`super::DropReason::WindowClosed`]) until garbage collection removes the state.
    /// Closed windows do not merge; a merge result is closed if its merged trigger is.
    pub closed: bool,
    /// The last pane emitted (Beam's `PaneInfoTracker`, [`super::pane_info`]), from which
    /// the next pane's index and timing follow. A merge result keeps its own if it was an
    /// active window, else starts again at `None`. Reset to `None` when the trigger finishes.
    pub pane: Option<PaneInfo>,
    /// The element hold (Beam's `WatermarkHold`, [`super::hold`]): the output time of the
    /// pane's elements, combined by the timestamp combiner. Merges as Beam's
    /// `WatermarkHold.onMerge`. Released when a pane is emitted.
    pub element_hold: Option<i64>,
    /// The garbage-collection hold, at `end - 1 + allowed lateness`, placed for elements
    /// that came too late for an element hold. Merges into one hold for the result window.
    /// Released when a pane is emitted.
    pub extra_hold: Option<i64>,
    /// The timers set for this window ([`super::timers`]), to delete them with it; each
    /// `(domain, time)` at most once. A merged-away window's timers are deleted; the result
    /// gets the ones its merged trigger asks for. An entry leaves when its timer fires.
    pub timers: SmallVec<[(TimerDomain, i64); 2]>,
}

impl<A> WinState<A> {
    /// A fresh window: `acc` empty, the trigger in its initial state, no pane, no holds.
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
