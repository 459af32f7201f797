use super::{Window, WindowFn};

/// Tumbling windows `[k*size + offset, (k+1)*size + offset)` (Beam's `FixedWindows`).
///
/// ```
/// use highwater_operators::window::{Fixed, Window, WindowFn};
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
        // i128: no overflow for times near the ends of the i64 range.
        let start = (t as i128 - (t as i128 - self.offset as i128).rem_euclid(self.size as i128)) as i64;
        out.push(Window::new(start, start.saturating_add(self.size)));
    }
    fn describe(&self) -> String {
        format!("fixed({}, offset={})", self.size, self.offset)
    }
}
