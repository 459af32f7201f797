use super::{Window, WindowFn};

/// Hopping windows: every window `[k*period + offset, k*period + offset + size)` that
/// contains the element (Beam's `SlidingWindows`).
///
/// ```
/// use highwater_operators::window::{Sliding, Window, WindowFn};
/// let mut out = Vec::new();
/// Sliding { size: 10, period: 5, offset: 0 }.assign(7, &mut out);
/// assert_eq!(out, vec![Window::new(5, 15), Window::new(0, 10)]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sliding {
    /// Window length.
    pub size: i64,
    /// Distance between starts.
    pub period: i64,
    /// Alignment in `[0, period)`.
    pub offset: i64,
}

impl WindowFn for Sliding {
    fn assign(&self, t: i64, out: &mut Vec<Window>) {
        // The last window starting at or before t, then walk back while it still holds t.
        let last_start = t - (t - self.offset).rem_euclid(self.period);
        let mut start = last_start;
        while start > t.saturating_sub(self.size) {
            out.push(Window::new(start, start.saturating_add(self.size)));
            start -= self.period;
        }
    }
    fn describe(&self) -> String {
        format!("sliding({}, {}, offset={})", self.size, self.period, self.offset)
    }
}
