//! Sinks: where collections end.

use super::collection::{Collection, Data};
use highwater_operators::pane::Pane;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use timely::dataflow::channels::pact::Pipeline as PipelinePact;
use timely::dataflow::operators::generic::Operator;

/// Something a collection can be written to. A sink is built inside every worker.
pub trait Sink<T> {
    /// Attaches the sink to the collection's stream.
    fn attach(self, collection: Collection<'_, T>);
}

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

/// One output of a run: a buffered writer shared by the workers that write to it.
pub(crate) type Writer = Arc<Mutex<Box<dyn Write + Send>>>;

/// Where JSON lines go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Target {
    Stdout,
    File(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Stdout => f.write_str("standard output"),
            Target::File(p) => write!(f, "`{}`", p.display()),
        }
    }
}

/// The output files of one run: one writer per destination, shared by every worker that
/// writes there, flushed and closed when the run ends ([`Outputs::close`]); a second run
/// in the same process opens its own.
#[derive(Default)]
pub(crate) struct Outputs {
    writers: Mutex<HashMap<Target, Writer>>,
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_list().entries(w.keys()).finish()
    }
}

impl Outputs {
    /// The writer of `target`, created (the file truncated) by the first worker to ask.
    fn open(&self, target: &Target) -> std::io::Result<Writer> {
        let mut map = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = map.get(target) {
            return Ok(w.clone());
        }
        let w: Box<dyn Write + Send> = match target {
            Target::Stdout => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout())),
            Target::File(path) => Box::new(BufWriter::with_capacity(1 << 16, std::fs::File::create(path)?)),
        };
        let w: Writer = Arc::new(Mutex::new(w));
        map.insert(target.clone(), w.clone());
        Ok(w)
    }
    /// Flushes and closes every output; returns the failures, each naming its output.
    pub(crate) fn close(&self) -> Vec<String> {
        let writers = std::mem::take(&mut *self.writers.lock().unwrap_or_else(|e| e.into_inner()));
        let mut problems = Vec::new();
        for (target, w) in writers {
            if let Err(e) = w.lock().unwrap_or_else(|e| e.into_inner()).flush() {
                problems.push(write_problem(&target, &e));
            }
        }
        problems
    }
}

/// The message of a failed write.
fn write_problem(target: &Target, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        format!("{target} was closed by its reader (broken pipe): the output is incomplete")
    } else {
        format!("cannot write {target}: {e}; the output is incomplete (free space, or choose another path)")
    }
}

type LineFormat<T> = Arc<dyn Fn(&T, &mut String)>;

/// JSON lines to standard output or a file (one writer per path, shared by the workers of
/// a process, flushed when the run ends). Records are written with their serde form, with a
/// formatter to a [`Value`], or with a line writer of your own ([`JsonLines::lines`]).
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

impl<T> JsonLines<T> {
    /// Formats each record with `f` (e.g. [`pane_row`]).
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
        let mut writer = match counters.outputs.open(&target) {
            Ok(w) => Some(w),
            Err(e) => {
                counters.report(format!("cannot create {target}: {e}"));
                None
            }
        };
        let (format, live) = (self.format, self.live);
        let mut line = String::new();
        c.stream.sink(PipelinePact, "json-lines", move |(input, _frontier)| {
            input.for_each(|_, data| {
                // After a failure nothing more is written: the output ends where it broke.
                if counters.progress.failed() {
                    writer = None;
                }
                let Some(w) = writer.as_ref() else {
                    data.clear();
                    return;
                };
                line.clear();
                for (_, x) in data.drain(..) {
                    format(&x, &mut line);
                    line.push('\n');
                }
                let mut w = w.lock().unwrap_or_else(|e| e.into_inner());
                let written = w.write_all(line.as_bytes()).and_then(|()| if live { w.flush() } else { Ok(()) });
                drop(w);
                if let Err(e) = written {
                    counters.report(write_problem(&target, &e));
                    writer = None;
                }
            });
        });
    }
}

/// Collects records in memory (tests, examples): clone the handle into the pipeline and
/// read it after the run.
///
/// ```
/// use highwater::pipeline::Collector;
/// let c: Collector<u64> = Collector::new();
/// assert!(c.take().is_empty());
/// ```
pub struct Collector<T> {
    items: Arc<Mutex<Vec<(i64, T)>>>,
}

impl<T> Clone for Collector<T> {
    fn clone(&self) -> Self {
        Collector { items: self.items.clone() }
    }
}

impl<T> Default for Collector<T> {
    fn default() -> Self {
        Collector { items: Arc::new(Mutex::new(Vec::new())) }
    }
}

impl<T> Collector<T> {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }
    /// Takes what was collected: `(event time, record)` in arrival order per worker.
    pub fn take(&self) -> Vec<(i64, T)> {
        std::mem::take(&mut *self.items.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl<T: Data> Sink<T> for Collector<T> {
    fn attach(self, c: Collection<'_, T>) {
        let items = self.items;
        c.stream.sink(PipelinePact, "collect", move |(input, _)| {
            input.for_each(|_, data| {
                items.lock().unwrap_or_else(|e| e.into_inner()).extend(data.drain(..));
            });
        });
    }
}
