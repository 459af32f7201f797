//! The status page at `/`: one self-contained HTML page (no script, no external asset)
//! that reloads itself every two seconds — sources, partitions and their watermarks,
//! each step's output watermark and panes, dead letters by kind, and the partition
//! holding the watermark back.

use super::status::{millis, Status};
use std::fmt::Write;

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The page for `status`.
pub(crate) fn render(status: &Status) -> String {
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">\
         <title>highwater</title><style>body{font-family:sans-serif;margin:1.5em}\
         table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}\
         .warn{color:#a00}</style></head><body><h1>highwater</h1>",
    );
    let _ = write!(
        h,
        "<p>{} records read; output watermark {}.</p>",
        status.records_read,
        millis(status.output_watermark())
    );
    if let Some(b) = status.holding_back() {
        let _ = write!(h, "<p class=\"warn\">Holding the watermark back: {}</p>", escape(&b.to_string()));
    }
    h.push_str("<h2>Sources</h2><table><tr><th>source</th><th>partition</th><th>watermark</th><th>silent</th><th>records</th><th>dead letters</th></tr>");
    for s in &status.sources {
        let _ = write!(
            h,
            "<tr><td><b>{}</b></td><td>{} open, {} done</td><td>{}</td><td></td><td>{}</td><td>{}</td></tr>",
            escape(&s.name),
            s.partitions.len(),
            s.partitions_done,
            millis(s.watermark),
            s.records,
            s.dead_letters
        );
        for p in s.partitions.iter().take(super::MAX_PARTITION_SERIES * 5) {
            let _ = write!(
                h,
                "<tr><td></td><td>{}{}</td><td>{}</td><td>{:.1} s</td><td>{}</td><td>{}</td></tr>",
                escape(&p.name),
                if p.idle { " (idle)" } else { "" },
                millis(p.watermark),
                p.silent_for.as_secs_f64(),
                p.records,
                p.dead_letters
            );
        }
    }
    h.push_str("</table><h2>Steps</h2><table><tr><th>step</th><th>output watermark</th><th>panes early / on time / late</th><th>late dropped</th><th>open windows</th><th>keys</th></tr>");
    for s in &status.steps {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{} / {} / {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.name),
            millis(s.output_watermark),
            s.panes_early,
            s.panes_on_time,
            s.panes_late,
            s.late_dropped,
            s.open_windows,
            s.state_keys
        );
    }
    h.push_str("</table><h2>Dead letters</h2><table><tr><th>kind</th><th>count</th></tr>");
    for (kind, n) in &status.dead_letters {
        let _ = write!(h, "<tr><td>{kind}</td><td>{n}</td></tr>");
    }
    h.push_str("</table><p><a href=\"/metrics\">/metrics</a></p></body></html>\n");
    h
}
