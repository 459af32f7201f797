//! `highwater run --diagram FILE.svg`: the pane diagram of a job's own keys — event time
//! across, processing time upwards — milliseconds since the start for live sockets; for a
//! replay, which reads in milliseconds what took hours, the watermark under which each
//! batch of records travelled (its stamp: the input watermark when the records were read),
//! so the rows are the moments the input watermark moved — each element of the
//! drawn keys a point where and when it was read, the input and output watermarks as
//! lines, each pane a bar across its window at the moment it was emitted, coloured by
//! timing, retractions dashed. The drawing is the conformance runner's
//! ([`crate::conformance::diagram_svg`]); this module records what it draws.
//!
//! Two taps record, on every worker: one on the keyed records (each element of a traced
//! key and the moment it was read; the stream's frontier is the input watermark of the
//! windowed step) and one on its panes (each pane of a traced key; the frontier of the
//! panes is the step's output watermark). The drawn keys are the ones asked for
//! (`--diagram-key`), or the [`BUSIEST`] busiest of the first [`MAX_KEYS`] keys read. So
//! that a long job's diagram stays readable and its memory bounded, each key keeps its
//! first [`MAX_ELEMENTS`] elements and the panes of the windows they span.

use crate::conformance::diagram::{draw, Drawing, DrawnElement, DrawnPane, DrawnRow};
use crate::format::RunKey;
use crate::pipeline::{Collection, Keyed};
use highwater_operators::pane::{Pane, Timing};
use highwater_operators::time::{Time, NEG_INF};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use timely::dataflow::operators::Inspect;

/// How many keys a diagram draws when none is asked for.
pub const BUSIEST: usize = 3;
/// Keys are traced in the order they are first read, up to this many.
pub const MAX_KEYS: usize = 1_000;
/// Elements kept per key: its first ones.
pub const MAX_ELEMENTS: usize = 40;
/// Panes kept per key: its first ones.
const MAX_PANES: usize = 400;
/// Rows of the drawing (moments grouped beyond that).
const MAX_ROWS: usize = 40;

/// What one key did.
#[derive(Default)]
struct KeyTrace {
    /// Its rank in order of first appearance.
    first: usize,
    /// Its elements read (all, not only those kept).
    count: u64,
    /// `(processing time, event time)` of its first elements.
    elements: Vec<(i64, i64)>,
    /// `(processing time, the pane as the runner's JSON)` of its first panes.
    panes: Vec<(i64, Value)>,
}

#[derive(Default)]
struct Traced {
    /// The step's output watermark (the panes' frontier) when the panes of each stamp came
    /// out, by stamp.
    output_at_stamp: Vec<(i64, i64)>,
    /// The last frontier of the panes (none yet: `None`).
    output_now: Option<i64>,
    keys: HashMap<String, KeyTrace>,
    /// `(ms since start, watermark)` at each frontier change of the records.
    input: Vec<(i64, i64)>,
    /// The same of the panes.
    output: Vec<(i64, i64)>,
}

/// The processing-time axis of a diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Milliseconds since the start (live input).
    Millis,
    /// The stamps of the batches: the input watermark as they were read (a replay).
    Stamps,
}

/// What a run records for its diagram; shared by the workers of a process.
#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    axis: Axis,
    /// Keys asked for, as typed JSON (`1001`, `"a"`) or plain text.
    wanted: Arc<Vec<String>>,
    traced: Arc<Mutex<Traced>>,
}

impl Recorder {
    /// A recorder of `wanted` keys (none: the busiest) along `axis`.
    pub fn new(wanted: Vec<String>, axis: Axis) -> Self {
        Recorder { start: Instant::now(), axis, wanted: Arc::new(wanted), traced: Arc::default() }
    }

    /// Where processing time stands for a batch stamped `stamp`.
    fn now(&self, stamp: &timely::progress::Stamp<Time>) -> i64 {
        match self.axis {
            Axis::Millis => self.start.elapsed().as_millis() as i64,
            Axis::Stamps => stamp.into_iter().map(Time::watermark).min().unwrap_or(i64::MAX),
        }
    }

    fn traced(&self) -> MutexGuard<'_, Traced> {
        self.traced.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wants(&self, key: &str) -> bool {
        self.wanted.is_empty()
            || self
                .wanted
                .iter()
                .any(|w| w == key || key.strip_prefix('"').and_then(|k| k.strip_suffix('"')) == Some(w))
    }

    /// `records`, recorded on the way: each element of a traced key, and the frontier.
    pub(crate) fn tap_records<'s, V: crate::pipeline::Data>(
        &self,
        records: Keyed<'s, RunKey, V>,
    ) -> Keyed<'s, RunKey, V> {
        let me = self.clone();
        let stream = records.stream.inspect_core(move |event| match event {
            Ok((stamp, batch)) => me.records(me.now(stamp), batch),
            Err(frontier) => me.frontier(frontier, false),
        });
        Keyed { stream, shared: records.shared }
    }

    /// `panes`, recorded on the way: each pane of a traced key, and the frontier (the
    /// step's output watermark); `value` writes a pane's value as JSON.
    pub(crate) fn tap_panes<'s, O: crate::pipeline::Data>(
        &self,
        panes: Collection<'s, Pane<RunKey, O>>,
        value: impl Fn(&mut String, &O) + 'static,
    ) -> Collection<'s, Pane<RunKey, O>> {
        let me = self.clone();
        let stream = panes.stream.inspect_core(move |event| match event {
            Ok((stamp, batch)) => me.panes(me.now(stamp), batch, &value),
            Err(frontier) => me.frontier(frontier, true),
        });
        Collection { stream, shared: panes.shared }
    }

    /// Records a batch of keyed records.
    fn records<V>(&self, at: i64, batch: &[(RunKey, i64, V)]) {
        let mut traced = self.traced();
        let mut key = String::new();
        for (k, ts, _) in batch {
            key.clear();
            k.write_json(&mut key);
            let n = traced.keys.len();
            let trace = match traced.keys.get_mut(key.as_str()) {
                Some(t) => t,
                None if n < MAX_KEYS && self.wants(&key) => {
                    traced.keys.entry(key.clone()).or_insert_with(|| KeyTrace { first: n, ..KeyTrace::default() })
                }
                None => continue,
            };
            trace.count += 1;
            if trace.elements.len() < MAX_ELEMENTS {
                trace.elements.push((at, *ts));
            }
        }
    }

    /// Records a batch of panes; `value` writes a pane's value as JSON.
    fn panes<O>(&self, at: i64, batch: &[(i64, Pane<RunKey, O>)], value: impl Fn(&mut String, &O)) {
        let mut traced = self.traced();
        let output = traced.output_now.unwrap_or(NEG_INF);
        traced.output_at_stamp.push((at, output));
        let mut key = String::new();
        for (_, p) in batch {
            key.clear();
            p.key.write_json(&mut key);
            let Some(trace) = traced.keys.get_mut(key.as_str()) else { continue };
            if trace.panes.len() >= MAX_PANES {
                continue;
            }
            let mut v = String::new();
            value(&mut v, &p.value);
            let timing = match p.info.timing {
                Timing::Early => "early",
                Timing::OnTime => "on_time",
                Timing::Late => "late",
            };
            let window =
                if p.window.is_global() { Value::Null } else { serde_json::json!([p.window.start, p.window.end]) };
            trace.panes.push((
                at,
                serde_json::json!({
                    "key": serde_json::from_str::<Value>(&key).unwrap_or(Value::Null),
                    "window": window,
                    "timing": timing,
                    "index": p.info.index,
                    "retraction": p.retraction,
                    "value": serde_json::from_str::<Value>(&v).unwrap_or(Value::Null),
                }),
            ));
        }
    }

    /// Records a frontier of the records (`output` false) or of the panes.
    fn frontier(&self, frontier: &[Time], output: bool) {
        let wm = frontier.iter().map(Time::watermark).min().unwrap_or(i64::MAX);
        let at = self.start.elapsed().as_millis() as i64;
        let mut traced = self.traced();
        if output {
            traced.output_now = Some(wm);
            traced.output.push((at, wm));
        } else {
            traced.input.push((at, wm));
        }
    }

    /// The keys drawn: the ones asked for that were read, or the busiest.
    fn chosen(traced: &Traced) -> Vec<(&String, &KeyTrace)> {
        let mut keys: Vec<(&String, &KeyTrace)> = traced.keys.iter().collect();
        keys.sort_by_key(|(_, t)| (std::cmp::Reverse(t.count), t.first));
        keys.truncate(BUSIEST);
        keys.sort_by_key(|(_, t)| t.first);
        keys
    }

    /// The SVG, titled `title` with `subtitle` (the strategy); `None` when no key was read.
    pub fn svg(&self, title: &str, subtitle: &str) -> Option<String> {
        let traced = self.traced();
        let keys = if self.wanted.is_empty() {
            Self::chosen(&traced)
        } else {
            let mut k: Vec<(&String, &KeyTrace)> = traced.keys.iter().collect();
            k.sort_by_key(|(_, t)| t.first);
            k
        };
        if keys.is_empty() {
            return None;
        }
        // The event time the kept elements span; the panes of windows that reach into it.
        let (lo, hi) = keys
            .iter()
            .flat_map(|(_, t)| t.elements.iter().map(|e| e.1))
            .fold((i64::MAX, i64::MIN), |(lo, hi), ts| (lo.min(ts), hi.max(ts)));
        let in_span = |p: &Value| match (p["window"][0].as_i64(), p["window"][1].as_i64()) {
            (Some(s), Some(e)) => e > lo && s <= hi,
            _ => true,
        };
        // Moments (ms) at which something drawn happened, grouped into at most MAX_ROWS rows.
        let mut moments: Vec<i64> = keys
            .iter()
            .flat_map(|(_, t)| {
                t.elements.iter().map(|e| e.0).chain(t.panes.iter().filter(|p| in_span(&p.1)).map(|p| p.0))
            })
            .collect();
        moments.sort_unstable();
        moments.dedup();
        let rows_n = moments.len().clamp(1, MAX_ROWS);
        let ends: Vec<i64> = (0..rows_n)
            .map(|r| moments.get(((r + 1) * moments.len()).div_ceil(rows_n).saturating_sub(1)).copied().unwrap_or(0))
            .collect();
        let row_of = |at: i64| ends.partition_point(|e| *e < at).min(rows_n - 1);
        let upto = |line: &[(i64, i64)], at: i64| {
            line.iter().filter(|(t, _)| *t <= at).map(|(_, w)| *w).max().unwrap_or(NEG_INF)
        };
        let rows: Vec<DrawnRow> = ends
            .iter()
            .map(|at| match self.axis {
                Axis::Millis => DrawnRow {
                    label: format!("+{at} ms"),
                    always_label: false,
                    input: upto(&traced.input, *at),
                    output: Some(upto(&traced.output, *at)),
                },
                Axis::Stamps => DrawnRow {
                    label: match *at {
                        i64::MAX => "end".into(),
                        NEG_INF => "wm −∞".into(),
                        at => format!("wm {at}"),
                    },
                    always_label: false,
                    input: *at,
                    output: Some(upto(&traced.output_at_stamp, *at)),
                },
            })
            .collect();
        let mut elements = Vec::new();
        let mut panes = Vec::new();
        for (key, t) in &keys {
            let plain = key.strip_prefix('"').and_then(|k| k.strip_suffix('"')).unwrap_or(key);
            for (ms, ts) in &t.elements {
                let row = row_of(*ms);
                let before = if row == 0 { NEG_INF } else { rows[row - 1].input };
                elements.push(DrawnElement {
                    row,
                    key: plain.to_string(),
                    ts: *ts,
                    value: String::new(),
                    behind: *ts < before,
                });
            }
            for (ms, p) in t.panes.iter().filter(|p| in_span(&p.1)) {
                panes.push(DrawnPane { row: row_of(*ms), order: *ms, pane: p.clone() });
            }
        }
        elements.sort_by_key(|e| e.row);
        let names: Vec<String> = keys.iter().map(|(k, t)| format!("{k} ({} elements)", t.count)).collect();
        let which = if self.wanted.is_empty() {
            format!("the busiest of {} keys traced", traced.keys.len())
        } else {
            "as asked".to_string()
        };
        Some(draw(&Drawing {
            title: format!("{title} · keys {} ({which})", names.join(", ")),
            subtitle: subtitle.to_string(),
            rows_are: match self.axis {
                Axis::Millis => "processing time (ms since the start) →".into(),
                Axis::Stamps => "processing time (input watermark at read) →".into(),
            },
            rows,
            marks: Vec::new(),
            elements,
            panes,
        }))
    }
}
