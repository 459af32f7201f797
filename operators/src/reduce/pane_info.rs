//! Pane descriptions (Beam's `PaneInfoTracker`): a pane's index, timing and first/last
//! flags follow from the window's previous pane ([`super::window_state::WinState::pane`])
//! and the watermarks.

use crate::pane::{PaneInfo, Timing};
use crate::window::Window;

/// Beam's `PaneInfoTracker.describePane`: the next pane of `w` after `prev`, `last` if the
/// trigger finished, at input watermark `input_wm` and output watermark `owm` (a pane is
/// late once the output watermark has passed the end of its window).
pub(super) fn describe(prev: Option<PaneInfo>, w: Window, last: bool, owm: i64, input_wm: i64) -> PaneInfo {
    let max_ts = w.max_timestamp();
    let first = prev.is_none();
    let index = prev.map_or(0, |p| p.index + 1);
    let mut nonspeculative_index = prev.map_or(0, |p| p.nonspeculative_index + 1);
    let late_for_output = owm > max_ts;
    let only_early = prev.is_none_or(|p| p.timing == Timing::Early);
    let early_for_input = input_wm <= max_ts;
    let timing = if late_for_output || !only_early {
        Timing::Late
    } else if early_for_input {
        nonspeculative_index = -1;
        Timing::Early
    } else {
        Timing::OnTime
    };
    PaneInfo { timing, index, nonspeculative_index, first, last }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_then_on_time_then_late() {
        let w = Window::new(0, 10);
        let early = describe(None, w, false, 5, 5);
        assert_eq!((early.timing, early.index, early.nonspeculative_index, early.first), (Timing::Early, 0, -1, true));
        let on_time = describe(Some(early), w, false, 9, 10);
        assert_eq!((on_time.timing, on_time.index, on_time.nonspeculative_index), (Timing::OnTime, 1, 0));
        let late = describe(Some(on_time), w, true, 10, 20);
        assert_eq!((late.timing, late.index, late.nonspeculative_index, late.last), (Timing::Late, 2, 1, true));
    }
}
