//! Processing time: the only place highwater reads the wall clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A source of processing time in milliseconds.
pub trait Clock: Send + Sync + 'static {
    /// The current processing time.
    fn now(&self) -> i64;
    /// Whether the clock moves by itself (then operators wake up for processing-time
    /// deadlines); a virtual clock moves only when told.
    fn is_realtime(&self) -> bool {
        true
    }
}

/// The system clock: milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// A clock that moves only when told to: tests and the conformance runner.
///
/// ```
/// use highwater::model::clock::{Clock, VirtualClock};
/// let c = VirtualClock::new(0);
/// c.set(15);
/// assert_eq!(c.now(), 15);
/// ```
#[derive(Clone, Debug, Default)]
pub struct VirtualClock(Arc<AtomicI64>);

impl VirtualClock {
    /// A clock showing `start`.
    pub fn new(start: i64) -> Self {
        VirtualClock(Arc::new(AtomicI64::new(start)))
    }
    /// Moves the clock to `t` (never backwards: an earlier `t` is ignored).
    pub fn set(&self, t: i64) {
        self.0.fetch_max(t, Ordering::SeqCst);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    fn is_realtime(&self) -> bool {
        false
    }
}
