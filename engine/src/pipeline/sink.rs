//! Sinks: where collections end.

use super::collection::{Collection, Data};
use highwater_operators::pane::Pane;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
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
/// use highwater_operators::pane::{Pane, PaneInfo, Timing};
/// use highwater_operators::window::Window;
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

type Shared = Arc<Mutex<Box<dyn Write + Send>>>;

fn writer_for(target: &Target) -> std::io::Result<Shared> {
    static WRITERS: OnceLock<Mutex<HashMap<PathBuf, Shared>>> = OnceLock::new();
    match target {
        Target::Stdout => {
            static STDOUT: OnceLock<Shared> = OnceLock::new();
            Ok(STDOUT
                .get_or_init(|| Arc::new(Mutex::new(Box::new(LineStdout) as Box<dyn Write + Send>)) as Shared)
                .clone())
        }
        Target::File(path) => {
            let mut map = WRITERS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
            if let Some(w) = map.get(path) {
                return Ok(w.clone());
            }
            let f = std::fs::File::create(path)?;
            let w: Shared = Arc::new(Mutex::new(Box::new(BufWriter::new(f))));
            map.insert(path.clone(), w.clone());
            Ok(w)
        }
    }
}

struct LineStdout;
impl Write for LineStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().lock().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush()
    }
}

#[derive(Clone, Debug)]
enum Target {
    Stdout,
    File(PathBuf),
}

/// JSON lines to standard output or a file (one file per path, shared by the workers of a
/// process). Records are written with their serde form, or with a formatter.
pub struct JsonLines<T> {
    target: Target,
    format: Arc<dyn Fn(&T) -> Value>,
}

impl<T: Serialize> JsonLines<T> {
    /// Writes to standard output.
    pub fn stdout() -> Self {
        JsonLines { target: Target::Stdout, format: Arc::new(|t: &T| serde_json::to_value(t).unwrap_or(Value::Null)) }
    }
    /// Writes to `path` (created or truncated).
    pub fn file(path: impl AsRef<Path>) -> Self {
        JsonLines {
            target: Target::File(path.as_ref().to_path_buf()),
            format: Arc::new(|t: &T| serde_json::to_value(t).unwrap_or(Value::Null)),
        }
    }
}

impl<T> JsonLines<T> {
    /// Formats each record with `f` (e.g. [`pane_row`]).
    pub fn format(mut self, f: impl Fn(&T) -> Value + 'static) -> Self {
        self.format = Arc::new(f);
        self
    }
}

impl<T: Data> Sink<T> for JsonLines<T> {
    fn attach(self, c: Collection<'_, T>) {
        let target = self.target.clone();
        let problems = c.shared.problems();
        let writer = match writer_for(&target) {
            Ok(w) => Some(w),
            Err(e) => {
                problems.report(format!("cannot open output {target:?}: {e}"));
                None
            }
        };
        let format = self.format;
        let mut writer = writer;
        let mut line = Vec::new();
        c.stream.sink(PipelinePact, "json-lines", move |(input, frontier)| {
            input.for_each(|_, data| {
                let Some(w) = writer.as_ref() else {
                    data.clear();
                    return;
                };
                line.clear();
                for (_, x) in data.drain(..) {
                    let _ = serde_json::to_writer(&mut line, &format(&x));
                    line.push(b'\n');
                }
                let failed = w.lock().unwrap_or_else(|e| e.into_inner()).write_all(&line).err();
                if let Some(e) = failed {
                    // Report once and stop writing; a closed pipe (`| head`) is not an error.
                    if e.kind() != std::io::ErrorKind::BrokenPipe {
                        problems.report(format!("cannot write output {target:?}: {e}"));
                    }
                    writer = None;
                }
            });
            if frontier.is_empty() {
                if let Some(w) = writer.as_ref() {
                    let _ = w.lock().unwrap_or_else(|e| e.into_inner()).flush();
                }
            }
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
