//! A key's active windows (Beam's `ActiveWindowSet`, and `MergingActiveWindowSet` for
//! merging windows): which windows have state, which are still open, and which take part
//! in a merge.

use super::output::Emitted;
use super::window_state::WinState;
use crate::window::Window;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One key's state: its windows and, in retracting mode, its panes not yet retracted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KeyState<A, O> {
    /// The key's windows with state: open ones, and closed ones (trigger finished) kept
    /// until garbage collection so that their late elements are dropped as closed. A window
    /// enters with its first element or as a merge result; when open windows merge, their
    /// states move into the result's and they leave; a window leaves at garbage collection.
    pub windows: BTreeMap<Window, WinState<A>>,
    /// Retracting mode: the panes emitted and not yet retracted. One is retracted (and
    /// leaves) just before the next pane of a window that contains its window; it leaves
    /// without a retraction when its window is garbage-collected (no later window can
    /// contain it). Always empty in the other modes.
    pub unretracted: Vec<Emitted<O>>,
}

impl<A, O> Default for KeyState<A, O> {
    fn default() -> Self {
        KeyState { windows: BTreeMap::new(), unretracted: Vec::new() }
    }
}

impl<A, O> KeyState<A, O> {
    /// Whether nothing is left: the key can be forgotten.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty() && self.unretracted.is_empty()
    }

    /// Whether `w` has state and its trigger has finished.
    pub fn is_closed(&self, w: &Window) -> bool {
        self.windows.get(w).is_some_and(|s| s.closed)
    }

    /// The state of `w`, made by `new` if it has none.
    pub fn window_or_insert_with(&mut self, w: Window, new: impl FnOnce() -> WinState<A>) -> &mut WinState<A> {
        self.windows.entry(w).or_insert_with(new)
    }

    /// The windows that may merge when `new` windows arrive: the open ones and the new
    /// ones, sorted, without duplicates. Closed windows do not take part (Beam: a finished
    /// session does not poison a new one with its bounds).
    pub fn merge_candidates(&self, new: &[Window]) -> Vec<Window> {
        let mut candidates: Vec<Window> = self.windows.iter().filter(|(_, s)| !s.closed).map(|(w, _)| *w).collect();
        candidates.extend(new.iter().copied());
        candidates.sort();
        candidates.dedup();
        candidates
    }

    /// The sources of a merge that are active (open windows with state), in order.
    pub fn active(&self, sources: &[Window]) -> Vec<Window> {
        sources.iter().copied().filter(|w| self.windows.get(w).is_some_and(|s| !s.closed)).collect()
    }
}
