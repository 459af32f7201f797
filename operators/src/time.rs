//! Event time, processing time and the timely timestamp that carries the watermark.
//!
//! Event and processing times are `i64` milliseconds (the conformance scenarios' unit-less
//! "ticks" are read as milliseconds). They stay plain integers inside the model because
//! every rule of the model is arithmetic on them (`end - 1 + allowed_lateness`); the DSL
//! takes [`std::time::Duration`]s at its edge. [`Time`]'s `tick` is something else: a
//! progress counter that moves while the watermark stands still.

use serde::{Deserialize, Serialize};
use timely::order::{PartialOrder, TotalOrder};
use timely::progress::timestamp::{PathSummary, Refines, Timestamp};

/// The watermark before any data: −∞.
pub const NEG_INF: i64 = i64::MIN;
/// The watermark at the end of input: +∞.
pub const POS_INF: i64 = i64::MAX;
/// The maximum timestamp of the global window (Beam's `GlobalWindow.maxTimestamp()`):
/// one tick below +∞ so that the end of input passes it.
pub const GLOBAL_MAX: i64 = i64::MAX - 1;

/// The timely timestamp of every highwater dataflow: the event-time watermark, then a
/// progress counter.
///
/// Ordered lexicographically, so timely's frontier at an operator *is* Beam's input
/// watermark (`frontier.wm`), across workers and processes, with no watermark messages.
/// `tick` lets progress happen while the watermark stands still (a replay batch, a
/// processing-time period, one action of a conformance transcript).
///
/// ```
/// use highwater::model::time::Time;
/// let a = Time::new(10, 5);
/// let b = Time::new(11, 0);
/// assert!(a < b);
/// assert_eq!(a.watermark(), 10);
/// assert_eq!(Time::new(-5, 0).watermark(), -5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Time {
    /// The event-time watermark, encoded so that unsigned order is signed order
    /// (`i64::MIN` is 0). Read it with [`Time::watermark`].
    pub wm: u64,
    /// Progress counter within one watermark.
    pub tick: u64,
}

const SIGN: u64 = 1 << 63;

impl Time {
    /// A time at event-time watermark `wm` and progress counter `tick`.
    pub fn new(wm: i64, tick: u64) -> Self {
        Time { wm: (wm as u64) ^ SIGN, tick }
    }
    /// The event-time watermark this time stands for.
    pub fn watermark(&self) -> i64 {
        (self.wm ^ SIGN) as i64
    }
}

impl PartialOrder for Time {
    fn less_equal(&self, other: &Self) -> bool {
        self <= other
    }
}
impl TotalOrder for Time {}

impl Timestamp for Time {
    type Summary = TimeSummary;
    fn minimum() -> Self {
        Time { wm: 0, tick: 0 }
    }
}

impl Refines<()> for Time {
    fn to_inner(_: ()) -> Self {
        Time::minimum()
    }
    fn to_outer(self) {}
    fn summarize(_: TimeSummary) {}
}

/// The path summary of [`Time`]: highwater dataflows have no loops, so the only summary
/// is the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct TimeSummary;

impl PartialOrder for TimeSummary {
    fn less_equal(&self, _other: &Self) -> bool {
        true
    }
}

impl PathSummary<Time> for TimeSummary {
    fn results_in(&self, src: &Time) -> Option<Time> {
        Some(*src)
    }
    fn followed_by(&self, _other: &Self) -> Option<Self> {
        Some(TimeSummary)
    }
}

/// `a + b` for event times, saturating at ±∞.
pub fn add(a: i64, b: i64) -> i64 {
    a.saturating_add(b)
}

/// `Time` is totally ordered, so its lattice is the order itself: join is the later time,
/// meet the earlier. This makes highwater streams differential-dataflow collections.
impl differential_dataflow::lattice::Lattice for Time {
    fn join(&self, other: &Self) -> Self {
        *self.max(other)
    }
    fn meet(&self, other: &Self) -> Self {
        *self.min(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn encoding_preserves_order() {
        let xs = [i64::MIN, -100, -1, 0, 1, 100, i64::MAX];
        for w in xs.windows(2) {
            assert!(Time::new(w[0], 7) < Time::new(w[1], 0));
            assert_eq!(Time::new(w[0], 0).watermark(), w[0]);
        }
        assert_eq!(Time::minimum(), Time::new(NEG_INF, 0));
    }
}
