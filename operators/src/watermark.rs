//! Watermark strategies: how a source partition turns the event times it has read into a
//! watermark. Pure values, no I/O; sources observe every record, and judge each against
//! the watermark as of the records before it.
//!
//! ```
//! use highwater::model::watermark::{PartitionWatermark, WatermarkStrategy};
//! let mut w = PartitionWatermark::new(WatermarkStrategy::BoundedOutOfOrderness(2_000));
//! w.observe(10_000);
//! w.observe(7_000);
//! assert_eq!(w.watermark(), 8_000);
//! let mut a = PartitionWatermark::new(WatermarkStrategy::Ascending);
//! a.observe(5);
//! assert_eq!(a.watermark(), 4);
//! ```

use crate::time::NEG_INF;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a partition's watermark follows its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WatermarkStrategy {
    /// Event times never decrease within a partition: the watermark is just below the
    /// latest one (an element at the latest time is still on time).
    Ascending,
    /// Records may be up to this many milliseconds behind the latest one.
    BoundedOutOfOrderness(i64),
    /// The data carries watermarks (e.g. `{"watermark": 123}` lines); records do not move
    /// the watermark.
    Punctuated,
}

impl fmt::Display for WatermarkStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatermarkStrategy::Ascending => write!(f, "ascending"),
            WatermarkStrategy::BoundedOutOfOrderness(b) => write!(f, "bounded({b})"),
            WatermarkStrategy::Punctuated => write!(f, "punctuated"),
        }
    }
}

impl WatermarkStrategy {
    /// Bounded out-of-orderness: the watermark trails the latest event time by `bound`
    /// (whole milliseconds; a fraction is rounded up, so the bound is never smaller than
    /// asked).
    ///
    /// ```
    /// use std::time::Duration;
    /// use highwater::model::watermark::WatermarkStrategy;
    /// assert_eq!(WatermarkStrategy::bounded(Duration::from_secs(2)), WatermarkStrategy::BoundedOutOfOrderness(2_000));
    /// ```
    pub fn bounded(bound: std::time::Duration) -> Self {
        WatermarkStrategy::BoundedOutOfOrderness(crate::duration::millis_rounded_up(bound))
    }
}

impl std::str::FromStr for WatermarkStrategy {
    type Err = String;
    /// `ascending`, `punctuated`, `bounded(2s)` or a bare duration (`2s`) meaning bounded.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        match t {
            "ascending" => Ok(WatermarkStrategy::Ascending),
            "punctuated" | "from_data" => Ok(WatermarkStrategy::Punctuated),
            _ => {
                let inner = t.strip_prefix("bounded(").and_then(|r| r.strip_suffix(')')).unwrap_or(t);
                let b = crate::duration::parse_ticks(inner).map_err(|e| {
                    format!("invalid watermark strategy `{t}`: {e}; use ascending, punctuated or bounded(2s)")
                })?;
                if b < 0 {
                    return Err(format!(
                        "invalid watermark strategy `{t}`: the bound must be 0 or more (a negative bound makes in-order records late)"
                    ));
                }
                Ok(WatermarkStrategy::BoundedOutOfOrderness(b))
            }
        }
    }
}

/// The watermark state of one partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionWatermark {
    strategy: WatermarkStrategy,
    max_seen: Option<i64>,
    punctuation: i64,
}

impl PartitionWatermark {
    /// A partition that has read nothing: watermark −∞.
    pub fn new(strategy: WatermarkStrategy) -> Self {
        PartitionWatermark { strategy, max_seen: None, punctuation: NEG_INF }
    }
    /// Notes a record's event time.
    pub fn observe(&mut self, event_time: i64) {
        self.max_seen = Some(self.max_seen.map_or(event_time, |m| m.max(event_time)));
    }
    /// Notes a watermark carried by the data (a `{"watermark": N}` line): under any strategy the
    /// watermark is then at least N (under `Punctuated` it is only that); never backwards.
    pub fn punctuate(&mut self, watermark: i64) {
        self.punctuation = self.punctuation.max(watermark);
    }
    /// The current watermark.
    pub fn watermark(&self) -> i64 {
        match self.strategy {
            WatermarkStrategy::Ascending => {
                self.max_seen.map_or(NEG_INF, |m| m.saturating_sub(1)).max(self.punctuation)
            }
            WatermarkStrategy::BoundedOutOfOrderness(b) => {
                self.max_seen.map_or(NEG_INF, |m| m.saturating_sub(b)).max(self.punctuation)
            }
            WatermarkStrategy::Punctuated => self.punctuation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parse_and_follow_the_data() {
        assert_eq!("bounded(2s)".parse::<WatermarkStrategy>(), Ok(WatermarkStrategy::BoundedOutOfOrderness(2000)));
        assert_eq!("500ms".parse::<WatermarkStrategy>(), Ok(WatermarkStrategy::BoundedOutOfOrderness(500)));
        assert!("sideways".parse::<WatermarkStrategy>().is_err());
        let mut p = PartitionWatermark::new(WatermarkStrategy::Punctuated);
        p.observe(100);
        assert_eq!(p.watermark(), NEG_INF);
        p.punctuate(50);
        p.punctuate(40);
        assert_eq!(p.watermark(), 50);
    }
}
