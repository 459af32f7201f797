//! The `highwater_*` metrics of a [`Status`] in the Prometheus text format (OpenMetrics
//! 1.0, which Prometheus scrapes natively), encoded by `prometheus-client`. The registry is
//! built from the status at each scrape: the hot path never touches it.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `highwater_records_read_total` | counter | | records read by every source |
//! | `highwater_dead_letters_total` | counter | `kind` | dead letters: `malformed`, `too_long`, `disconnect`, `too_late`, `window_closed` |
//! | `highwater_late_dropped_total` | counter | `step` | records a windowed step dropped as too late or for a closed window |
//! | `highwater_panes_emitted_total` | counter | `step`, `timing` | panes emitted (`early`, `on_time`, `late`; retractions not counted) |
//! | `highwater_source_watermark_ms` | gauge | `source`, `partition` | each open partition's watermark: the [`MAX_PARTITION_SERIES`] slowest by name, the rest as `other` (their least) |
//! | `highwater_output_watermark_ms` | gauge | `step` | the step's output watermark (least over the workers); absent before it moved |
//! | `highwater_watermark_lag_ms` | gauge | `source` | live sources: processing time minus the source's watermark |
//! | `highwater_open_windows` | gauge | `step` | windows open, summed over the workers |
//! | `highwater_state_keys` | gauge | `step` | keys with state, summed over the workers |
//! | `highwater_checkpoint_duration_seconds` | gauge | | the last checkpoint: from asking the sources for its cut to its manifest |
//! | `highwater_checkpoint_bytes` | gauge | | the last checkpoint's bytes over the workers |
//!
//! A watermark before the first record (−∞) or after the last (+∞) has no series.

use super::status::{cap_partitions, Status, MAX_PARTITION_SERIES};
use prometheus_client::encoding::text::encode as encode_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A finite watermark (not −∞, not +∞).
fn finite(wm: Option<i64>) -> Option<i64> {
    wm.filter(|w| *w != i64::MIN && *w != i64::MAX)
}

/// The content type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics of `status` as exposition text (ending in `# EOF`).
///
/// ```
/// use highwater::pipeline::{run, Memory, RunConfig};
/// use highwater::model::watermark::WatermarkStrategy;
/// let config = RunConfig::workers(1);
/// let progress = config.progress();
/// run(config, |p| {
///     p.read("numbers", Memory::new(vec![vec![(1, 1u64), (2, 2)]], WatermarkStrategy::Ascending))?;
///     Ok(())
/// })
/// .unwrap();
/// let text = highwater::runtime::metrics::encode(&progress.status());
/// assert!(text.contains("highwater_records_read_total 2\n"), "{text}");
/// assert!(text.contains("highwater_dead_letters_total{kind=\"malformed\"} 0\n"), "{text}");
/// ```
pub fn encode(status: &Status) -> String {
    let mut registry = Registry::default();

    let records: Counter = Counter::default();
    records.inc_by(status.records_read);
    registry.register("highwater_records_read", "Records read by every source", records);

    let dead = Family::<Labels, Counter>::default();
    for (kind, n) in &status.dead_letters {
        dead.get_or_create(&labels(&[("kind", kind.as_str())])).inc_by(*n);
    }
    registry.register("highwater_dead_letters", "Dead letters by kind", dead);

    let late = Family::<Labels, Counter>::default();
    let panes = Family::<Labels, Counter>::default();
    let output_wm = Family::<Labels, Gauge>::default();
    let open_windows = Family::<Labels, Gauge>::default();
    let state_keys = Family::<Labels, Gauge>::default();
    for s in &status.steps {
        late.get_or_create(&labels(&[("step", &s.name)])).inc_by(s.late_dropped);
        for (timing, n) in [("early", s.panes_early), ("on_time", s.panes_on_time), ("late", s.panes_late)] {
            panes.get_or_create(&labels(&[("step", &s.name), ("timing", timing)])).inc_by(n);
        }
        if let Some(w) = finite(s.output_watermark) {
            output_wm.get_or_create(&labels(&[("step", &s.name)])).set(w);
        }
        open_windows.get_or_create(&labels(&[("step", &s.name)])).set(clamp(s.open_windows));
        state_keys.get_or_create(&labels(&[("step", &s.name)])).set(clamp(s.state_keys));
    }
    registry.register(
        "highwater_late_dropped",
        "Records a windowed step dropped as too late or for a closed window",
        late,
    );
    registry.register("highwater_panes_emitted", "Panes emitted by a windowed step, by timing", panes);

    let source_wm = Family::<Labels, Gauge>::default();
    let lag = Family::<Labels, Gauge>::default();
    for src in &status.sources {
        for series in cap_partitions(&src.partitions, MAX_PARTITION_SERIES) {
            if let Some(w) = finite(series.watermark) {
                source_wm.get_or_create(&labels(&[("source", &src.name), ("partition", &series.label)])).set(w);
            }
        }
        if src.live {
            if let Some(w) = finite(src.watermark) {
                lag.get_or_create(&labels(&[("source", &src.name)])).set(status.at.saturating_sub(w).max(0));
            }
        }
    }
    registry.register(
        "highwater_source_watermark_ms",
        "Watermark of each open partition (ms; the slowest by name, the rest as `other`)",
        source_wm,
    );
    registry.register("highwater_output_watermark_ms", "Output watermark of a windowed step (ms)", output_wm);
    registry.register(
        "highwater_watermark_lag_ms",
        "Live sources: processing time minus the source's watermark (ms)",
        lag,
    );
    registry.register("highwater_open_windows", "Windows open in a windowed step", open_windows);
    registry.register("highwater_state_keys", "Keys with state in a windowed step", state_keys);

    if let Some((took, bytes)) = status.last_checkpoint {
        let duration = Gauge::<f64, AtomicU64>::default();
        duration.set(took.as_secs_f64());
        registry.register(
            "highwater_checkpoint_duration_seconds",
            "The last checkpoint: from asking the sources for its cut to its manifest",
            duration,
        );
        let size: Gauge = Gauge::default();
        size.set(clamp(bytes));
        registry.register("highwater_checkpoint_bytes", "The last checkpoint's bytes over the workers", size);
    }

    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = encode_text(&mut text, &registry);
    text
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
