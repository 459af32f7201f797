//! Sinks: where collections end — [`JsonLines`] (standard output or a file),
//! [`CsvFile`], [`TcpSink`] (a server), [`Collector`] (memory, for tests). A sink of your
//! own implements [`crate::pipeline::Sink`].

mod collector;
mod csv_file;
mod json_lines;
mod tcp;

pub use collector::Collector;
pub use csv_file::CsvFile;
pub use json_lines::JsonLines;
pub use tcp::TcpSink;

use highwater_operators::pane::Pane;
use serde::Serialize;
use serde_json::{json, Value};

/// A pane as an output row: `key`, `window` as `[start, end]` (or `"global"`), `value`,
/// then the pane fields of the conformance format, and `diff` (−1 for a retraction).
///
/// ```
/// use highwater::pipeline::pane_row;
/// use highwater::model::pane::{Pane, PaneInfo, Timing};
/// use highwater::model::window::Window;
/// let p = Pane { key: "a", window: Window::new(0, 10), value: 3u64, timestamp: 9,
///     info: PaneInfo { timing: Timing::OnTime, index: 0, nonspeculative_index: 0, first: true, last: true },
///     retraction: false, tick: 0 };
/// assert_eq!(pane_row(&p)["window"], serde_json::json!([0, 10]));
/// assert_eq!(pane_row(&p)["diff"], 1);
/// ```
pub fn pane_row<K: Serialize, O: Serialize>(p: &Pane<K, O>) -> Value {
    json!({
        "key": p.key,
        "window": if p.window.is_global() { json!("global") } else { json!([p.window.start, p.window.end]) },
        "value": p.value,
        "timestamp": p.timestamp,
        "timing": p.info.timing.to_string(),
        "index": p.info.index,
        "nonspeculative_index": p.info.nonspeculative_index,
        "first": p.info.first,
        "last": p.info.last,
        "diff": p.diff(),
    })
}
