//! A CSV file sink, written with the `csv` crate and serde.

use crate::pipeline::checkpointing::{sink_step, SinkState};
use crate::pipeline::shared::Counters;
use crate::pipeline::Sink;
use crate::pipeline::{Collection, Data};
use crate::runtime::checkpoint::coordinator::Coordinator;
use crate::runtime::outputs::reopen;
use highwater_operators::time::Time;
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
    writer: csv::Writer<Counted>,
    /// The header of formatted rows (written with the first row).
    columns: Option<Vec<String>>,
    failed: bool,
    /// The file's length at each checkpoint cut a sink of it passed (recorded once per
    /// cut, by the first: the others may have written rows after the cut since).
    at_cut: HashMap<Time, u64>,
}

/// The file, counting the bytes written to it (from the length it was resumed at).
struct Counted {
    file: File,
    length: u64,
}

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.length += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Output {
    /// The file's length at `cut`, flushed (see [`Output::at_cut`]); the checkpoint's
    /// writer fsyncs the file before it writes the checkpoint.
    fn length_at(&mut self, cut: Time) -> std::io::Result<u64> {
        if let Some(&n) = self.at_cut.get(&cut) {
            return Ok(n);
        }
        self.writer.flush()?;
        let n = self.writer.get_ref().length;
        self.at_cut.retain(|t, _| *t > cut);
        self.at_cut.insert(cut, n);
        Ok(n)
    }
}

type Shared = Arc<Mutex<Output>>;
type Format<T> = Arc<dyn Fn(&T) -> Value + Send + Sync>;

/// The open file for `path`: the one the workers of this run already share, or a new one
/// (created or truncated). Weak entries: a finished run's file is closed, and a later run
/// creates it again.
///
/// A restored run continues the file from its checkpointed `resume` state instead: the
/// file is cut back to its length, and its header is not written again.
fn output_for(path: &Path, resume: Option<SinkState>) -> std::io::Result<Shared> {
    static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Mutex<Output>>>>> = OnceLock::new();
    let mut open = OPEN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    open.retain(|_, w| w.strong_count() > 0);
    if let Some(o) = open.get(path).and_then(Weak::upgrade) {
        return Ok(o);
    }
    let (file, length, columns) = match resume {
        Some(state) => (reopen(path, state.length)?, state.length, state.columns),
        None => (File::create(path)?, 0, None),
    };
    // A file with rows has its header: a resumed one is not given another.
    let writer = csv::WriterBuilder::new().has_headers(length == 0).from_writer(Counted { file, length });
    let o = Arc::new(Mutex::new(Output { writer, columns, failed: false, at_cut: HashMap::new() }));
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
/// # std::fs::remove_file(&path).unwrap();
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
        // Checkpoints: the file's length (and columns) at each cut; a restored run goes on
        // from there.
        let cut = sink_step(&c.shared, &path).zip(c.shared.checkpoints.clone());
        let worker = c.shared.worker;
        let mut resume = None;
        if let Some((step, k)) = &cut {
            k.register(worker, step, false);
            for piece in k.restored(step) {
                match bincode::deserialize::<SinkState>(&piece) {
                    Ok(state) => resume = Some(state),
                    Err(e) => {
                        problems.report(format!("{}: its checkpointed length cannot be read: {e}", path.display()))
                    }
                }
            }
        }
        let output = match output_for(&path, resume) {
            Ok(o) => Some(o),
            Err(e) => {
                problems.report(format!("cannot create {}: {e}", path.display()));
                None
            }
        };
        let format = self.format;
        // While a cut is pending: the rows stamped at or after it, written once the file's
        // length at the cut is recorded.
        let mut later: Vec<Vec<(i64, T)>> = Vec::new();
        c.stream.sink(PipelinePact, "csv-file", move |(input, frontier)| {
            let pending =
                |cut: &Option<(String, Arc<Coordinator>)>| cut.as_ref().and_then(|(s, k)| k.pending(worker, s));
            input.for_each(|time, data| {
                if pending(&cut).is_some_and(|c| time.least().is_some_and(|t| *t >= c)) {
                    later.push(std::mem::take(data));
                    return;
                }
                write_rows(output.as_ref(), &problems, &path, format.as_deref(), data);
            });
            if let (Some(at), Some((step, k))) = (pending(&cut), cut.as_ref()) {
                if frontier.frontier().iter().all(|t| *t >= at) {
                    if let Some(out) = output.as_ref() {
                        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                        match out.length_at(at) {
                            Ok(length) => {
                                let state = SinkState { path: path.clone(), length, columns: out.columns.clone() };
                                drop(out);
                                match bincode::serialize(&state) {
                                    Ok(bytes) => k.save(worker, step, at, bytes),
                                    Err(e) => {
                                        problems.report(format!("{}: cannot save its length: {e}", path.display()))
                                    }
                                }
                            }
                            Err(e) => {
                                out.failed = true;
                                problems.report(format!("cannot write {}: {e}", path.display()));
                            }
                        }
                    }
                }
            }
            // Saved, or the cut was dropped (the run stops taking checkpoints): the rows set
            // aside are written.
            if pending(&cut).is_none() {
                for mut data in later.drain(..) {
                    write_rows(output.as_ref(), &problems, &path, format.as_deref(), &mut data);
                }
            }
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

/// Writes a batch of rows; the first failure fails the run, and nothing more is written.
fn write_rows<T: Serialize>(
    output: Option<&Shared>,
    problems: &Counters,
    path: &Path,
    format: Option<&(dyn Fn(&T) -> Value + Send + Sync)>,
    data: &mut Vec<(i64, T)>,
) {
    let Some(out) = output else {
        data.clear();
        return;
    };
    let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
    for (_, x) in data.drain(..) {
        if out.failed {
            break;
        }
        if let Err(e) = out.write(&x, format) {
            out.failed = true;
            problems.report(format!("cannot write {}: {e}", path.display()));
        }
    }
}
