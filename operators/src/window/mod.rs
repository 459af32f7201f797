//! Windows: how event time is cut into the finite pieces that panes report on.
//!
//! A [`Window`] is a half-open interval `[start, end)` of event time; its maximum
//! timestamp is `end - 1`. A [`WindowFn`] assigns each element's timestamp to windows and,
//! for merging functions such as sessions, merges overlapping windows. [`WindowSpec`] is the
//! built-in set as plain data, parseable from and printable in the grammar of the
//! conformance format (`fixed(10)`, `sliding(10, 2)`, `sessions(30)`, `global`).

mod fixed;
mod global;
mod sessions;
mod sliding;

pub use fixed::Fixed;
pub use global::Global;
pub use sessions::Sessions;
pub use sliding::Sliding;

use crate::time::{GLOBAL_MAX, NEG_INF, POS_INF};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A half-open interval `[start, end)` of event time.
///
/// The global window is `[−∞, +∞)` and prints as `global`.
///
/// ```
/// use highwater::model::window::Window;
/// let w = Window::new(0, 10);
/// assert_eq!(w.max_timestamp(), 9);
/// assert!(w.contains(9) && !w.contains(10));
/// assert!(Window::new(2, 5).is_inside(&w));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Window {
    /// First event time inside the window.
    pub start: i64,
    /// First event time after the window.
    pub end: i64,
}

impl Window {
    /// The window `[start, end)`.
    pub const fn new(start: i64, end: i64) -> Self {
        Window { start, end }
    }
    /// The single global window.
    pub const GLOBAL: Window = Window { start: NEG_INF, end: POS_INF };
    /// Whether this is the global window.
    pub fn is_global(&self) -> bool {
        *self == Window::GLOBAL
    }
    /// The largest timestamp in the window (`end - 1`; Beam's `maxTimestamp`).
    pub fn max_timestamp(&self) -> i64 {
        if self.is_global() {
            GLOBAL_MAX
        } else {
            self.end - 1
        }
    }
    /// Whether `t` lies in the window.
    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && t < self.end
    }
    /// Whether the two windows share a point (sessions merge exactly then).
    pub fn intersects(&self, other: &Window) -> bool {
        self.start < other.end && other.start < self.end
    }
    /// The smallest window covering both.
    pub fn span(&self, other: &Window) -> Window {
        Window::new(self.start.min(other.start), self.end.max(other.end))
    }
    /// Whether this window lies inside `outer` (or equals it).
    pub fn is_inside(&self, outer: &Window) -> bool {
        outer.start <= self.start && self.end <= outer.end
    }
    /// The garbage-collection time: `max_timestamp + allowed_lateness`, capped at the
    /// global window's maximum (Beam's `LateDataUtils.garbageCollectionTime`). The window
    /// is collected when the watermark passes it.
    pub fn gc_time(&self, allowed_lateness: i64) -> i64 {
        let max = self.max_timestamp();
        if max > GLOBAL_MAX.saturating_sub(allowed_lateness) {
            GLOBAL_MAX
        } else {
            max + allowed_lateness
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_global() {
            write!(f, "global")
        } else {
            write!(f, "[{}, {})", self.start, self.end)
        }
    }
}

/// One merge decided by a merging [`WindowFn`]: these windows become `result`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merge {
    /// The windows merged (at least two; may include `result` itself).
    pub sources: Vec<Window>,
    /// The window they become.
    pub result: Window,
}

/// Assigns elements to windows; merging functions also merge windows.
///
/// Implement it for windows of your own. A non-merging function only needs `assign`:
///
/// ```
/// use highwater::model::window::{Window, WindowFn};
/// /// Calendar-ish: windows of 7 "days" of 10 ticks each.
/// #[derive(Debug)]
/// struct Weeks;
/// impl WindowFn for Weeks {
///     fn assign(&self, t: i64, out: &mut Vec<Window>) {
///         let start = t.div_euclid(70) * 70;
///         out.push(Window::new(start, start + 70));
///     }
///     fn describe(&self) -> String { "weeks".into() }
/// }
/// let mut out = Vec::new();
/// Weeks.assign(75, &mut out);
/// assert_eq!(out, vec![Window::new(70, 140)]);
/// ```
pub trait WindowFn: fmt::Debug + Send + Sync + 'static {
    /// Pushes the windows that contain an element at event time `t`.
    fn assign(&self, t: i64, out: &mut Vec<Window>);
    /// Whether windows of this function can merge (then `merge` is called).
    fn is_merging(&self) -> bool {
        false
    }
    /// Given the active windows of one key (sorted, distinct), the merges to perform.
    fn merge(&self, _windows: &[Window]) -> Vec<Merge> {
        Vec::new()
    }
    /// A short description for errors and logs.
    fn describe(&self) -> String;
    /// Whether every element of a slice `[s, s + period)` (`s` at `offset` modulo
    /// `period`) falls in the same windows: then an aggregate may combine per slice and
    /// merge a window from its slices. `None` (the default) unless the function says so.
    ///
    /// ```
    /// use highwater::model::window::{Fixed, Sliding, Slicing, WindowFn};
    /// let hop = Sliding { size: 10, period: 5, offset: 0 };
    /// assert_eq!(hop.slicing(), Some(Slicing { period: 5, offset: 0, size: 10 }));
    /// assert_eq!(Sliding { size: 10, period: 4, offset: 0 }.slicing(), None);
    /// assert_eq!(Fixed { size: 10, offset: 0 }.slicing(), None);
    /// ```
    fn slicing(&self) -> Option<Slicing> {
        None
    }
}

/// Slices of a window function ([`WindowFn::slicing`]): every element of `[s, s + period)`
/// with `s` at `offset` modulo `period` falls in the windows `[s - size + period + k ×
/// period, … + size)` for `k` in `0..size / period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slicing {
    /// The length of a slice, and the distance between window starts.
    pub period: i64,
    /// Where slices start, modulo `period`.
    pub offset: i64,
    /// The length of a window, a multiple of `period`.
    pub size: i64,
}

/// Merges overlapping intervals (Beam's `MergeOverlappingIntervalWindows`): in order of
/// start, each window that intersects the running union joins it.
pub fn merge_overlapping(windows: &[Window]) -> Vec<Merge> {
    let mut sorted: Vec<Window> = windows.to_vec();
    sorted.sort();
    let mut merges = Vec::new();
    let mut current: Vec<Window> = Vec::new();
    let mut union: Option<Window> = None;
    for w in sorted {
        match union {
            Some(u) if u.intersects(&w) => {
                union = Some(u.span(&w));
                current.push(w);
            }
            _ => {
                if current.len() > 1 {
                    merges.push(Merge { sources: std::mem::take(&mut current), result: union.unwrap() });
                }
                current.clear();
                current.push(w);
                union = Some(w);
            }
        }
    }
    if current.len() > 1 {
        merges.push(Merge { sources: current, result: union.unwrap() });
    }
    merges
}

/// The built-in window functions as plain data.
///
/// ```
/// use highwater::model::window::WindowSpec;
/// let w: WindowSpec = "sliding(10, 5)".parse().unwrap();
/// assert_eq!(w, WindowSpec::Sliding { size: 10, period: 5, offset: 0 });
/// assert_eq!(w.to_string(), "sliding(10, 5)");
/// assert!("fixed(0)".parse::<WindowSpec>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowSpec {
    /// One window for all time.
    Global,
    /// Tumbling windows `[k*size + offset, (k+1)*size + offset)`.
    Fixed {
        /// Window length (> 0).
        size: i64,
        /// Alignment, normalised into `[0, size)`.
        offset: i64,
    },
    /// Hopping windows of `size` starting every `period`.
    Sliding {
        /// Window length (> 0).
        size: i64,
        /// Distance between window starts (> 0).
        period: i64,
        /// Alignment, normalised into `[0, period)`.
        offset: i64,
    },
    /// Per-key sessions: an element at `t` opens `[t, t + gap)`; overlapping sessions merge.
    Sessions {
        /// Inactivity gap (> 0).
        gap: i64,
    },
}

/// A window expression that does not parse or is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// The text is not in the grammar.
    #[error("invalid window `{text}`: {reason}; expected global, fixed(SIZE[, offset=O]), sliding(SIZE, PERIOD[, offset=O]) or sessions(GAP)")]
    Syntax {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl WindowSpec {
    /// The most windows one element can be assigned to (`sliding(SIZE, PERIOD)`:
    /// ⌈SIZE / PERIOD⌉; 1 for the others), to refuse pathological specs.
    ///
    /// ```
    /// use highwater::model::window::WindowSpec;
    /// assert_eq!(WindowSpec::sliding(10_000, 2_000).max_windows_per_record(), 5);
    /// assert_eq!(WindowSpec::sliding(3_600_000, 1).max_windows_per_record(), 3_600_000);
    /// assert_eq!(WindowSpec::fixed(10).max_windows_per_record(), 1);
    /// ```
    pub fn max_windows_per_record(&self) -> u64 {
        match self {
            WindowSpec::Sliding { size, period, .. } if *period > 0 && *size > 0 => {
                (*size as u64).div_ceil(*period as u64)
            }
            _ => 1,
        }
    }
    /// Fixed windows of `size` milliseconds.
    pub fn fixed(size: i64) -> Self {
        WindowSpec::Fixed { size, offset: 0 }
    }
    /// Sliding windows of `size` milliseconds every `period` milliseconds.
    pub fn sliding(size: i64, period: i64) -> Self {
        WindowSpec::Sliding { size, period, offset: 0 }
    }
    /// Sessions with an inactivity `gap`.
    pub fn sessions(gap: i64) -> Self {
        WindowSpec::Sessions { gap }
    }
    /// Checks sizes and normalises offsets.
    pub fn validate(self) -> Result<Self, WindowError> {
        let bad = |reason: &str| WindowError::Syntax { text: self.to_string(), reason: reason.to_string() };
        Ok(match self {
            WindowSpec::Global => WindowSpec::Global,
            WindowSpec::Fixed { size, offset } => {
                if size <= 0 {
                    return Err(bad("the size must be > 0"));
                }
                WindowSpec::Fixed { size, offset: offset.rem_euclid(size) }
            }
            WindowSpec::Sliding { size, period, offset } => {
                if size <= 0 || period <= 0 {
                    return Err(bad("size and period must be > 0"));
                }
                WindowSpec::Sliding { size, period, offset: offset.rem_euclid(period) }
            }
            WindowSpec::Sessions { gap } => {
                if gap <= 0 {
                    return Err(bad("the gap must be > 0"));
                }
                WindowSpec::Sessions { gap }
            }
        })
    }
    /// The executable window function.
    pub fn window_fn(&self) -> Arc<dyn WindowFn> {
        match *self {
            WindowSpec::Global => Arc::new(Global),
            WindowSpec::Fixed { size, offset } => Arc::new(Fixed { size, offset }),
            WindowSpec::Sliding { size, period, offset } => Arc::new(Sliding { size, period, offset }),
            WindowSpec::Sessions { gap } => Arc::new(Sessions { gap }),
        }
    }
}

impl fmt::Display for WindowSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WindowSpec::Global => write!(f, "global"),
            WindowSpec::Fixed { size, offset: 0 } => write!(f, "fixed({size})"),
            WindowSpec::Fixed { size, offset } => write!(f, "fixed({size}, offset={offset})"),
            WindowSpec::Sliding { size, period, offset: 0 } => write!(f, "sliding({size}, {period})"),
            WindowSpec::Sliding { size, period, offset } => write!(f, "sliding({size}, {period}, offset={offset})"),
            WindowSpec::Sessions { gap } => write!(f, "sessions({gap})"),
        }
    }
}

impl std::str::FromStr for WindowSpec {
    type Err = WindowError;
    fn from_str(text: &str) -> Result<Self, WindowError> {
        let err = |reason: &str| WindowError::Syntax { text: text.to_string(), reason: reason.to_string() };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if compact == "global" {
            return Ok(WindowSpec::Global);
        }
        let open = compact.find('(').ok_or_else(|| err("missing `(`"))?;
        if !compact.ends_with(')') {
            return Err(err("missing `)`"));
        }
        let name = &compact[..open];
        let inner = &compact[open + 1..compact.len() - 1];
        let mut positional = Vec::new();
        let mut offset = 0i64;
        for part in inner.split(',').filter(|p| !p.is_empty()) {
            if let Some(v) = part.strip_prefix("offset=") {
                offset = crate::duration::parse_ticks(v).map_err(|e| err(&e))?;
            } else {
                positional.push(crate::duration::parse_ticks(part).map_err(|e| err(&e))?);
            }
        }
        let spec = match (name, positional.as_slice()) {
            ("fixed", [size]) => WindowSpec::Fixed { size: *size, offset },
            ("sliding", [size, period]) => WindowSpec::Sliding { size: *size, period: *period, offset },
            ("sessions", [gap]) if offset == 0 => WindowSpec::Sessions { gap: *gap },
            ("fixed" | "sliding" | "sessions", _) => return Err(err("wrong number of arguments")),
            _ => return Err(err(&format!("unknown window function `{name}`"))),
        };
        spec.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_overlapping_groups_transitively() {
        let ws = [Window::new(1, 11), Window::new(5, 15), Window::new(14, 24), Window::new(30, 40)];
        let m = merge_overlapping(&ws);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].result, Window::new(1, 24));
        assert_eq!(m[0].sources.len(), 3);
    }

    #[test]
    fn touching_sessions_do_not_merge() {
        assert!(merge_overlapping(&[Window::new(1, 11), Window::new(11, 21)]).is_empty());
    }

    #[test]
    fn gc_time_saturates() {
        assert_eq!(Window::new(0, 10).gc_time(5), 14);
        assert_eq!(Window::GLOBAL.gc_time(0), GLOBAL_MAX);
        assert_eq!(Window::new(0, 10).gc_time(i64::MAX), GLOBAL_MAX);
    }

    #[test]
    fn parse_and_print_round_trip() {
        for s in
            ["global", "fixed(10)", "fixed(10, offset=3)", "sliding(10, 5)", "sliding(10, 5, offset=2)", "sessions(7)"]
        {
            let w: WindowSpec = s.parse().unwrap();
            assert_eq!(w.to_string(), s);
        }
        assert_eq!("fixed(10, offset=13)".parse::<WindowSpec>().unwrap(), WindowSpec::Fixed { size: 10, offset: 3 });
        assert_eq!("fixed(10s)".parse::<WindowSpec>().unwrap(), WindowSpec::fixed(10_000));
        assert!("tumbling(10)".parse::<WindowSpec>().is_err());
        assert!("sessions(-1)".parse::<WindowSpec>().is_err());
    }
}

#[cfg(test)]
mod extreme_times {
    use super::*;
    #[test]
    fn assignment_does_not_overflow_near_the_ends() {
        let mut out = Vec::new();
        for spec in [
            WindowSpec::Fixed { size: 10, offset: 3 },
            WindowSpec::Sliding { size: 10, period: 3, offset: 1 },
            WindowSpec::sessions(10),
            WindowSpec::Global,
        ] {
            let f = spec.window_fn();
            for t in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
                out.clear();
                f.assign(t, &mut out);
                assert!(!out.is_empty(), "{spec} at {t}");
            }
        }
    }

    /// Every window of `size` starting at `offset + k * period` that holds `t`, by brute force.
    fn brute(t: i64, size: i64, period: i64, offset: i64) -> Vec<Window> {
        let (t, size, period, offset) = (t as i128, size as i128, period as i128, offset as i128);
        let first = t - size + 1;
        let mut s = first + (offset - first).rem_euclid(period);
        let mut out = Vec::new();
        while s <= t {
            out.push(Window::new(s.max(i64::MIN as i128) as i64, (s + size).min(i64::MAX as i128) as i64));
            s += period;
        }
        out.reverse();
        out
    }

    #[test]
    fn assignment_matches_brute_force_at_ordinary_and_extreme_times() {
        let mut out = Vec::new();
        let times = [-1_000_001, -37, -10, -1, 0, 1, 9, 10, 11, 1_436_918_400_000, i64::MAX - 5, i64::MIN + 5];
        for (size, period) in [(10, 10), (10, 3), (10, 2), (7, 7), (1, 1), (5, 10)] {
            for offset in 0..period.min(size) {
                for &t in &times {
                    out.clear();
                    if size == period {
                        WindowSpec::Fixed { size, offset }.window_fn().assign(t, &mut out);
                    } else {
                        WindowSpec::Sliding { size, period, offset }.window_fn().assign(t, &mut out);
                    }
                    assert_eq!(
                        out,
                        brute(t, size, period, offset),
                        "size {size}, period {period}, offset {offset}, t {t}"
                    );
                }
            }
        }
    }
}
