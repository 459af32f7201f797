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
        let records = status.records_read > self.records;
        // Every partition is past the output watermark: the windows' own holds keep it
        // (a timestamp combiner of `earliest`, windows still open), not a partition.
        if culprit.partition.watermark.is_some_and(|p| wm.is_some_and(|w| p > w)) {
            if self.warned.as_deref() == Some("") {
                return None;
            }
            self.warned = Some(String::new());
            return Some(held_by_windows(wm, Duration::from_millis(stood), status, records));
        }
        if self.warned.as_deref() == Some(culprit.partition.name.as_str()) {
            return None;
        }
        self.warned = Some(culprit.partition.name.clone());
        Some(warning(wm, Duration::from_millis(stood), &culprit, records))
    }
}

/// The warning when no partition is behind the output watermark.
fn held_by_windows(wm: Option<i64>, stood: Duration, status: &Status, records: bool) -> String {
    let flowing = if records { "records arrive" } else { "time passes" };
    let steps: Vec<String> = status
        .steps
        .iter()
        .filter(|s| s.output_watermark == wm)
        .map(|s| format!("`{}` ({} open windows)", s.name, s.open_windows))
        .collect();
    format!(
        "the output watermark has stood at {} for {:.1} s while {flowing}, though every source is past it: the open windows of step {} hold it (their panes' timestamps, e.g. a timestamp combiner of `earliest`).",
        millis(wm),
        stood.as_secs_f64(),
        steps.join(", ")
    )
}

/// The warning's text.
fn warning(wm: Option<i64>, stood: Duration, culprit: &HoldBack, records: bool) -> String {
    let flowing = if records { "records arrive" } else { "time passes" };
    let mut w = format!(
        "the output watermark has stood at {} for {:.1} s while {flowing}; held back by {culprit}.",
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
                        tracing::warn!("{w}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::metrics::{PartitionStatus, SourceStatus, StepStatus};

    fn status(at: i64, records: u64, partition_wm: i64, output_wm: i64) -> Status {
        Status {
            at,
            records_read: records,
            dead_letters: Vec::new(),
            sources: vec![SourceStatus {
                name: "input".into(),
                live: false,
                partitions: vec![PartitionStatus {
                    name: "bids.csv bytes [0, 100)".into(),
                    watermark: Some(partition_wm),
                    silent_for: Duration::from_millis(300),
                    idle: false,
                    records,
                    dead_letters: 0,
                }],
                partitions_done: 0,
                records,
                dead_letters: 0,
                watermark: Some(partition_wm),
                last_watermark: Some(partition_wm),
            }],
            steps: vec![StepStatus {
                name: "run".into(),
                panes_early: 0,
                panes_on_time: 0,
                panes_late: 0,
                late_dropped: 0,
                output_watermark: Some(output_wm),
                open_windows: 3,
                state_keys: 3,
            }],
            last_checkpoint: None,
        }
    }

    #[test]
    fn a_stall_is_told_once_after_the_delay_while_records_arrive() {
        let after = Duration::from_secs(10);
        let mut stall = Stall::default();
        assert_eq!(stall.look(&status(0, 10, 5_000, 5_000), after), None);
        // No record since: a finished job, a paused input, nothing to say.
        assert_eq!(stall.look(&status(11_000, 10, 5_000, 5_000), after), None);
        let w = stall.look(&status(12_000, 20, 5_000, 5_000), after).expect("a warning");
        assert!(w.contains("for 12.0 s while records arrive"), "{w}");
        assert!(w.contains("partition `bids.csv bytes [0, 100)` (watermark 5000 ms"), "{w}");
        assert!(w.contains("catches up"), "{w}");
        assert_eq!(stall.look(&status(13_000, 30, 5_000, 5_000), after), None, "told once");
        // The watermark moves: a new stall starts.
        assert_eq!(stall.look(&status(14_000, 40, 6_000, 6_000), after), None);
    }

    #[test]
    fn open_windows_holding_the_output_watermark_are_named_instead_of_a_partition() {
        let after = Duration::from_secs(1);
        let mut stall = Stall::default();
        assert_eq!(stall.look(&status(0, 10, 9_000, 5_000), after), None);
        let w = stall.look(&status(2_000, 20, 9_000, 5_000), after).expect("a warning");
        assert!(w.contains("every source is past it: the open windows of step `run` (3 open windows)"), "{w}");
    }
}
