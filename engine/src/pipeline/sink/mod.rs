//! Sinks: where collections end — [`JsonLines`] (standard output or a file),
//! [`CsvFile`], [`TcpSink`] (a server), [`KafkaSink`] (a topic), [`Collector`] (memory, for tests). A sink of your
//! own implements [`crate::pipeline::Sink`].

mod collector;
mod csv_file;
mod json_lines;
mod kafka;
mod tcp;

pub use collector::Collector;
pub use csv_file::CsvFile;
pub use json_lines::JsonLines;
pub use kafka::{Delivery, KafkaSink};
pub use tcp::TcpSink;

use crate::row::{Row, RowFormat};
use highwater_operators::pane::Pane;
use serde::Serialize;
use serde_json::Value;

/// A pane as its output row ([`crate::row::write_pane_row`], the row `highwater run` and
/// [`JsonLines::rows`] write), as a JSON value: for sinks that take a formatter
/// ([`CsvFile::format`], [`TcpSink::format`]).
///
/// ```
/// use highwater::pipeline::pane_row;
/// use highwater::model::pane::{Pane, PaneInfo, Timing};
/// use highwater::model::window::Window;
/// let p = Pane { key: "a", window: Window::new(0, 10), value: 3u64, timestamp: 9,
///     info: PaneInfo { timing: Timing::OnTime, index: 0, nonspeculative_index: 0, first: true, last: true },
///     retraction: false, tick: 0 };
/// assert_eq!(pane_row(&p)["window"], serde_json::json!({"start": 0, "end": 10}));
/// assert_eq!(pane_row(&p)["pane"]["timing"], "on_time");
/// assert_eq!(pane_row(&p)["retraction"], false);
/// ```
pub fn pane_row<K: Serialize, O: Serialize>(p: &Pane<K, O>) -> Value {
    let mut line = String::new();
    p.write_row(&mut line, &RowFormat::default());
    serde_json::from_str(&line).unwrap_or(Value::Null)
}
