//! Dead letters: records a pipeline could not use, with where they came from and why.
//!
//! There is one dead-letter type for every step — sources (a malformed line, an over-long
//! line, a connection cut in the middle of a line) and windowed aggregations (an element
//! too late for its window, or for a window whose trigger has finished). A pipeline hands
//! them over typed ([`crate::pipeline::Pipeline::dead_letters`]); `highwater run` writes
//! them as JSON lines with [`DeadLetter::write_json`].

use crate::row::{self, Row, RowFormat};
use highwater_operators::window::Window;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a record became a dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeadLetterKind {
    /// A line that does not make a record: bad CSV or JSON, a missing or non-numeric
    /// field, invalid UTF-8, a bad event time.
    Malformed,
    /// A line longer than the source's limit (its start is kept, the rest skipped).
    TooLong,
    /// A partial last line when a connection closed.
    Disconnect,
    /// An element whose window had expired (past its end plus the allowed lateness).
    TooLate,
    /// An element for a window whose trigger had finished.
    WindowClosed,
    /// A record, timer or output a keyed process step refused: the process returned an
    /// error or asked for a dead letter, a timer was set behind its clock, an output was
    /// behind its input's event time.
    Refused,
}

impl DeadLetterKind {
    /// The kind as written in JSON (`"malformed"`, `"too_late"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterKind::Malformed => "malformed",
            DeadLetterKind::TooLong => "too_long",
            DeadLetterKind::Disconnect => "disconnect",
            DeadLetterKind::TooLate => "too_late",
            DeadLetterKind::WindowClosed => "window_closed",
            DeadLetterKind::Refused => "refused",
        }
    }
    /// Whether a source dropped it (the input was bad), as opposed to a windowed step
    /// (the input came too late).
    pub fn is_input_error(self) -> bool {
        matches!(self, DeadLetterKind::Malformed | DeadLetterKind::TooLong | DeadLetterKind::Disconnect)
    }
}

impl fmt::Display for DeadLetterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a dead letter came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Location {
    /// A line of a file: its path, its 1-based line number and the byte offset of its start.
    File {
        /// The file.
        path: String,
        /// The line (1-based; 0 when the whole file is meant).
        line: u64,
        /// The byte offset of the line's start (of the decompressed data for gzip).
        byte: u64,
    },
    /// A line of a TCP connection: the peer, its 1-based line number and byte offset.
    Peer {
        /// The remote address.
        peer: String,
        /// The line (1-based).
        line: u64,
        /// The byte offset of the line's start in the connection's stream.
        byte: u64,
    },
    /// A message of a Kafka topic: its topic, partition and offset.
    Kafka {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The message's offset in its partition.
        offset: i64,
    },
    /// An element of a windowed step: its key (as JSON), event time and window, and the
    /// input watermark when it was dropped.
    Window {
        /// The key, as JSON text.
        key: String,
        /// The element's event time.
        timestamp: i64,
        /// The window's start and end.
        window: (i64, i64),
        /// The input watermark then.
        watermark: i64,
    },
    /// A record inside the pipeline (a step such as
    /// [`crate::pipeline::Collection::try_with_event_time`]): its event time until then and
    /// the watermark it was stamped with.
    Record {
        /// The record's event time before the step.
        event_time: i64,
        /// The watermark the record was stamped with.
        watermark: i64,
    },
    /// A record, timer or output of a keyed process step: its key (as JSON), event time
    /// (the record's, the timer's or the output's) and the input watermark then.
    Key {
        /// The key, as JSON text.
        key: String,
        /// The event time.
        event_time: i64,
        /// The input watermark then.
        watermark: i64,
    },
    /// Somewhere else (a source of your own): free text.
    Other(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { path, line, byte } => write!(f, "{path}:{line} (byte {byte})"),
            Location::Peer { peer, line, byte } => write!(f, "tcp {peer}, line {line} (byte {byte})"),
            Location::Kafka { topic, partition, offset } => {
                write!(f, "kafka topic {topic}, partition {partition}, offset {offset}")
            }
            Location::Window { key, timestamp, window, watermark } => {
                write!(
                    f,
                    "key {key}, event time {timestamp}, window [{}, {}), watermark {watermark}",
                    window.0, window.1
                )
            }
            Location::Record { event_time, watermark } => {
                write!(f, "a record of event time {event_time}, watermark {watermark}")
            }
            Location::Key { key, event_time, watermark } => {
                write!(f, "key {key}, event time {event_time}, watermark {watermark}")
            }
            Location::Other(s) => f.write_str(s),
        }
    }
}

/// A record that did not make it: a malformed line, a too-late element, an element for a
/// closed window. Bad input is normal input: every step that drops something sends it here
/// and counts it.
///
/// ```
/// use highwater::pipeline::{DeadLetter, DeadLetterKind, Location};
/// let d = DeadLetter {
///     step: "bids".into(),
///     kind: DeadLetterKind::Malformed,
///     location: Location::File { path: "bids.csv".into(), line: 3, byte: 27 },
///     reason: "field `price` is not a number: `oops`".into(),
///     record: "1,oops,1001".into(),
/// };
/// let mut line = String::new();
/// d.write_json(&mut line);
/// assert_eq!(
///     line,
///     r#"{"step":"bids","kind":"malformed","location":{"file":"bids.csv","line":3,"byte_offset":27},"reason":"field `price` is not a number: `oops`","line":"1,oops,1001"}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The step that dropped it (a source or an aggregation name).
    pub step: String,
    /// Why, as a kind.
    pub kind: DeadLetterKind,
    /// Where it came from.
    pub location: Location,
    /// Why, in words that say what to do.
    pub reason: String,
    /// The original line (its first 200 bytes, lossy UTF-8) for a source; the element as
    /// JSON for a windowed step.
    pub record: String,
}

impl DeadLetter {
    /// The longest prefix of an original line a dead letter keeps.
    pub const MAX_TEXT: usize = 200;

    /// A dead letter of a source line: `raw` is the line's bytes (only its first
    /// [`DeadLetter::MAX_TEXT`] are kept, without its line terminator).
    pub fn line(kind: DeadLetterKind, location: Location, reason: impl Into<String>, raw: &[u8]) -> Self {
        let text = &raw[..raw.len().min(Self::MAX_TEXT)];
        DeadLetter {
            step: String::new(),
            kind,
            location,
            reason: reason.into(),
            record: String::from_utf8_lossy(text).trim_end_matches(['\r', '\n']).to_string(),
        }
    }

    /// Appends the dead letter as its output row (one JSON object, no newline), the row
    /// `highwater run --dead-letters` and [`crate::pipeline::JsonLines::rows`] write:
    /// `step`, `kind`, `location` (`{"file", "line", "byte_offset"}`, `{"peer", "line",
    /// "byte_offset"}`, `{"topic", "partition", "offset"}`, `{"key", "window"}`, `{}` for a record inside the pipeline, or
    /// `{"other"}`), `reason`, then `line` (the original line, a string) for a source or
    /// `record` (the element as JSON) for a step, then `event_time` and `watermark` in
    /// milliseconds where known. `docs/output-format.md` has every field.
    pub fn write_json(&self, out: &mut String) {
        self.write_row(out, &RowFormat::default())
    }
}

/// The dead-letter row ([`DeadLetter::write_json`]), with RFC 3339 companions of the times
/// when the format asks for them.
impl Row for DeadLetter {
    fn write_row(&self, out: &mut String, format: &RowFormat) {
        let mut n = itoa::Buffer::new();
        out.push_str("{\"step\":");
        row::write_str(out, &self.step);
        out.push_str(",\"kind\":\"");
        out.push_str(self.kind.as_str());
        out.push_str("\",\"location\":");
        let mut times = None;
        match &self.location {
            Location::File { path, line, byte } | Location::Peer { peer: path, line, byte } => {
                out.push_str(if matches!(self.location, Location::File { .. }) { "{\"file\":" } else { "{\"peer\":" });
                row::write_str(out, path);
                out.push_str(",\"line\":");
                out.push_str(n.format(*line));
                out.push_str(",\"byte_offset\":");
                out.push_str(n.format(*byte));
                out.push('}');
            }
            Location::Kafka { topic, partition, offset } => {
                out.push_str("{\"topic\":");
                row::write_str(out, topic);
                out.push_str(",\"partition\":");
                out.push_str(n.format(*partition));
                out.push_str(",\"offset\":");
                out.push_str(n.format(*offset));
                out.push('}');
            }
            Location::Window { key, timestamp, window, watermark } => {
                out.push_str("{\"key\":");
                row::write_json_or_str(out, key);
                out.push_str(",\"window\":");
                row::write_window(out, &Window::new(window.0, window.1), format);
                out.push('}');
                times = Some((*timestamp, *watermark));
            }
            Location::Record { event_time, watermark } => {
                out.push_str("{}");
                times = Some((*event_time, *watermark));
            }
            Location::Key { key, event_time, watermark } => {
                out.push_str("{\"key\":");
                row::write_json_or_str(out, key);
                out.push('}');
                times = Some((*event_time, *watermark));
            }
            Location::Other(s) => {
                out.push_str("{\"other\":");
                row::write_str(out, s);
                out.push('}');
            }
        }
        out.push_str(",\"reason\":");
        row::write_str(out, &self.reason);
        if matches!(self.location, Location::File { .. } | Location::Peer { .. } | Location::Kafka { .. }) {
            out.push_str(",\"line\":");
            row::write_str(out, &self.record);
        } else {
            out.push_str(",\"record\":");
            row::write_json_or_str(out, &self.record);
        }
        if let Some((event_time, watermark)) = times {
            row::write_time_field(out, "event_time", event_time, format);
            row::write_time_field(out, "watermark", watermark, format);
        }
        out.push('}');
    }
}

impl fmt::Display for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in step `{}` at {}: {}", self.kind, self.step, self.location, self.reason)
    }
}
