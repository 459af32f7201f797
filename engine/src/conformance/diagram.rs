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

/// What happened at one action, as drawn.
struct Row {
    /// The input watermark after the action (`i64::MAX`: the end).
    watermark: i64,
    /// Processing time after the action.
    processing: i64,
    /// Its index in the transcript.
    action: usize,
}

/// The SVG diagram of `scenario` and the `panes` a run of it emitted (the runner's JSON
/// objects, [`super::RunOutput::Panes`]).
pub fn diagram_svg(scenario: &Scenario, panes: &[Value]) -> String {
    // One row per action that is not an expectation; `row_of[a]`: the row of action `a`
    // (an expectation shares the row of the action before it).
    let mut rows: Vec<Row> = Vec::with_capacity(scenario.transcript.len());
    let mut row_of = Vec::with_capacity(scenario.transcript.len());
    let (mut wm, mut pt) = (NEG_INF, 0i64);
    let mut times: Vec<i64> = Vec::new();
    let mut marks: Vec<i64> = Vec::new();
    for a in &scenario.transcript {
        match a {
            Action::Input(es) => times.extend(es.iter().map(|e| e.ts)),
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
        rows.push(Row { watermark: wm, processing: pt, action: row_of.len() - 1 });
    }
    let mut panes: Vec<&Value> = panes.iter().collect();
    panes.sort_by_key(|p| (p["after_action"].as_u64(), p["key"].to_string(), p["window"].to_string(), p.to_string()));
    for p in &panes {
        if let Some([s, e]) = window_of(p) {
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
    for m in marks.iter().filter(|t| finite(t)) {
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

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    s.push('\n');
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let strategy = format!(
        "{} · {} · {} · allowed lateness {}",
        scenario.window, scenario.trigger, scenario.accumulation, scenario.allowed_lateness
    );
    let _ = writeln!(s, r#"<text x="20" y="18" font-size="13" font-weight="bold">{}</text>"#, escape(&scenario.name));
    let _ = writeln!(s, r##"<text x="20" y="33" fill="#333">{}</text>"##, escape(&strategy));
    legend(&mut s);

    // Axes: event time along the bottom, the actions up the left.
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
        r##"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle" fill="#333">processing time (actions) →</text>"##,
        TOP + row_h * n as f64 / 2.0,
        TOP + row_h * n as f64 / 2.0
    );
    let step = (n / 24).max(1);
    let mut last_pt = None;
    for (i, r) in rows.iter().enumerate() {
        let pt_changed = last_pt != Some(r.processing);
        last_pt = Some(r.processing);
        if i % step == 0 || pt_changed && r.processing > 0 {
            let a = r.action;
            let label = if r.processing > 0 { format!("#{a} pt={}", r.processing) } else { format!("#{a}") };
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#666" font-size="9">{label}</text>"##,
                LEFT - 6.0,
                y(i) + 3.0
            );
        }
    }

    // The input watermark: a step line from action to action.
    let mut path = String::new();
    let mut prev: Option<(f64, f64)> = None;
    for (i, r) in rows.iter().enumerate() {
        if r.watermark == NEG_INF {
            continue;
        }
        let wx = if r.watermark == i64::MAX { WIDTH - RIGHT } else { x(r.watermark as f64).clamp(LEFT, WIDTH - RIGHT) };
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
    if let Some(last) = rows.iter().rev().find(|r| r.watermark != NEG_INF) {
        let text = if last.watermark == i64::MAX { "end (+∞)".to_string() } else { last.watermark.to_string() };
        let wx = if last.watermark == i64::MAX {
            WIDTH - RIGHT
        } else {
            x(last.watermark as f64).clamp(LEFT, WIDTH - RIGHT)
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="9" fill="{WATERMARK}">watermark {}</text>"#,
            wx + 3.0,
            TOP - 4.0,
            escape(&text)
        );
    }
    if !path.is_empty() {
        let _ = writeln!(
            s,
            r#"<path d="{path}" stroke="{WATERMARK}" stroke-width="2" fill="none"><title>input watermark</title></path>"#
        );
    }

    // Panes: a bar across the window at the action that fired it.
    let mut at_action: BTreeMap<u64, usize> = BTreeMap::new();
    for p in &panes {
        let action = p["after_action"].as_u64().unwrap_or(0) as usize;
        let row = row_of.get(action).copied().unwrap_or(n - 1);
        let j = at_action.entry(row as u64).or_default();
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

    // Elements: where (event time) and when (action) each arrived; hollow with a red
    // ring if the watermark had already passed it.
    let mut keys: Vec<&str> = Vec::new();
    let mut wm = NEG_INF;
    for (i, a) in scenario.transcript.iter().enumerate() {
        if let Action::Input(es) = a {
            for e in es {
                let k = keys.iter().position(|k| *k == e.key).unwrap_or_else(|| {
                    keys.push(&e.key);
                    keys.len() - 1
                });
                let behind = e.ts < wm;
                let fill = KEYS[k % KEYS.len()];
                let ring = if behind {
                    format!(r#"fill="white" stroke="{LATE}" stroke-width="2""#)
                } else {
                    format!(r#"fill="{fill}""#)
                };
                let _ = writeln!(
                    s,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="4" {ring}><title>{}</title></circle>"#,
                    x(e.ts as f64),
                    y(row_of[i]),
                    escape(&format!(
                        "key {}, t={}, value {}{}",
                        e.key,
                        e.ts,
                        e.value,
                        if behind { ", behind the watermark" } else { "" }
                    ))
                );
            }
        }
        wm = rows[row_of[i]].watermark.max(wm);
    }
    if keys.len() > 1 {
        for (k, key) in keys.iter().enumerate().take(12) {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="46" r="4" fill="{}"/><text x="{:.1}" y="50">key {}</text>"#,
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

fn legend(s: &mut String) {
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
