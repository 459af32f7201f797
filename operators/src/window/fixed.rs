use super::{Window, WindowFn};

/// Tumbling windows `[k*size + offset, (k+1)*size + offset)` (Beam's `FixedWindows`).
///
/// ```
/// use highwater::model::window::{Fixed, Window, WindowFn};
/// let mut out = Vec::new();
/// Fixed { size: 10, offset: 0 }.assign(-3, &mut out);
/// assert_eq!(out, vec![Window::new(-10, 0)]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    /// Window length.
    pub size: i64,
    /// Alignment in `[0, size)`.
    pub offset: i64,
}

impl WindowFn for Fixed {
    fn assign(&self, t: i64, out: &mut Vec<Window>) {
        if let Some(start) = t.checked_sub(self.offset).and_then(|d| t.checked_sub(d.rem_euclid(self.size))) {
            out.push(Window::new(start, start.saturating_add(self.size)));
            return;
        }
        // i128: no overflow for times near the ends of the i64 range.
        // A window reaching past an end is clamped to it (as sliding windows are).
        let start = t as i128 - (t as i128 - self.offset as i128).rem_euclid(self.size as i128);
        let clamp = |x: i128| x.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        out.push(Window::new(clamp(start), clamp(start + self.size as i128)));
    }
    fn describe(&self) -> String {
        format!("fixed({}, offset={})", self.size, self.offset)
    }
}
