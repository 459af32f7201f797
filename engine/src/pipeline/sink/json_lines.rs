//! JSON lines to standard output or a file.

use crate::pipeline::checkpointing::{sink_step, SinkState};
use crate::pipeline::shared::Counters;
use crate::pipeline::{Collection, Data, Sink};
use crate::row::{Row, RowFormat};
use crate::runtime::checkpoint::coordinator::Coordinator;
use crate::runtime::outputs::{write_problem, Target, Writer};
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use timely::dataflow::channels::pact::Pipeline as PipelinePact;
use timely::dataflow::operators::generic::Operator;

type LineFormat<T> = Arc<dyn Fn(&T, &mut String)>;

/// JSON lines to standard output or a file (one writer per path, shared by the workers of
/// a process, flushed when the run ends). Records are written with their serde form, as
/// rows of the output schema ([`JsonLines::rows`], for panes and dead letters: the rows
/// `highwater run` writes), with a formatter to a [`Value`], or with a line writer of your
/// own ([`JsonLines::lines`]).
///
/// The first failed write (a full disk, a closed pipe) fails the run at once: the sources
/// stop reading, nothing more is written, and [`crate::pipeline::run`] returns the error
/// naming the output. A failure to flush at the end fails the run too.
///
/// ```
/// use highwater::pipeline::{run, JsonLines, Memory, RunConfig};
/// use highwater::model::watermark::WatermarkStrategy;
/// let path = std::env::temp_dir().join(format!("hw-doc-jsonlines-{}.jsonl", std::process::id()));
/// let out = path.clone();
/// run(RunConfig::workers(2), move |p| {
///     p.read("n", Memory::new(vec![vec![(1, 1u64)], vec![(2, 2)]], WatermarkStrategy::Ascending))?
///         .write(JsonLines::file(&out).lines(|n: &u64, line: &mut String| line.push_str(&format!("{{\"n\":{n}}}"))));
///     Ok(())
/// })
/// .unwrap();
/// let mut lines: Vec<String> = std::fs::read_to_string(&path).unwrap().lines().map(String::from).collect();
/// lines.sort();
/// assert_eq!(lines, [r#"{"n":1}"#, r#"{"n":2}"#]);
/// ```
pub struct JsonLines<T> {
    target: Target,
    format: LineFormat<T>,
    live: bool,
}

impl<T: Serialize + 'static> JsonLines<T> {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        JsonLines { target: Target::Stdout, format: Arc::new(serde_line), live: false }
    }
    /// Writes to `path` (created or truncated); `-` is standard output.
    pub fn file(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        if path.as_os_str() == "-" {
            return Self::stdout();
        }
        JsonLines { target: Target::File(path.to_path_buf()), format: Arc::new(serde_line), live: false }
    }
}

/// A record's serde form as one line.
fn serde_line<T: Serialize>(t: &T, out: &mut String) {
    match serde_json::to_string(t) {
        Ok(s) => out.push_str(&s),
        Err(e) => out.push_str(&json!({ "error": e.to_string() }).to_string()),
    }
}

impl<T: Row + 'static> JsonLines<T> {
    /// Writes each pane or dead letter as its row of the output schema
    /// (`docs/output-format.md`): the rows `highwater run` writes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use highwater::pipeline::{run, JsonLines, Memory, RunConfig, Windowing};
    /// use highwater::model::watermark::WatermarkStrategy;
    /// let path = std::env::temp_dir().join(format!("hw-doc-jsonlines-rows-{}.jsonl", std::process::id()));
    /// let out = path.clone();
    /// run(RunConfig::workers(1), move |p| {
    ///     let src = Memory::new(vec![vec![(1_000, 7u64), (2_000, 7)]], WatermarkStrategy::Ascending);
    ///     p.read("numbers", src)?
    ///         .key_by(|n: &u64| *n)
    ///         .window(Windowing::fixed(Duration::from_secs(10)))
    ///         .count("per-number")?
    ///         .write(JsonLines::file(&out).rows());
    ///     Ok(())
    /// })
    /// .unwrap();
    /// assert_eq!(
    ///     std::fs::read_to_string(&path).unwrap(),
    ///     concat!(r#"{"key":7,"window":{"start":0,"end":10000},"value":2,"timestamp":9999,"#,
    ///             r#""pane":{"index":0,"nonspeculative_index":0,"timing":"on_time","first":true,"last":true},"retraction":false}"#, "\n")
    /// );
    /// ```
    pub fn rows(self) -> Self {
        self.rows_with(RowFormat::default())
    }
    /// [`JsonLines::rows`] with options (e.g. [`RowFormat::rfc3339`]).
    pub fn rows_with(mut self, format: RowFormat) -> Self {
        self.format = Arc::new(move |t: &T, out: &mut String| t.write_row(out, &format));
        self
    }
}

impl<T> JsonLines<T> {
    /// Formats each record with `f` (e.g. [`crate::pipeline::pane_row`]).
    pub fn format(mut self, f: impl Fn(&T) -> Value + 'static) -> Self {
        self.format = Arc::new(move |t: &T, out: &mut String| out.push_str(&f(t).to_string()));
        self
    }
    /// Writes each record with `f`, which appends one JSON object (no newline) to the line
    /// buffer: the fastest way to write many rows.
    pub fn lines(mut self, f: impl Fn(&T, &mut String) + 'static) -> Self {
        self.format = Arc::new(f);
        self
    }
    /// Flushes after every batch, so a reader sees each row as soon as it is made (a live
    /// job); by default rows are buffered until the buffer fills or the run ends.
    pub fn live(mut self) -> Self {
        self.live = true;
        self
    }
}

impl<T: Data> Sink<T> for JsonLines<T> {
    fn attach(self, c: Collection<'_, T>) {
        let target = self.target.clone();
        let counters = c.shared.problems();
        // A file takes part in checkpoints: its length at each cut is saved, and a restored
        // run continues it from there. Standard output is at-least-once after a restore.
        let cut = match &target {
            Target::File(path) => sink_step(&c.shared, path).zip(c.shared.checkpoints.clone()),
            Target::Stdout => None,
        };
        let worker = c.shared.worker;
        if let Some((step, k)) = &cut {
            k.register(worker, step, false);
        }
        let mut writer = match counters.outputs.open(&target) {
            Ok(w) => Some(w),
            Err(e) => {
                counters.report(format!("cannot create {target}: {e}"));
                None
            }
        };
        let (format, live) = (self.format, self.live);
        let mut line = String::new();
        // While a cut is pending: the rows stamped at or after it, written once the file's
        // length at the cut is recorded.
        let mut later: Vec<Vec<(i64, T)>> = Vec::new();
        c.stream.sink(PipelinePact, "json-lines", move |(input, frontier)| {
            let pending =
                |cut: &Option<(String, Arc<Coordinator>)>| cut.as_ref().and_then(|(s, k)| k.pending(worker, s));
            input.for_each(|time, data| {
                if pending(&cut).is_some_and(|c| time.least().is_some_and(|t| *t >= c)) {
                    later.push(std::mem::take(data));
                    return;
                }
                write_rows(&counters, &target, &mut writer, &format, live, &mut line, data);
            });
            if let (Some(at), Some((step, k))) = (pending(&cut), cut.as_ref()) {
                if frontier.frontier().iter().all(|t| *t >= at) {
                    if let Some(w) = writer.as_ref() {
                        let length = w.lock().unwrap_or_else(|e| e.into_inner()).length_at(at);
                        match (length, &target) {
                            (Ok(length), Target::File(path)) => {
                                let state = SinkState { path: path.clone(), length, columns: None };
                                match bincode::serialize(&state) {
                                    Ok(bytes) => k.save(worker, step, at, bytes),
                                    Err(e) => counters.report(format!("{target}: cannot save its length: {e}")),
                                }
                            }
                            (Err(e), _) => {
                                counters.report(write_problem(&target, &e));
                                writer = None;
                            }
                            (Ok(_), Target::Stdout) => {}
                        }
                    }
                }
            }
            // Saved, or the cut was dropped (the run stops taking checkpoints): the rows set
            // aside are written.
            if pending(&cut).is_none() {
                for mut data in later.drain(..) {
                    write_rows(&counters, &target, &mut writer, &format, live, &mut line, &mut data);
                }
            }
        });
    }
}

/// Writes a batch of rows; the first failure fails the run, and nothing more is written.
#[allow(clippy::too_many_arguments)]
fn write_rows<T>(
    counters: &Counters,
    target: &Target,
    writer: &mut Option<Writer>,
    format: &LineFormat<T>,
    live: bool,
    line: &mut String,
    data: &mut Vec<(i64, T)>,
) {
    // After a failure nothing more is written: the output ends where it broke.
    if counters.progress.failed() {
        *writer = None;
    }
    let Some(w) = writer.as_ref() else {
        data.clear();
        return;
    };
    line.clear();
    for (_, x) in data.drain(..) {
        format(&x, line);
        line.push('\n');
    }
    let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
    let written = w.write_all(line.as_bytes()).and_then(|()| if live { w.flush() } else { Ok(()) });
    drop(w);
    if let Err(e) = written {
        counters.report(write_problem(target, &e));
        *writer = None;
    }
}
