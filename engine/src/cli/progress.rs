//! The progress bar of a long file replay: rows, bytes, rate, watermark and the slowest
//! partition (the one holding the watermark back) on standard error, redrawn a few times
//! a second — only on a terminal, and only once the replay has
//! run for a second (short jobs and piped runs stay silent).

use crate::pipeline::Progress as Counters;
use crate::runtime::metrics::HoldBack;
use highwater_operators::time::{NEG_INF, POS_INF};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a replay runs before its bar appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// How often the bar is redrawn.
const EVERY: Duration = Duration::from_millis(200);

/// A running progress bar; [`Progress::finish`] clears it.
pub(super) struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Whether a bar may be drawn: standard error is a terminal, and the panes do not go to
/// the same terminal on standard output (the bar would tear their lines).
pub(super) fn wanted(output_is_stdout: bool) -> bool {
    std::io::stderr().is_terminal() && !(output_is_stdout && std::io::stdout().is_terminal())
}

/// An event time as a date when it looks like one (milliseconds since 1973), else the
/// number.
fn show_watermark(wm: Option<i64>) -> String {
    match wm {
        None => "-".into(),
        Some(NEG_INF) => "−∞".into(),
        Some(w) if w >= POS_INF - 1 => "+∞".into(),
        Some(w) if w >= 100_000_000_000 => chrono::DateTime::from_timestamp_millis(w)
            .map_or_else(|| w.to_string(), |d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
        Some(w) => w.to_string(),
    }
}

impl Progress {
    /// Starts the bar's thread (a no-op unless `enabled`). `total_bytes` is the input's
    /// size when known (no gzip).
    pub(super) fn start(stats: Arc<Counters>, total_bytes: Option<u64>, enabled: bool) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        if !enabled {
            return Progress { stop, thread: None };
        }
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("highwater-progress".into())
            .spawn(move || {
                let start = Instant::now();
                while start.elapsed() < SHOW_AFTER {
                    if flag.load(Ordering::Acquire) {
                        return;
                    }
                    std::thread::sleep(EVERY);
                }
                let bar = ProgressBar::with_draw_target(total_bytes, ProgressDrawTarget::stderr_with_hz(5))
                    .with_elapsed(start.elapsed());
                let template = if total_bytes.is_some() {
                    "{spinner} {elapsed_precise} [{bar:30}] {binary_bytes}/{binary_total_bytes} {msg}"
                } else {
                    "{spinner} {elapsed_precise} {binary_bytes} {msg}"
                };
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                while !flag.load(Ordering::Acquire) {
                    bar.set_position(stats.bytes());
                    let slowest = stats.status().holding_back();
                    bar.set_message(message(stats.records(), start.elapsed(), stats.watermark(), slowest.as_ref()));
                    bar.tick();
                    std::thread::sleep(EVERY);
                }
                bar.finish_and_clear();
            })
            .ok();
        Progress { stop, thread }
    }

    /// Stops and clears the bar.
    pub(super) fn finish(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The bar's message: rows, rate, watermark, and the partition holding it back.
fn message(rows: u64, elapsed: Duration, watermark: Option<i64>, slowest: Option<&HoldBack>) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    let mut m = format!("{rows} rows, {:.0} rows/s, watermark {}", rows as f64 / secs, show_watermark(watermark));
    if let Some(h) = slowest {
        m.push_str(&format!(", slowest {} at {}", h.partition.name, show_watermark(h.partition.watermark)));
    }
    m
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::metrics::PartitionStatus;
    #[test]
    fn watermarks_read_as_dates() {
        assert_eq!(show_watermark(Some(1_704_067_200_000)), "2024-01-01 00:00:00.000");
        assert_eq!(show_watermark(Some(42)), "42");
        assert_eq!(show_watermark(Some(NEG_INF)), "−∞");
        assert_eq!(show_watermark(None), "-");
    }

    #[test]
    fn the_message_names_the_slowest_partition() {
        let slow = HoldBack {
            source: "input".into(),
            live: false,
            partition: PartitionStatus {
                name: "b.csv bytes [0, 900)".into(),
                watermark: Some(1_704_067_200_000),
                silent_for: Duration::ZERO,
                idle: false,
                records: 10,
                dead_letters: 0,
            },
        };
        let m = message(2_000, Duration::from_secs(2), Some(1_704_067_200_000), Some(&slow));
        assert_eq!(
            m,
            "2000 rows, 1000 rows/s, watermark 2024-01-01 00:00:00.000, slowest b.csv bytes [0, 900) at 2024-01-01 00:00:00.000"
        );
        assert_eq!(message(5, Duration::from_secs(1), None, None), "5 rows, 5 rows/s, watermark -");
    }
}
