//! The reducer's watermarks: the input watermark it has been advanced to, and the output
//! watermark that decides pane timing (LATE once it passes the end of a window) and which
//! element holds are still possible.

use super::window_state::WinState;
use crate::time::NEG_INF;
use serde::{Deserialize, Serialize};

/// Which output watermark decides pane timing (LATE once it passes the end of a window) and
/// which element holds are still possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OutputWatermarkMode {
    /// One value for the whole aggregation, set from outside after each watermark advance
    /// ([`WindowedReducer::set_output_watermark`](super::WindowedReducer::set_output_watermark))
    /// or recomputed from this reducer
    /// ([`WindowedReducer::refresh_output_watermark`](super::WindowedReducer::refresh_output_watermark)):
    /// Beam's ReduceFnTester semantics, which the conformance runner drives in lockstep.
    #[default]
    Global,
    /// Per key and continuous: `min(input watermark, the key's holds)` at the moment it is
    /// needed ("the local output watermark (also for this key)", as Beam's
    /// `ReduceFnRunner` describes it). Event-time timers fire one at a time in timestamp
    /// order, each as if the watermark had just passed it (a timer at `t` sees input
    /// watermark `t + 1` and output watermark `min(t, holds)`), whatever jumps the real
    /// watermark made. It needs no communication between workers, so the panes are the
    /// same at any worker count and any scheduling.
    PerKey,
}

/// The input and output watermarks of one reducer.
pub(super) struct Watermarks {
    /// The input watermark: how far the reducer has been advanced (`NEG_INF` at first).
    /// Only moves forward, except while [`OutputWatermarkMode::PerKey`] fires an event-time
    /// timer at `t`: then it is `min(t + 1, the real one)`, restored after.
    pub(super) input: i64,
    /// The [`OutputWatermarkMode::Global`] output watermark: set from outside or refreshed
    /// from the holds, never backwards, never past the input watermark. `NEG_INF` at first.
    pub(super) output: i64,
    /// How the output watermark is kept.
    pub(super) mode: OutputWatermarkMode,
    /// [`OutputWatermarkMode::PerKey`]: while an event-time timer at `t` fires, `t` — what
    /// the key's holds are compared with instead of the input watermark. `None` otherwise.
    pub(super) timer_basis: Option<i64>,
}

impl Watermarks {
    /// Both at `NEG_INF`, [`OutputWatermarkMode::Global`].
    pub(super) fn new() -> Self {
        Watermarks { input: NEG_INF, output: NEG_INF, mode: OutputWatermarkMode::Global, timer_basis: None }
    }

    /// Sets the global output watermark, never moving it backwards or past the input one.
    pub(super) fn set_output(&mut self, v: i64) {
        self.output = self.output.max(v.min(self.input));
    }

    /// The output watermark for a key whose windows (and a window taken out of them) are
    /// `windows`.
    pub(super) fn for_key<'a, A: 'a>(&self, windows: impl IntoIterator<Item = &'a WinState<A>>) -> i64 {
        match self.mode {
            OutputWatermarkMode::Global => self.output,
            OutputWatermarkMode::PerKey => {
                let mut m = self.timer_basis.unwrap_or(self.input);
                for ws in windows {
                    for h in [ws.element_hold, ws.extra_hold].into_iter().flatten() {
                        m = m.min(h);
                    }
                }
                m
            }
        }
    }

    /// The output watermark for the too-late check of a hold at `hold` in a key with
    /// `windows`: computed only when it can matter (the output watermark never exceeds the
    /// input watermark), else `NEG_INF`.
    pub(super) fn for_hold<'a, A: 'a>(&self, windows: impl IntoIterator<Item = &'a WinState<A>>, hold: i64) -> i64 {
        if hold < self.input {
            self.for_key(windows)
        } else {
            NEG_INF
        }
    }
}
