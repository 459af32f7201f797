//! Timers: event-time timers fire as the watermark passes them, processing-time timers as
//! the pipeline's clock does; each key has at most one timer per (domain, tag).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The clock a timer follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TimeDomain {
    /// The input watermark: the timer fires once the watermark passes its time.
    EventTime,
    /// The pipeline's [`crate::clock::Clock`]: the timer fires once processing time
    /// passes its time.
    ProcessingTime,
}

impl fmt::Display for TimeDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeDomain::EventTime => "event-time",
            TimeDomain::ProcessingTime => "processing-time",
        })
    }
}

/// A timer that fired, as [`super::KeyedProcess::on_timer`] receives it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timer {
    /// Its clock.
    pub domain: TimeDomain,
    /// Its time: event time, or processing time, in milliseconds.
    pub time: i64,
    /// The tag it was set with (one timer per key, domain and tag).
    pub tag: String,
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} timer `{}` at {}", self.domain, self.tag, self.time)
    }
}
