//! The bounded-out-of-orderness watermark of one partition, as a pure value.

use highwater_operators::time::NEG_INF;

/// Watermark = the largest event time seen − `bound`: records at most `bound` behind the
/// latest one are on time. The source advances it once per batch, never per record
/// (DESIGN §3).
///
/// ```
/// use highwater::source::BoundedOutOfOrderness;
/// let mut w = BoundedOutOfOrderness::new(2_000);
/// assert_eq!(w.watermark(), i64::MIN);
/// w.observe(10_000);
/// w.observe(7_000);
/// assert_eq!(w.watermark(), 8_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundedOutOfOrderness {
    bound: i64,
    max_seen: Option<i64>,
}

impl BoundedOutOfOrderness {
    /// A strategy allowing records up to `bound` ms behind the latest one.
    pub fn new(bound: i64) -> Self {
        BoundedOutOfOrderness { bound: bound.max(0), max_seen: None }
    }
    /// Notes an event time.
    pub fn observe(&mut self, event_time: i64) {
        self.max_seen = Some(self.max_seen.map_or(event_time, |m| m.max(event_time)));
    }
    /// The watermark implied by what was observed (−∞ before any record).
    pub fn watermark(&self) -> i64 {
        self.max_seen.map_or(NEG_INF, |m| m.saturating_sub(self.bound))
    }
}
