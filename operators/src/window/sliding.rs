use super::{Window, WindowFn};

/// Hopping windows: every window `[k*period + offset, k*period + offset + size)` that
/// contains the element (Beam's `SlidingWindows`).
///
/// ```
/// use highwater::model::window::{Sliding, Window, WindowFn};
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
        let last = t.checked_sub(self.offset).and_then(|d| t.checked_sub(d.rem_euclid(self.period)));
        if let (Some(mut start), Some(low)) = (last, t.checked_sub(self.size)) {
            while start > low {
                out.push(Window::new(start, start.saturating_add(self.size)));
                match start.checked_sub(self.period) {
                    Some(s) => start = s,
                    None => break,
                }
            }
            return;
        }
        // i128: no overflow for times near the ends of the i64 range.
        let (t, period, size) = (t as i128, self.period as i128, self.size as i128);
        let mut start = t - (t - self.offset as i128).rem_euclid(period);
        while start > t - size {
            let s = start.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
            out.push(Window::new(s, (start + size).clamp(i64::MIN as i128, i64::MAX as i128) as i64));
            start -= period;
        }
    }
    fn describe(&self) -> String {
        format!("sliding({}, {}, offset={})", self.size, self.period, self.offset)
    }
    /// Slices of one period when the size is two periods or more and a multiple of it.
    fn slicing(&self) -> Option<super::Slicing> {
        let Sliding { size, period, offset } = *self;
        (period > 0 && size > period && size % period == 0 && (0..period).contains(&offset)).then_some(super::Slicing {
            period,
            offset,
            size,
        })
    }
}
