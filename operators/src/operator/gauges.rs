//! What a windowed step reports of its state while it runs: the windows it holds open and
//! the keys it keeps state for. The operator stores both once per activation (two relaxed
//! stores, no lock); whoever holds a clone reads them (the engine's metrics, at scrape time).

use std::sync::atomic::{AtomicU64, Ordering};

/// The open windows and keys with state of one windowed step in one worker.
///
/// - the on-time windows (`OnTimeWindows`): the windows not yet passed by the watermark in
///   the first phase (per worker, before the exchange), and the (key, window)
///   accumulators they hold (a key seen by two workers counts twice);
/// - the on-time sessions (`OnTimeSessions`): the open sessions, and the keys that have one;
/// - the reducer (`Precombined`, `Reducer`): the (key, window) pairs with a pending
///   event-time timer, and the keys with windows or unretracted panes;
/// - a process step (`keyed_process`, and the joins on it): its pending timers in place of
///   open windows, and the keys holding state or timers.
///
/// ```
/// use highwater::model::operator::StepGauges;
/// let g = StepGauges::default();
/// g.set(3, 120);
/// assert_eq!((g.open_windows(), g.state_keys()), (3, 120));
/// ```
#[derive(Debug, Default)]
pub struct StepGauges {
    /// Windows open (see the type's doc for what each operator counts).
    open_windows: AtomicU64,
    /// Keys (or key-window accumulators) with state.
    state_keys: AtomicU64,
}

impl StepGauges {
    /// Sets both values (the operator, once per activation).
    pub fn set(&self, open_windows: u64, state_keys: u64) {
        self.open_windows.store(open_windows, Ordering::Relaxed);
        self.state_keys.store(state_keys, Ordering::Relaxed);
    }
    /// The windows open at the last activation.
    pub fn open_windows(&self) -> u64 {
        self.open_windows.load(Ordering::Relaxed)
    }
    /// The keys with state at the last activation.
    pub fn state_keys(&self) -> u64 {
        self.state_keys.load(Ordering::Relaxed)
    }
}
