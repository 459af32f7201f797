//! The stall watcher: when the output watermark has not moved for the run's
//! [`stall_warning`](crate::pipeline::RunConfig::stall_warning) while records arrive (or,
//! with a live source, while time passes), standard error names the partition holding it
//! back, its watermark and how long it has been silent:
//!
//! ```text
//! highwater: warning: the output watermark has stood at 5000 ms = 1970-01-01T00:00:05.000Z for 10.2 s while records arrive; held back by source `input`, partition `tcp 127.0.0.1:53412` (watermark 5000 ms = 1970-01-01T00:00:05.000Z, silent for 10.1 s, 3 records read). A silent connection holds the watermark back until it sends or closes: --idle-timeout DURATION (e.g. 5s) lets the watermark pass it.
//! ```
//!
//! One warning per stall and partition. The watcher is a thread of its own that reads the
//! status a few times per stall period.

use super::status::{millis, HoldBack, Status};
use crate::runtime::Progress;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A running stall watcher; it stops when dropped.
pub(crate) struct StallWatcher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the watcher remembers between looks.
#[derive(Debug, Default)]
pub(crate) struct Stall {
    /// The output watermark last seen, when it was first seen (processing time), and the
    /// records read then.
    watermark: Option<Option<i64>>,
    since: i64,
    records: u64,
    /// The partition already warned about in this stall.
    warned: Option<String>,
}

impl Stall {
    /// Looks at `status`: the warning to print, if the output watermark has stood for
    /// `after` while data or time flowed and a partition holds it back.
    pub(crate) fn look(&mut self, status: &Status, after: Duration) -> Option<String> {
        let wm = status.output_watermark();
        if self.watermark != Some(wm) {
            *self = Stall { watermark: Some(wm), since: status.at, records: status.records_read, warned: None };
            return None;
        }
        let stood = status.at.saturating_sub(self.since).max(0) as u64;
        let flowing = status.records_read > self.records || status.sources.iter().any(|s| s.live);
        if wm == Some(i64::MAX) || stood < after.as_millis() as u64 || !flowing {
            return None;
        }
        let culprit = status.holding_back()?;
        if self.warned.as_deref() == Some(culprit.partition.name.as_str()) {
            return None;
        }
        self.warned = Some(culprit.partition.name.clone());
        Some(warning(wm, Duration::from_millis(stood), &culprit, status.records_read > self.records))
    }
}

/// The warning's text.
fn warning(wm: Option<i64>, stood: Duration, culprit: &HoldBack, records: bool) -> String {
    let flowing = if records { "records arrive" } else { "time passes" };
    let mut w = format!(
        "highwater: warning: the output watermark has stood at {} for {:.1} s while {flowing}; held back by {culprit}.",
        millis(wm),
        stood.as_secs_f64()
    );
    if culprit.live {
        w.push_str(
            " A silent connection holds the watermark back until it sends or closes: --idle-timeout DURATION (e.g. 5s) lets the watermark pass it.",
        );
    } else {
        w.push_str(" Its records are read in order: the watermark moves once it catches up with the others.");
    }
    w
}

impl StallWatcher {
    /// Watches the run `progress` counts; warns after `after` without movement.
    pub(crate) fn start(progress: Arc<Progress>, after: Duration) -> StallWatcher {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let every = (after / 5).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let thread = std::thread::Builder::new()
            .name("highwater-stall".into())
            .spawn(move || {
                let mut stall = Stall::default();
                let (lock, cvar) = &*flag;
                let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !*stopped {
                    stopped = cvar.wait_timeout(stopped, every).unwrap_or_else(|e| e.into_inner()).0;
                    if *stopped {
                        break;
                    }
                    if let Some(w) = stall.look(&progress.status(), after) {
                        eprintln!("{w}");
                    }
                }
            })
            .ok();
        StallWatcher { stop, thread }
    }
}

impl Drop for StallWatcher {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
