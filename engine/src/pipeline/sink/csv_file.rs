//! A CSV file sink, written with the `csv` crate and serde.

use crate::pipeline::Sink;
use crate::pipeline::{Collection, Data};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use timely::dataflow::channels::pact::Pipeline as PipelinePact;
use timely::dataflow::operators::generic::Operator;

/// One open CSV file, shared by the sink operators of a process that write it.
struct Output {
    writer: csv::Writer<File>,
    /// The header of formatted rows (written with the first row).
    columns: Option<Vec<String>>,
    failed: bool,
}

type Shared = Arc<Mutex<Output>>;
type Format<T> = Arc<dyn Fn(&T) -> Value + Send + Sync>;

/// The open file for `path`: the one the workers of this run already share, or a new one
/// (created or truncated). Weak entries: a finished run's file is closed, and a later run
/// creates it again.
fn output_for(path: &Path) -> std::io::Result<Shared> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Mutex<Output>>>>> = OnceLock::new();
    let mut open = OPEN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    open.retain(|_, w| w.strong_count() > 0);
    if let Some(o) = open.get(path).and_then(Weak::upgrade) {
        return Ok(o);
    }
    let writer = csv::WriterBuilder::new().has_headers(true).from_path(path).map_err(std::io::Error::other)?;
    let o = Arc::new(Mutex::new(Output { writer, columns: None, failed: false }));
    open.insert(path.to_path_buf(), Arc::downgrade(&o));
    Ok(o)
}

/// A JSON value as the text of a CSV cell: strings as they are, `null` empty, anything
/// else in its JSON form.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Records written as CSV rows with a header line, with the `csv` crate: each record's
/// serde form (a struct of plain fields: its field names make the header), or a flat
/// JSON object from [`CsvFile::format`] (its keys, from the first row, make the header;
/// strings are written as they are, other values as JSON, e.g. a window
/// `{"start":0,"end":10000}`).
/// The workers of a process share one file.
///
/// ```
/// use highwater::pipeline::{pane_row, run, CsvFile, Memory, RunConfig, Windowing};
/// use highwater::model::watermark::WatermarkStrategy;
/// use std::time::Duration;
/// let path = std::env::temp_dir().join(format!("hw-doc-csv-sink-{}.csv", std::process::id()));
/// let out = path.clone();
/// run(RunConfig::workers(2), move |p| {
///     let src = Memory::new(vec![vec![(1_000, "a".to_string()), (2_000, "a".to_string())]], WatermarkStrategy::Ascending);
///     p.read("letters", src)?
///         .key_by(|s: &String| s.clone())
///         .window(Windowing::fixed(Duration::from_secs(10)))
///         .count("per-letter")?
///         .write(CsvFile::create(&out).format(pane_row));
///     Ok(())
/// }).unwrap();
/// let text = std::fs::read_to_string(&path).unwrap();
/// assert_eq!(text.lines().next(), Some("key,window,value,timestamp,pane,retraction"));
/// assert_eq!(
///     text.lines().nth(1),
///     Some(r#"a,"{""start"":0,""end"":10000}",2,9999,"{""index"":0,""nonspeculative_index"":0,""timing"":""on_time"",""first"":true,""last"":true}",false"#)
/// );
/// ```
pub struct CsvFile<T> {
    path: PathBuf,
    format: Option<Format<T>>,
}

impl<T: Serialize> CsvFile<T> {
    /// Writes to `path` (created or truncated).
    pub fn create(path: impl AsRef<Path>) -> Self {
        CsvFile { path: path.as_ref().to_path_buf(), format: None }
    }
    /// Formats each record as a flat JSON object (e.g. [`super::pane_row`]).
    pub fn format(mut self, f: impl Fn(&T) -> Value + Send + Sync + 'static) -> Self {
        self.format = Some(Arc::new(f));
        self
    }
}

impl Output {
    fn write<T: Serialize>(
        &mut self,
        x: &T,
        format: Option<&(dyn Fn(&T) -> Value + Send + Sync)>,
    ) -> Result<(), String> {
        let Some(format) = format else {
            return self
                .writer
                .serialize(x)
                .map_err(|e| format!("{e} (a CSV row needs a struct of plain fields; use .format(...) for others)"));
        };
        let row = match format(x) {
            Value::Object(map) => map,
            other => return Err(format!("the formatter returned {other}, not a JSON object")),
        };
        if self.columns.is_none() {
            let names: Vec<String> = row.keys().cloned().collect();
            self.writer.write_record(&names).map_err(|e| e.to_string())?;
            self.columns = Some(names);
        }
        let columns = self.columns.as_deref().unwrap_or_default();
        let cells = columns.iter().map(|c| row.get(c).map(cell).unwrap_or_default());
        self.writer.write_record(cells).map_err(|e| e.to_string())
    }
}

impl<T: Data> Sink<T> for CsvFile<T> {
    fn attach(self, c: Collection<'_, T>) {
        let problems = c.shared.problems();
        let path = self.path;
        let output = match output_for(&path) {
            Ok(o) => Some(o),
            Err(e) => {
                problems.report(format!("cannot create {}: {e}", path.display()));
                None
            }
        };
        let format = self.format;
        c.stream.sink(PipelinePact, "csv-file", move |(input, frontier)| {
            input.for_each(|_, data| {
                let Some(out) = output.as_ref() else {
                    data.clear();
                    return;
                };
                let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                for (_, x) in data.drain(..) {
                    if out.failed {
                        break;
                    }
                    if let Err(e) = out.write(&x, format.as_deref()) {
                        out.failed = true;
                        problems.report(format!("cannot write {}: {e}", path.display()));
                    }
                }
            });
            if frontier.is_empty() {
                if let Some(out) = output.as_ref() {
                    let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                    if let Err(e) = out.writer.flush() {
                        if !out.failed {
                            out.failed = true;
                            problems.report(format!("cannot write {}: {e}", path.display()));
                        }
                    }
                }
            }
        });
    }
}
