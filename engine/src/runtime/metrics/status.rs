//! [`Status`]: what the run is doing now — its sources and their partitions, its windowed
//! steps, its checkpoints — and [`HoldBack`], the partition that holds the watermark back.

use super::cells::{Metrics, SourceReport, StepCell};
use crate::dead_letter::DeadLetterKind;
use crate::runtime::Progress;
use std::fmt;
use std::time::Duration;

/// Partitions of one source with a metric series of their own: the slowest ones (least
/// watermark first). The others are summed into one series labelled [`OTHER_PARTITIONS`],
/// so a job over a thousand files or connections makes at most this many series plus one
/// per source and metric.
pub const MAX_PARTITION_SERIES: usize = 10;

/// The `partition` label of the series that stands for the partitions past
/// [`MAX_PARTITION_SERIES`].
pub const OTHER_PARTITIONS: &str = "other";

/// One open partition of a source: a file, a byte range of one, a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionStatus {
    /// What it is: `PATH`, `PATH bytes [START, END)`, `tcp PEER`.
    pub name: String,
    /// Its watermark (ms; `None` before its first record).
    pub watermark: Option<i64>,
    /// How long since its last batch that carried records, dead letters or a watermark.
    pub silent_for: Duration,
    /// Silent past the source's idle timeout: it no longer holds the watermark back.
    pub idle: bool,
    /// Records read from it.
    pub records: u64,
    /// Dead letters of it (malformed, too long, cut by a disconnect).
    pub dead_letters: u64,
}

/// One source of the run, over the workers of this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceStatus {
    /// The step's name (`Pipeline::read`'s).
    pub name: String,
    /// A live source (sockets).
    pub live: bool,
    /// Its open partitions, slowest first (least watermark, then longest silent).
    pub partitions: Vec<PartitionStatus>,
    /// Partitions read to their end.
    pub partitions_done: u64,
    /// Records read, over every partition (open or done).
    pub records: u64,
    /// Its dead letters, over every partition.
    pub dead_letters: u64,
    /// Its watermark: the least stamp still to come over the workers reading it (`None`
    /// once it is done, or before it has one).
    pub watermark: Option<i64>,
    /// The highest watermark it stamped records with (the end summary's).
    pub last_watermark: Option<i64>,
}

/// One windowed step (an aggregate), over the workers of this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepStatus {
    /// The step's name.
    pub name: String,
    /// Panes emitted (retractions not counted), early, on time and late.
    pub panes_early: u64,
    /// See [`StepStatus::panes_early`].
    pub panes_on_time: u64,
    /// See [`StepStatus::panes_early`].
    pub panes_late: u64,
    /// Records dropped as too late or for a closed window.
    pub late_dropped: u64,
    /// Its output watermark (ms): the least over the workers of its output frontier
    /// (`None` before it moved; `i64::MAX` once the step has emitted everything).
    pub output_watermark: Option<i64>,
    /// Windows open, summed over the workers.
    pub open_windows: u64,
    /// Keys with state, summed over the workers.
    pub state_keys: u64,
}

/// What the run is doing now, in this process. Get it with
/// [`crate::pipeline::Progress::status`], from any thread, while the run goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Processing time of the status (ms, the run's clock).
    pub at: i64,
    /// Records read by every source.
    pub records_read: u64,
    /// Dead letters by kind.
    pub dead_letters: Vec<(DeadLetterKind, u64)>,
    /// The sources, in the order they were built.
    pub sources: Vec<SourceStatus>,
    /// The windowed steps, in the order they were built.
    pub steps: Vec<StepStatus>,
    /// The last checkpoint written: how long it took (from asking the sources for its
    /// cut to its manifest) and its bytes over the workers.
    pub last_checkpoint: Option<(Duration, u64)>,
}

/// The partition holding the watermark back: the open, non-idle partition of least
/// watermark over every source (the longest silent of equals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldBack {
    /// Its source.
    pub source: String,
    /// Whether the source is live (then `--idle-timeout` can let the watermark pass a
    /// silent connection).
    pub live: bool,
    /// The partition.
    pub partition: PartitionStatus,
}

impl fmt::Display for HoldBack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.partition;
        write!(f, "source `{}`, partition `{}` (watermark {}", self.source, p.name, millis(p.watermark))?;
        write!(f, ", silent for {:.1} s", p.silent_for.as_secs_f64())?;
        write!(f, ", {} records read)", p.records)
    }
}

/// A watermark as a person reads it: milliseconds and RFC 3339 (`-inf` before the first
/// record, `+inf` once done).
///
/// ```
/// use highwater::runtime::metrics::describe_watermark;
/// assert_eq!(describe_watermark(Some(5_000)), "5000 ms = 1970-01-01T00:00:05.000Z");
/// ```
pub fn describe_watermark(wm: Option<i64>) -> String {
    millis(wm)
}

pub(crate) fn millis(wm: Option<i64>) -> String {
    match wm {
        None | Some(i64::MIN) => "-inf (no record yet)".to_string(),
        Some(i64::MAX) => "+inf (done)".to_string(),
        Some(w) => match chrono::DateTime::from_timestamp_millis(w) {
            Some(t) => format!("{w} ms = {}", t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            None => format!("{w} ms"),
        },
    }
}

const KINDS: [DeadLetterKind; 5] = [
    DeadLetterKind::Malformed,
    DeadLetterKind::TooLong,
    DeadLetterKind::Disconnect,
    DeadLetterKind::TooLate,
    DeadLetterKind::WindowClosed,
];

impl Status {
    /// The status of the run `progress` counts, by the cells of `metrics`.
    pub(crate) fn of(progress: &Progress, metrics: &Metrics) -> Status {
        let at = metrics.now();
        let sources = metrics
            .sources()
            .into_iter()
            .map(|(name, cells)| {
                let live = cells.iter().any(|c| c.live);
                let reports: Vec<SourceReport> = cells.iter().map(|c| c.report().clone()).collect();
                source_status(name, live, &reports, at)
            })
            .collect();
        let steps = metrics.steps().into_iter().map(|(name, cells)| step_status(name, &cells)).collect();
        Status {
            at,
            records_read: progress.records(),
            dead_letters: KINDS.iter().map(|k| (*k, progress.dead_letters_of(*k))).collect(),
            sources,
            steps,
            last_checkpoint: metrics.last_checkpoint(),
        }
    }

    /// The output watermark of the run: the least over its windowed steps not finished
    /// (without one, over its sources still read); `None` before it moved.
    pub fn output_watermark(&self) -> Option<i64> {
        if self.steps.is_empty() {
            return self.sources.iter().filter_map(|s| s.watermark).min();
        }
        let open: Vec<Option<i64>> =
            self.steps.iter().map(|s| s.output_watermark).filter(|w| *w != Some(i64::MAX)).collect();
        if open.is_empty() {
            return Some(i64::MAX);
        }
        open.into_iter().min().flatten()
    }

    /// The partition holding the watermark back, if any is open.
    ///
    /// ```
    /// use highwater::pipeline::{run, Memory, RunConfig};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// let config = RunConfig::workers(1);
    /// let progress = config.progress();
    /// run(config, |p| {
    ///     p.read("numbers", Memory::new(vec![vec![(1, 1u64)]], WatermarkStrategy::Ascending))?;
    ///     Ok(())
    /// })
    /// .unwrap();
    /// // Every partition was read to its end: none holds the watermark back.
    /// let status = progress.status();
    /// assert_eq!(status.holding_back(), None);
    /// assert_eq!((status.sources[0].records, status.sources[0].partitions_done), (1, 1));
    /// ```
    pub fn holding_back(&self) -> Option<HoldBack> {
        self.sources
            .iter()
            .flat_map(|s| s.partitions.iter().filter(|p| !p.idle).map(move |p| (s, p)))
            .min_by(|(_, a), (_, b)| a.watermark.cmp(&b.watermark).then(b.silent_for.cmp(&a.silent_for)))
            .map(|(s, p)| HoldBack { source: s.name.clone(), live: s.live, partition: p.clone() })
    }
}

fn source_status(name: String, live: bool, reports: &[SourceReport], at: i64) -> SourceStatus {
    let mut partitions: Vec<PartitionStatus> = reports
        .iter()
        .flat_map(|r| r.partitions.iter())
        .map(|p| PartitionStatus {
            name: p.name.clone(),
            watermark: Some(p.watermark).filter(|w| *w != i64::MIN),
            silent_for: Duration::from_millis(at.saturating_sub(p.last_active).max(0) as u64),
            idle: p.idle,
            records: p.records,
            dead_letters: p.dead,
        })
        .collect();
    partitions.sort_by(|a, b| a.watermark.cmp(&b.watermark).then(b.silent_for.cmp(&a.silent_for)));
    SourceStatus {
        name,
        live,
        partitions_done: reports.iter().map(|r| r.done).sum(),
        records: reports.iter().map(|r| r.done_records + r.partitions.iter().map(|p| p.records).sum::<u64>()).sum(),
        dead_letters: reports.iter().map(|r| r.done_dead + r.partitions.iter().map(|p| p.dead).sum::<u64>()).sum(),
        watermark: reports.iter().filter_map(|r| r.frontier).filter(|w| *w != i64::MIN).min(),
        last_watermark: reports.iter().filter_map(|r| r.last_watermark).filter(|w| *w != i64::MIN).max(),
        partitions,
    }
}

fn step_status(name: String, cells: &[std::sync::Arc<StepCell>]) -> StepStatus {
    let panes = cells.iter().map(|c| c.panes()).fold([0; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
    let wms: Vec<Option<i64>> = cells.iter().map(|c| c.output_watermark()).collect();
    StepStatus {
        name,
        panes_early: panes[0],
        panes_on_time: panes[1],
        panes_late: panes[2],
        late_dropped: cells.iter().map(|c| c.late_dropped()).sum(),
        // Before every worker's frontier moved, the step has no output watermark yet.
        output_watermark: if wms.iter().any(Option::is_none) { None } else { wms.into_iter().flatten().min() },
        open_windows: cells.iter().map(|c| c.gauges.open_windows()).sum(),
        state_keys: cells.iter().map(|c| c.gauges.state_keys()).sum(),
    }
}

/// One series of `highwater_source_watermark_ms`: a partition, or the partitions past the
/// cap summed under [`OTHER_PARTITIONS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSeries {
    /// The `partition` label.
    pub label: String,
    /// The least watermark of its partitions (`None`: one has no record yet).
    pub watermark: Option<i64>,
    /// How many partitions it stands for.
    pub partitions: usize,
}

/// The series of a source's partitions, at most `max` + 1: the `max` slowest of
/// `partitions` (given slowest first, as [`SourceStatus::partitions`] is) under their own
/// names, and the rest as one [`OTHER_PARTITIONS`] series with their least watermark.
///
/// ```
/// use highwater::runtime::metrics::{cap_partitions, PartitionStatus};
/// use std::time::Duration;
/// let p = |name: &str, wm: i64| PartitionStatus {
///     name: name.into(), watermark: Some(wm), silent_for: Duration::ZERO, idle: false, records: 0, dead_letters: 0,
/// };
/// let parts = [p("a.csv", 10), p("b.csv", 20), p("c.csv", 30), p("d.csv", 40)];
/// let series = cap_partitions(&parts, 2);
/// let labels: Vec<(&str, Option<i64>, usize)> =
///     series.iter().map(|s| (s.label.as_str(), s.watermark, s.partitions)).collect();
/// assert_eq!(labels, [("a.csv", Some(10), 1), ("b.csv", Some(20), 1), ("other", Some(30), 2)]);
/// ```
pub fn cap_partitions(partitions: &[PartitionStatus], max: usize) -> Vec<PartitionSeries> {
    let mut out: Vec<PartitionSeries> = partitions
        .iter()
        .take(max)
        .map(|p| PartitionSeries { label: p.name.clone(), watermark: p.watermark, partitions: 1 })
        .collect();
    let rest = &partitions[max.min(partitions.len())..];
    if !rest.is_empty() {
        let watermark = if rest.iter().any(|p| p.watermark.is_none()) {
            None
        } else {
            rest.iter().filter_map(|p| p.watermark).min()
        };
        out.push(PartitionSeries { label: OTHER_PARTITIONS.to_string(), watermark, partitions: rest.len() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, wm: Option<i64>, silent: u64) -> PartitionStatus {
        PartitionStatus {
            name: name.into(),
            watermark: wm,
            silent_for: Duration::from_millis(silent),
            idle: false,
            records: 0,
            dead_letters: 0,
        }
    }

    #[test]
    fn a_thousand_partitions_make_at_most_the_cap_plus_one_series() {
        let parts: Vec<PartitionStatus> = (0..1000).map(|i| part(&format!("f{i}.csv"), Some(i), 0)).collect();
        let series = cap_partitions(&parts, MAX_PARTITION_SERIES);
        assert_eq!(series.len(), MAX_PARTITION_SERIES + 1);
        assert_eq!(series[0].label, "f0.csv");
        let other = series.last().unwrap();
        assert_eq!((other.label.as_str(), other.watermark, other.partitions), ("other", Some(10), 990));
        assert_eq!(series.iter().map(|s| s.partitions).sum::<usize>(), 1000);
    }

    #[test]
    fn few_partitions_are_not_capped_and_an_empty_source_has_no_series() {
        let parts = [part("a", Some(1), 0), part("b", Some(2), 0)];
        assert_eq!(cap_partitions(&parts, 2).len(), 2);
        assert!(cap_partitions(&[], 10).is_empty());
        assert_eq!(cap_partitions(&parts, 0)[0].label, OTHER_PARTITIONS);
    }

    #[test]
    fn the_other_series_has_no_watermark_while_one_of_its_partitions_has_none() {
        let parts = [part("a", Some(1), 0), part("b", Some(5), 0), part("c", None, 0)];
        let series = cap_partitions(&parts, 1);
        assert_eq!((series[1].watermark, series[1].partitions), (None, 2));
    }

    #[test]
    fn the_partition_holding_the_watermark_back_is_the_least_then_the_longest_silent() {
        let source = |name: &str, partitions: Vec<PartitionStatus>| SourceStatus {
            name: name.into(),
            live: true,
            partitions,
            partitions_done: 0,
            records: 0,
            dead_letters: 0,
            watermark: None,
            last_watermark: None,
        };
        let mut idle = part("tcp 10.0.0.9:1", Some(0), 90_000);
        idle.idle = true;
        let status = Status {
            at: 0,
            records_read: 0,
            dead_letters: Vec::new(),
            sources: vec![
                source("a", vec![part("tcp 10.0.0.1:1", Some(5_000), 100), idle]),
                source("b", vec![part("tcp 10.0.0.2:1", Some(5_000), 12_000), part("tcp 10.0.0.3:1", Some(9_000), 0)]),
            ],
            steps: Vec::new(),
            last_checkpoint: None,
        };
        let h = status.holding_back().unwrap();
        assert_eq!((h.source.as_str(), h.partition.name.as_str()), ("b", "tcp 10.0.0.2:1"));
        assert!(h.to_string().contains("silent for 12.0 s"), "{h}");
    }
}
