use super::{merge_overlapping, Merge, Window, WindowFn};

/// Per-key sessions (Beam's `Sessions`): an element at `t` opens the proto-window
/// `[t, t + gap)`; overlapping windows of one key merge.
///
/// ```
/// use highwater::model::window::{Sessions, Window, WindowFn};
/// let s = Sessions { gap: 10 };
/// let merges = s.merge(&[Window::new(1, 11), Window::new(5, 15)]);
/// assert_eq!(merges[0].result, Window::new(1, 15));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sessions {
    /// Inactivity gap.
    pub gap: i64,
}

impl WindowFn for Sessions {
    fn assign(&self, t: i64, out: &mut Vec<Window>) {
        out.push(Window::new(t, t.saturating_add(self.gap)));
    }
    fn is_merging(&self) -> bool {
        true
    }
    fn merge(&self, windows: &[Window]) -> Vec<Merge> {
        merge_overlapping(windows)
    }
    fn describe(&self) -> String {
        format!("sessions({})", self.gap)
    }
}
