//! Pane diagrams: a scenario's transcript and the panes a run emitted, drawn as the
//! Dataflow model's figures draw them — event time across, processing time (the
//! transcript's actions, in order) upwards; each element a point where and when it
//! arrived, the input watermark a line, each pane a bar across its window at the action
//! that fired it, coloured by timing (early, on time, late), retractions dashed.
//!
//! The SVG is written by hand: the drawing is a few dozen rectangles, circles and lines,
//! and the plotting crates lay out text with a font backend (system fonts through
//! fontconfig, or a bundled font file) that a diagram whose text the viewer renders does
//! not need. The output is deterministic (a snapshot test pins it).
//!
//! ```
//! use highwater::conformance::{diagram_svg, run_scenario, RunOutput, Scenario};
//! let raw = serde_json::json!({
//!     "name": "doc", "source": "doc", "window": "fixed(10)", "trigger": "default",
//!     "allowed_lateness": 0, "accumulation": "discarding", "timestamp_combiner": "end_of_window",
//!     "combine": "sum",
//!     "transcript": [{"input": [1, 4, 12]}, {"watermark": 10}, {"end": true}],
//! });
//! let scenario = Scenario::from_value(std::path::Path::new("doc.json"), raw).unwrap();
//! let RunOutput::Panes(panes) = run_scenario(&scenario, 1).unwrap() else { unreachable!() };
//! let svg = diagram_svg(&scenario, &panes);
//! assert!(svg.starts_with("<svg"));
//! // Two panes (window [0, 10) then [10, 20)), each a bar whose tooltip is its JSON.
//! assert_eq!(svg.matches("&quot;timing&quot;:&quot;on_time&quot;").count(), 2);
//! ```

use super::scenario::{Action, Scenario};
use highwater_operators::time::NEG_INF;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

const WIDTH: f64 = 820.0;
const LEFT: f64 = 120.0;
const RIGHT: f64 = 130.0;
const TOP: f64 = 75.0;
const BOTTOM: f64 = 50.0;
/// Colours of the keys' elements, in order of first appearance (then repeated).
const KEYS: [&str; 6] = ["#1f77b4", "#9467bd", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22"];
const EARLY: &str = "#f0a030";
const ON_TIME: &str = "#2e9e44";
const LATE: &str = "#d62728";
const WATERMARK: &str = "#3060d0";
const OUTPUT: &str = "#8e44ad";

/// One row of a diagram: a moment of processing time.
pub(crate) struct DrawnRow {
    /// Its label on the processing-time axis.
    pub label: String,
    /// Labelled even between the regularly labelled rows (processing time moved).
    pub always_label: bool,
    /// The input watermark after it (`NEG_INF`: none yet; `i64::MAX`: the end).
    pub input: i64,
    /// The output watermark of the drawn step after it, where known.
    pub output: Option<i64>,
}

/// An element: where (event time) and when (row) it arrived.
pub(crate) struct DrawnElement {
    pub row: usize,
    pub key: String,
    pub ts: i64,
    pub value: String,
    /// The watermark had passed it when it arrived.
    pub behind: bool,
}

/// A pane (the runner's JSON object: `key`, `window`, `timing`, `retraction`, `value` or
/// `values`) and the row that fired it; `order` sorts the panes of a row.
pub(crate) struct DrawnPane {
    pub row: usize,
    pub order: i64,
    pub pane: Value,
}

/// What a diagram draws, whatever recorded it: a scenario and its run, or a job
/// (`highwater run --diagram`).
pub(crate) struct Drawing {
    pub title: String,
    pub subtitle: String,
    /// The processing-time axis's label.
    pub rows_are: String,
    pub rows: Vec<DrawnRow>,
    /// Watermark values that widen the event-time axis when near the data.
    pub marks: Vec<i64>,
    pub elements: Vec<DrawnElement>,
    pub panes: Vec<DrawnPane>,
}

/// The SVG diagram of `scenario` and the `panes` a run of it emitted (the runner's JSON
/// objects, [`super::RunOutput::Panes`]).
pub fn diagram_svg(scenario: &Scenario, panes: &[Value]) -> String {
    diagram_svg_with_output(scenario, panes, &[])
}

/// [`diagram_svg`] with the step's output watermark after each action
/// ([`super::run_scenario_watched`]) drawn as a dashed line beside the input watermark.
pub fn diagram_svg_with_output(scenario: &Scenario, panes: &[Value], output: &[i64]) -> String {
    // One row per action that is not an expectation; `row_of[a]`: the row of action `a`
    // (an expectation shares the row of the action before it).
    let mut rows: Vec<DrawnRow> = Vec::with_capacity(scenario.transcript.len());
    let mut row_of = Vec::with_capacity(scenario.transcript.len());
    let (mut wm, mut pt) = (NEG_INF, 0i64);
    let mut last_pt = None;
    let mut marks: Vec<i64> = Vec::new();
    for a in &scenario.transcript {
        match a {
            Action::Input(_) => {}
            Action::Watermark(t) => {
                wm = wm.max(*t);
                marks.push(*t);
            }
            Action::ProcessingTime(t) => pt = pt.max(*t),
            Action::End => wm = i64::MAX,
            Action::Expect(_) => {
                row_of.push(rows.len().saturating_sub(1));
                continue;
            }
        }
        row_of.push(rows.len());
        let action = row_of.len() - 1;
        let label = if pt > 0 { format!("#{action} pt={pt}") } else { format!("#{action}") };
        let always_label = last_pt != Some(pt) && pt > 0;
        last_pt = Some(pt);
        rows.push(DrawnRow { label, always_label, input: wm, output: output.get(action).copied() });
    }
    let mut elements = Vec::new();
    let mut wm = NEG_INF;
    for (i, a) in scenario.transcript.iter().enumerate() {
        if let Action::Input(es) = a {
            for e in es {
                elements.push(DrawnElement {
                    row: row_of[i],
                    key: e.key.clone(),
                    ts: e.ts,
                    value: e.value.to_string(),
                    behind: e.ts < wm,
                });
            }
        }
        wm = rows[row_of[i]].input.max(wm);
    }
    let n = rows.len().max(1);
    let panes = panes
        .iter()
        .map(|p| {
            let action = p["after_action"].as_u64().unwrap_or(0);
            let row = row_of.get(action as usize).copied().unwrap_or(n - 1);
            DrawnPane { row, order: action as i64, pane: p.clone() }
        })
        .collect();
    let strategy = format!(
        "{} · {} · {} · allowed lateness {}",
        scenario.window, scenario.trigger, scenario.accumulation, scenario.allowed_lateness
    );
    draw(&Drawing {
        title: scenario.name.clone(),
        subtitle: strategy,
        rows_are: "processing time (actions) →".into(),
        rows,
        marks,
        elements,
        panes,
    })
}

/// The SVG of a drawing.
pub(crate) fn draw(d: &Drawing) -> String {
    let rows = &d.rows;
    let mut times: Vec<i64> = d.elements.iter().map(|e| e.ts).collect();
    let mut panes: Vec<&DrawnPane> = d.panes.iter().collect();
    panes.sort_by_key(|p| (p.order, p.pane["key"].to_string(), p.pane["window"].to_string(), p.pane.to_string()));
    for p in &panes {
        if let Some([s, e]) = window_of(&p.pane) {
            times.extend([s, e]);
        }
    }
    let finite = |t: &i64| *t > NEG_INF / 2 && *t < i64::MAX / 2;
    let (mut lo, mut hi) = match (times.iter().filter(|t| finite(t)).min(), times.iter().filter(|t| finite(t)).max()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => (0, 1),
    };
    // A watermark far beyond the data (a jump to "late enough") is drawn at the edge.
    let span = (hi - lo).max(1);
    for m in d.marks.iter().filter(|t| finite(t)) {
        if *m >= lo - span && *m <= hi + span {
            (lo, hi) = (lo.min(*m), hi.max(*m));
        }
    }
    if hi <= lo {
        (lo, hi) = (lo - 1, lo + 1);
    }
    let pad = ((hi - lo) as f64 * 0.04).max(1.0);
    let (lo, hi) = (lo as f64 - pad, hi as f64 + pad);
    let n = rows.len().max(1);
    let row_h = (480.0 / n as f64).clamp(10.0, 30.0);
    let height = TOP + row_h * n as f64 + BOTTOM;
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |t: f64| LEFT + (t - lo) / (hi - lo) * plot_w;
    let y = |i: usize| TOP + row_h * (n - 1 - i) as f64 + row_h / 2.0;
    let has_output = rows.iter().any(|r| r.output.is_some());

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    s.push('\n');
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="20" y="18" font-size="13" font-weight="bold">{}</text>"#, escape(&d.title));
    let _ = writeln!(s, r##"<text x="20" y="33" fill="#333">{}</text>"##, escape(&d.subtitle));
    legend(&mut s, has_output);

    // Axes: event time along the bottom, processing time up the left.
    let base = TOP + row_h * n as f64;
    let _ = writeln!(s, r##"<path d="M{LEFT} {TOP} V{base:.1} H{:.1}" stroke="#333" fill="none"/>"##, WIDTH - RIGHT);
    let tick = nice_step((hi - lo) / 6.0);
    let mut t = (lo / tick).ceil() * tick;
    while t <= hi {
        let _ = writeln!(
            s,
            r##"<path d="M{0:.1} {base:.1} v4" stroke="#333"/><text x="{0:.1}" y="{1:.1}" text-anchor="middle" fill="#333">{2}</text>"##,
            x(t),
            base + 16.0,
            t
        );
        t += tick;
    }
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">event time</text>"##,
        LEFT + plot_w / 2.0,
        base + 36.0
    );
    let _ = writeln!(
        s,
        r##"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle" fill="#333">{}</text>"##,
        TOP + row_h * n as f64 / 2.0,
        TOP + row_h * n as f64 / 2.0,
        escape(&d.rows_are)
    );
    let step = (n / 24).max(1);
    for (i, r) in rows.iter().enumerate() {
        if i % step == 0 || r.always_label {
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#666" font-size="9">{}</text>"##,
                LEFT - 6.0,
                y(i) + 3.0,
                escape(&r.label)
            );
        }
    }

    // The watermarks: step lines from row to row.
    let watermark_line = |s: &mut String, at: &dyn Fn(&DrawnRow) -> i64, colour: &str, dash: &str, what: &str| {
        let mut path = String::new();
        let mut prev: Option<(f64, f64)> = None;
        for (i, r) in rows.iter().enumerate() {
            let w = at(r);
            if w == NEG_INF {
                continue;
            }
            let wx = if w == i64::MAX { WIDTH - RIGHT } else { x(w as f64).clamp(LEFT, WIDTH - RIGHT) };
            match prev {
                None => {
                    let _ = write!(path, "M{wx:.1} {:.1}", y(i) + row_h / 2.0);
                }
                Some((px, _)) => {
                    let _ = write!(path, " L{px:.1} {:.1}", y(i) + row_h / 2.0);
                }
            }
            let _ = write!(path, " L{wx:.1} {:.1}", y(i) + row_h / 2.0);
            let _ = write!(path, " L{wx:.1} {:.1}", y(i) - row_h / 2.0);
            prev = Some((wx, y(i)));
        }
        if let Some(last) = rows.iter().rev().map(at).find(|w| *w != NEG_INF) {
            if what == "input watermark" {
                let text = if last == i64::MAX { "end (+∞)".to_string() } else { last.to_string() };
                let wx = if last == i64::MAX { WIDTH - RIGHT } else { x(last as f64).clamp(LEFT, WIDTH - RIGHT) };
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" font-size="9" fill="{colour}">watermark {}</text>"#,
                    wx + 3.0,
                    TOP - 4.0,
                    escape(&text)
                );
            }
        }
        if !path.is_empty() {
            let _ = writeln!(
                s,
                r#"<path d="{path}" stroke="{colour}" stroke-width="2"{dash} fill="none"><title>{what}</title></path>"#
            );
        }
    };
    watermark_line(&mut s, &|r| r.input, WATERMARK, "", "input watermark");
    if has_output {
        watermark_line(
            &mut s,
            &|r| r.output.unwrap_or(NEG_INF),
            OUTPUT,
            r#" stroke-dasharray="6 3""#,
            "output watermark",
        );
    }

    // Panes: a bar across the window at the row that fired it.
    let mut at_row: BTreeMap<u64, usize> = BTreeMap::new();
    for dp in &panes {
        let p = &dp.pane;
        let row = dp.row.min(n - 1);
        let j = at_row.entry(row as u64).or_default();
        let lift = (*j as f64 * 5.0).min(row_h * 0.8);
        *j += 1;
        let (x0, x1) = match window_of(p) {
            Some([a, b]) => (x(a as f64), x(b as f64)),
            None => (LEFT, WIDTH - RIGHT),
        };
        let colour = match p["timing"].as_str() {
            Some("early") => EARLY,
            Some("late") => LATE,
            _ => ON_TIME,
        };
        let retraction = p["retraction"].as_bool() == Some(true);
        let by = y(row) - 3.0 - lift;
        let style = if retraction {
            format!(r#"fill="white" stroke="{colour}" stroke-dasharray="4 2""#)
        } else {
            format!(r#"fill="{colour}" fill-opacity="0.75" stroke="{colour}""#)
        };
        let value = p.get("values").or_else(|| p.get("value")).map(|v| v.to_string()).unwrap_or_default();
        let label = if retraction { format!("−{}", short(&value)) } else { short(&value) };
        let _ = writeln!(
            s,
            r#"<rect x="{x0:.1}" y="{by:.1}" width="{:.1}" height="6" {style}><title>{}</title></rect>"#,
            (x1 - x0).max(2.0),
            escape(&p.to_string())
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#222">{}</text>"##,
            x1.min(WIDTH - RIGHT) + 3.0,
            by + 6.0,
            escape(&label)
        );
    }

    // Elements: where (event time) and when (row) each arrived; hollow with a red ring if
    // the watermark had already passed it.
    let mut keys: Vec<&str> = Vec::new();
    for e in &d.elements {
        let k = keys.iter().position(|k| *k == e.key).unwrap_or_else(|| {
            keys.push(&e.key);
            keys.len() - 1
        });
        let fill = KEYS[k % KEYS.len()];
        let ring = if e.behind {
            format!(r#"fill="white" stroke="{LATE}" stroke-width="2""#)
        } else {
            format!(r#"fill="{fill}""#)
        };
        let _ = writeln!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="4" {ring}><title>{}</title></circle>"#,
            x(e.ts as f64),
            y(e.row.min(n - 1)),
            escape(&format!(
                "key {}, t={}{}{}",
                e.key,
                e.ts,
                if e.value.is_empty() { String::new() } else { format!(", value {}", e.value) },
                if e.behind { ", behind the watermark" } else { "" }
            ))
        );
    }
    if keys.len() > 1 {
        // Beside the legend, or under it when the legend has the output watermark too.
        let (cy, ty) = if has_output { (64, 68) } else { (46, 50) };
        for (k, key) in keys.iter().enumerate().take(12) {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{cy}" r="4" fill="{}"/><text x="{:.1}" y="{ty}">key {}</text>"#,
                WIDTH - RIGHT - 60.0 * (keys.len().min(12) - k) as f64,
                KEYS[k % KEYS.len()],
                WIDTH - RIGHT - 60.0 * (keys.len().min(12) - k) as f64 + 7.0,
                escape(key)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

fn legend(s: &mut String, output: bool) {
    let items = [(EARLY, "early pane"), (ON_TIME, "on time pane"), (LATE, "late pane")];
    let mut lx = 20.0;
    for (colour, text) in items {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="48" width="18" height="6" fill="{colour}" fill-opacity="0.75"/><text x="{}" y="55">{text}</text>"#,
            lx + 22.0
        );
        lx += 100.0;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{lx}" y="48" width="18" height="6" fill="white" stroke="#555" stroke-dasharray="4 2"/><text x="{}" y="55">retraction</text>"##,
        lx + 22.0
    );
    lx += 90.0;
    let _ = writeln!(
        s,
        r#"<path d="M{lx} 51 h18" stroke="{WATERMARK}" stroke-width="2"/><text x="{}" y="55">input watermark</text>"#,
        lx + 22.0
    );
    if output {
        lx += 110.0;
        let _ = writeln!(
            s,
            r#"<path d="M{lx} 51 h18" stroke="{OUTPUT}" stroke-width="2" stroke-dasharray="6 3"/><text x="{}" y="55">output watermark</text>"#,
            lx + 22.0
        );
    }
}

/// A round step (1, 2 or 5 times a power of ten) near `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1.0);
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * p).find(|s| *s >= raw).unwrap_or(10.0 * p)
}

/// A pane's window as `[start, end]`, or `None` for the global window.
fn window_of(p: &Value) -> Option<[i64; 2]> {
    let w = p["window"].as_array()?;
    Some([w.first()?.as_i64()?, w.get(1)?.as_i64()?])
}

/// A value shortened for a label.
fn short(v: &str) -> String {
    if v.chars().count() > 24 {
        format!("{}…", v.chars().take(23).collect::<String>())
    } else {
        v.to_string()
    }
}

/// Text escaped for SVG.
fn escape(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
