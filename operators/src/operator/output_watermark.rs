//! The output watermark of an aggregation: per worker, per key, or shared across workers.

use crate::time::NEG_INF;
use std::sync::{Arc, Mutex};

/// Where an aggregate operator takes its output watermark from (the watermark that
/// decides whether a pane is late for downstream, and which holds are still possible).
#[derive(Clone, Debug, Default)]
pub enum OutputWatermark {
    /// `min(input watermark, this worker's holds)`, recomputed after each watermark
    /// advance. Exact on one worker, and for any number of workers when no hold of one
    /// key matters to another's timing.
    #[default]
    Local,
    /// Per key and continuous: `min(input watermark, the key's holds)`
    /// ([`crate::reduce::OutputWatermarkMode::PerKey`]). Needs no communication, so the
    /// panes are the same at any number of workers and processes: the mode for pipelines.
    PerKey,
    /// Shared among the worker threads of one process through a [`WatermarkBoard`]: each
    /// worker publishes its earliest hold, and a driver that steps all workers in lockstep
    /// (the conformance runner) latches the global minimum after each watermark advance.
    Shared(WatermarkBoard),
}

/// Earliest holds published by each worker, and the latched global output watermark.
///
/// ```
/// use highwater::model::operator::WatermarkBoard;
/// let b = WatermarkBoard::new(2);
/// b.publish(0, Some(5));
/// b.publish(1, None);
/// b.latch(20);
/// assert_eq!(b.get(), 5);
/// b.publish(0, None);
/// b.latch(20);
/// assert_eq!(b.get(), 20);
/// ```
#[derive(Clone, Debug)]
pub struct WatermarkBoard(Arc<Mutex<Board>>);

#[derive(Debug)]
struct Board {
    holds: Vec<Option<i64>>,
    latched: i64,
}

impl WatermarkBoard {
    /// A board for `workers` workers.
    pub fn new(workers: usize) -> Self {
        WatermarkBoard(Arc::new(Mutex::new(Board { holds: vec![None; workers], latched: NEG_INF })))
    }
    /// Worker `worker`'s earliest hold (`None`: it holds nothing back).
    pub fn publish(&self, worker: usize, hold: Option<i64>) {
        let mut b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if worker < b.holds.len() {
            b.holds[worker] = hold;
        }
    }
    /// Latches `min(input_wm, every published hold)` (never moving backwards).
    pub fn latch(&self, input_wm: i64) {
        let mut b = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let min = b.holds.iter().flatten().copied().min().map_or(input_wm, |h| h.min(input_wm));
        b.latched = b.latched.max(min);
    }
    /// The latched output watermark.
    pub fn get(&self) -> i64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).latched
    }
}
