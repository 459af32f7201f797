//! Panes: what a trigger firing emits for one key and window.

use crate::window::Window;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether a pane came before, at, or after the watermark passed the end of its window
/// (Beam's `PaneInfo.Timing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timing {
    /// Before the input watermark passed the end of the window.
    Early,
    /// The one pane when the watermark passed the end.
    OnTime,
    /// After the on-time pane, or after the output watermark passed the end.
    Late,
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timing::Early => "early",
            Timing::OnTime => "on_time",
            Timing::Late => "late",
        })
    }
}

/// Where a pane stands among the panes of its key and window (Beam's `PaneInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PaneInfo {
    /// Early, on time or late.
    pub timing: Timing,
    /// 0, 1, 2, … per key and window.
    pub index: u64,
    /// −1 for early panes, else 0, 1, … over the non-early panes.
    pub nonspeculative_index: i64,
    /// `index == 0`.
    pub first: bool,
    /// No further pane will come for this key and window.
    pub last: bool,
}

/// One emitted pane (or, in retracting mode, the retraction of an earlier one).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pane<K, O> {
    /// The key.
    pub key: K,
    /// The window.
    pub window: Window,
    /// The aggregate (or the collected values).
    pub value: O,
    /// The pane's event timestamp (per the timestamp combiner).
    pub timestamp: i64,
    /// Timing, index, first, last.
    pub info: PaneInfo,
    /// `true` for a retraction of an earlier pane (retracting mode only).
    pub retraction: bool,
    /// The progress tick during which the pane was emitted (the conformance runner's
    /// `after_action`, where a lockstep driver makes it exact). In pipelines it is only
    /// informational: a pane fired by the watermark carries the tick its worker had reached
    /// when it saw the watermark pass, which can depend on scheduling and the worker count
    /// (compare panes across runs with [`Pane::without_tick`]).
    pub tick: u64,
}

impl<K, O> Pane<K, O> {
    /// The pane with its tick set to 0: what a run's answer is, whatever the scheduling.
    pub fn without_tick(mut self) -> Self {
        self.tick = 0;
        self
    }
    /// +1 for a pane, −1 for a retraction: the pane's weight in the changelog.
    pub fn diff(&self) -> i64 {
        if self.retraction {
            -1
        } else {
            1
        }
    }
}
