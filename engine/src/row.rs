//! The output schema: the one JSON row of a pane, written by every writer of panes
//! (`highwater run`, [`crate::pipeline::JsonLines::rows`], [`crate::pipeline::pane_row`]),
//! and the pieces the dead-letter row ([`crate::dead_letter::DeadLetter::write_json`]) is
//! made of. `docs/output-format.md` describes both rows field by field.
//!
//! A pane row:
//!
//! ```text
//! {"key":1001,"window":{"start":0,"end":10000},"value":7,"timestamp":9999,
//!  "pane":{"index":0,"nonspeculative_index":0,"timing":"on_time","first":true,"last":true},
//!  "retraction":false}
//! ```
//!
//! Times are integers in milliseconds since the epoch; with [`RowFormat::rfc3339`] each
//! time also gets an RFC 3339 companion (`timestamp_rfc3339`, `start_rfc3339`, …). Rows
//! are written straight into a line buffer (digits with `itoa`), never through
//! `serde_json::Value`: `highwater run` writes one per pane.

use highwater_operators::pane::{Pane, Timing};
use highwater_operators::window::Window;
use serde::Serialize;

/// Options of the output rows.
///
/// ```
/// use highwater::row::RowFormat;
/// assert!(!RowFormat::default().has_rfc3339());
/// assert!(RowFormat::default().rfc3339().has_rfc3339());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RowFormat {
    rfc3339: bool,
}

impl RowFormat {
    /// Adds an RFC 3339 companion (`…_rfc3339`, UTC, milliseconds) after every time.
    pub fn rfc3339(mut self) -> Self {
        self.rfc3339 = true;
        self
    }
    /// Whether times get RFC 3339 companions.
    pub fn has_rfc3339(&self) -> bool {
        self.rfc3339
    }
}

/// Appends `s` as a JSON string.
pub fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends `text` as it is when it is one JSON value (a key or record a step wrote as
/// JSON), else as a JSON string.
pub fn write_json_or_str(out: &mut String, text: &str) {
    if !text.is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        out.push_str(text.trim());
    } else {
        write_str(out, text);
    }
}

/// A `String` as an `io::Write` for serde_json (it writes UTF-8 only).
struct StringWriter<'a>(&'a mut String);

impl std::io::Write for StringWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let s = std::str::from_utf8(buf).map_err(std::io::Error::other)?;
        self.0.push_str(s);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Appends a value's serde form as JSON (without an intermediate `Value`); a value serde
/// cannot write as JSON (a map with non-string keys) is written as `{"error": why}`.
pub fn write_serde<T: Serialize + ?Sized>(out: &mut String, value: &T) {
    let before = out.len();
    if let Err(e) = serde_json::to_writer(StringWriter(out), value) {
        out.truncate(before);
        out.push_str("{\"error\":");
        write_str(out, &e.to_string());
        out.push('}');
    }
}

/// Appends `,"name":ms` and, with RFC 3339 companions, `,"name_rfc3339":"…"`.
#[inline]
pub fn write_time_field(out: &mut String, name: &str, ms: i64, format: &RowFormat) {
    out.push_str(",\"");
    out.push_str(name);
    out.push_str("\":");
    out.push_str(itoa::Buffer::new().format(ms));
    if format.rfc3339 {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("_rfc3339\":");
        write_rfc3339(out, ms);
    }
}

/// Appends the RFC 3339 form of `ms` (UTC, milliseconds) as a JSON string, or `null` for
/// a time outside chrono's range (the ends of time of the global window).
pub fn write_rfc3339(out: &mut String, ms: i64) {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => {
            out.push('"');
            out.push_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            out.push('"');
        }
        None => out.push_str("null"),
    }
}

/// Appends a window: `{"start":ms,"end":ms}` (`[start, end)`), or `"global"`.
pub fn write_window(out: &mut String, w: &Window, format: &RowFormat) {
    if w.is_global() {
        out.push_str("\"global\"");
        return;
    }
    let mut n = itoa::Buffer::new();
    out.push_str("{\"start\":");
    out.push_str(n.format(w.start));
    if format.rfc3339 {
        out.push_str(",\"start_rfc3339\":");
        write_rfc3339(out, w.start);
    }
    write_time_field(out, "end", w.end, format);
    out.push('}');
}

/// A record with a row in the output schema: panes and dead letters
/// ([`crate::pipeline::JsonLines::rows`] writes them).
pub trait Row {
    /// Appends the record's row (one JSON object, no newline).
    fn write_row(&self, out: &mut String, format: &RowFormat);
}

/// A pane's row, its key and value in their serde forms (a number stays a number, a
/// string a string; a `()` key is `null`).
impl<K: Serialize, V: Serialize> Row for Pane<K, V> {
    fn write_row(&self, out: &mut String, format: &RowFormat) {
        write_pane_row(out, self, |o, k| write_serde(o, k), |o, v| write_serde(o, v), format);
    }
}

/// Appends one pane as its output row (one JSON object, no newline): `key`, `window`,
/// `value`, `timestamp`, `pane`, `retraction`. `key` and `value` append the key's and the
/// value's JSON (e.g. [`write_serde`]); everything else is written here, so every writer
/// of panes writes the same row.
///
/// ```
/// use highwater::model::pane::{Pane, PaneInfo, Timing};
/// use highwater::model::window::Window;
/// use highwater::row::{write_pane_row, write_serde, RowFormat};
/// let p = Pane { key: 7u64, window: Window::new(0, 10_000), value: 3u64, timestamp: 9_999,
///     info: PaneInfo { timing: Timing::OnTime, index: 0, nonspeculative_index: 0, first: true, last: true },
///     retraction: false, tick: 0 };
/// let mut line = String::new();
/// write_pane_row(&mut line, &p, |o, k| write_serde(o, k), |o, v| write_serde(o, v), &RowFormat::default());
/// assert_eq!(line, r#"{"key":7,"window":{"start":0,"end":10000},"value":3,"timestamp":9999,"pane":{"index":0,"nonspeculative_index":0,"timing":"on_time","first":true,"last":true},"retraction":false}"#);
/// ```
pub fn write_pane_row<K, V>(
    out: &mut String,
    p: &Pane<K, V>,
    key: impl FnOnce(&mut String, &K),
    value: impl FnOnce(&mut String, &V),
    format: &RowFormat,
) {
    let mut n = itoa::Buffer::new();
    out.reserve(192);
    out.push_str("{\"key\":");
    key(out, &p.key);
    if !format.rfc3339 && !p.window.is_global() {
        // The common row in as few appends as it takes (a pane row is a few dozen short
        // pieces; each append of a piece whose length is not known is a `memcpy` call).
        out.push_str(",\"window\":{\"start\":");
        out.push_str(n.format(p.window.start));
        out.push_str(",\"end\":");
        out.push_str(n.format(p.window.end));
        out.push_str("},\"value\":");
    } else {
        out.push_str(",\"window\":");
        write_window(out, &p.window, format);
        out.push_str(",\"value\":");
    }
    value(out, &p.value);
    write_time_field(out, "timestamp", p.timestamp, format);
    out.push_str(",\"pane\":{\"index\":");
    push_small(out, &mut n, p.info.index);
    out.push_str(",\"nonspeculative_index\":");
    push_small(out, &mut n, p.info.nonspeculative_index);
    out.push_str(pane_tail(p.info.timing, p.info.first, p.info.last, p.retraction));
}

/// Appends an index: one digit without formatting (most panes are the first).
#[inline(always)]
fn push_small<I: itoa::Integer + Into<i128> + Copy>(out: &mut String, n: &mut itoa::Buffer, i: I) {
    let v: i128 = i.into();
    if (0..10).contains(&v) {
        out.push(char::from(b'0' + v as u8));
    } else {
        out.push_str(n.format(i));
    }
}

/// The end of a pane row after its indexes, one of 24 constant strings.
#[inline(always)]
fn pane_tail(timing: Timing, first: bool, last: bool, retraction: bool) -> &'static str {
    macro_rules! tail {
        ($timing:literal) => {
            match (first, last, retraction) {
                (false, false, false) => {
                    concat!(",\"timing\":\"", $timing, "\",\"first\":false,\"last\":false},\"retraction\":false}")
                }
                (false, false, true) => {
                    concat!(",\"timing\":\"", $timing, "\",\"first\":false,\"last\":false},\"retraction\":true}")
                }
                (false, true, false) => {
                    concat!(",\"timing\":\"", $timing, "\",\"first\":false,\"last\":true},\"retraction\":false}")
                }
                (false, true, true) => {
                    concat!(",\"timing\":\"", $timing, "\",\"first\":false,\"last\":true},\"retraction\":true}")
                }
                (true, false, false) => {
                    concat!(",\"timing\":\"", $timing, "\",\"first\":true,\"last\":false},\"retraction\":false}")
                }
                (true, false, true) => {
                    concat!(",\"timing\":\"", $timing, "\",\"first\":true,\"last\":false},\"retraction\":true}")
                }
                (true, true, false) => {
                    concat!(",\"timing\":\"", $timing, "\",\"first\":true,\"last\":true},\"retraction\":false}")
                }
                (true, true, true) => {
                    concat!(",\"timing\":\"", $timing, "\",\"first\":true,\"last\":true},\"retraction\":true}")
                }
            }
        };
    }
    match timing {
        Timing::Early => tail!("early"),
        Timing::OnTime => tail!("on_time"),
        Timing::Late => tail!("late"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pane_row_is_the_json_of_its_pane() {
        use crate::model::pane::{PaneInfo, Timing};
        for timing in [Timing::Early, Timing::OnTime, Timing::Late] {
            for bits in 0..8u8 {
                for (index, nonspeculative_index) in [(0, 0), (9, 3), (10, 9), (12_345, -1)] {
                    let (first, last, retraction) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
                    let p = Pane {
                        key: "k",
                        window: Window::new(-5, 1_700_000_000_000),
                        value: 3u64,
                        timestamp: 1_699_999_999_999,
                        info: PaneInfo { timing, index, nonspeculative_index, first, last },
                        retraction,
                        tick: 0,
                    };
                    let mut line = String::new();
                    p.write_row(&mut line, &RowFormat::default());
                    let got: serde_json::Value = serde_json::from_str(&line).unwrap();
                    let timing = match timing {
                        Timing::Early => "early",
                        Timing::OnTime => "on_time",
                        Timing::Late => "late",
                    };
                    let want = serde_json::json!({
                        "key": "k", "window": {"start": -5, "end": 1_700_000_000_000i64}, "value": 3,
                        "timestamp": 1_699_999_999_999i64,
                        "pane": {"index": index, "nonspeculative_index": nonspeculative_index, "timing": timing, "first": first, "last": last},
                        "retraction": retraction,
                    });
                    assert_eq!(got, want, "{line}");
                }
            }
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for s in ["plain", "quote \" and \\ back", "tab\tnew\nline\r", "\u{1}\u{1f}", "ünïcødé ✓", ""] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn times_outside_chronos_range_have_a_null_companion() {
        let mut out = String::new();
        write_time_field(&mut out, "watermark", i64::MIN, &RowFormat::default().rfc3339());
        assert_eq!(out, r#","watermark":-9223372036854775808,"watermark_rfc3339":null"#);
        out.clear();
        write_time_field(&mut out, "t", 1_500, &RowFormat::default().rfc3339());
        assert_eq!(out, r#","t":1500,"t_rfc3339":"1970-01-01T00:00:01.500Z""#);
    }
}
