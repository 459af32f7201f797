//! The output files of a run: one buffered writer per destination, shared by the workers
//! that write there, flushed and closed when the run ends.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One output of a run: a buffered writer shared by the workers that write to it.
pub(crate) type Writer = Arc<Mutex<Output>>;

/// An output being written: the buffered writer, the bytes written through it (with the
/// length the file was resumed at), and the length it had at each checkpoint cut.
pub(crate) struct Output {
    /// The buffered writer.
    inner: Box<dyn Write + Send>,
    /// The file's length as far as this run has written it (buffered bytes included).
    length: u64,
    /// The length at each cut some worker's sink passed (a cut is recorded once, by the
    /// first sink to pass it: the later ones may have written rows after the cut since).
    at_cut: HashMap<highwater_operators::time::Time, u64>,
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.length += n as u64;
        Ok(n)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(buf)?;
        self.length += buf.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Output {
    /// The file's length at `cut`: recorded by the first sink to pass the cut, which has
    /// written every row before it and none after; the rows are flushed to the operating
    /// system then, and the checkpoint's writer fsyncs the file before it writes the
    /// checkpoint (not the worker: an fsync of a large output takes tens of milliseconds),
    /// so the checkpoint never names bytes the file does not hold.
    pub(crate) fn length_at(&mut self, cut: highwater_operators::time::Time) -> std::io::Result<u64> {
        if let Some(&n) = self.at_cut.get(&cut) {
            return Ok(n);
        }
        self.inner.flush()?;
        self.at_cut.retain(|t, _| *t > cut);
        self.at_cut.insert(cut, self.length);
        Ok(self.length)
    }
}

/// A file sink's state at a cut: the file and its length, every row before the cut
/// written and none after. A restored run truncates the file to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SinkState {
    /// The file.
    pub(crate) path: PathBuf,
    /// Its length at the cut.
    pub(crate) length: u64,
    /// A CSV file's columns, when a formatter's first row named them (the header is
    /// written once, before the first row).
    pub(crate) columns: Option<Vec<String>>,
}

/// Where JSON lines go.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Target {
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
    /// Files a restored run continues: truncated to their checkpointed length instead of
    /// created empty.
    resume: Mutex<HashMap<PathBuf, u64>>,
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_list().entries(w.keys()).finish()
    }
}

/// The buffer of an output (std's default): smaller writes are gathered, larger go through.
const OUTPUT_BUFFER: usize = 8 << 10;

impl Outputs {
    /// The writer of `target`, created (the file truncated) by the first worker to ask.
    pub(crate) fn open(&self, target: &Target) -> std::io::Result<Writer> {
        let mut map = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = map.get(target) {
            return Ok(w.clone());
        }
        // The sinks write a batch of lines at once: a batch larger than the buffer goes
        // straight to the file. A 64 KiB buffer copied nearly every batch once more (the
        // memcpy of a sliding-window run's whole output, 3 % of its instructions).
        let resume = match target {
            Target::File(path) => self.resume.lock().unwrap_or_else(|e| e.into_inner()).get(path).copied(),
            Target::Stdout => None,
        };
        let w = match target {
            Target::Stdout => Output {
                inner: Box::new(BufWriter::with_capacity(OUTPUT_BUFFER, std::io::stdout())),
                length: 0,
                at_cut: HashMap::new(),
            },
            Target::File(path) => {
                let (file, length) = match resume {
                    Some(length) => (reopen(path, length)?, length),
                    None => (std::fs::File::create(path)?, 0),
                };
                Output {
                    inner: Box::new(BufWriter::with_capacity(OUTPUT_BUFFER, file)),
                    length,
                    at_cut: HashMap::new(),
                }
            }
        };
        let w: Writer = Arc::new(Mutex::new(w));
        map.insert(target.clone(), w.clone());
        Ok(w)
    }
    /// A restored run continues `path` from `length` bytes (the file is truncated to it
    /// when first opened) instead of creating it empty.
    pub(crate) fn resume(&self, path: PathBuf, length: u64) {
        self.resume.lock().unwrap_or_else(|e| e.into_inner()).insert(path, length);
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

/// Opens `path` to continue it at `length` bytes: what lies beyond (rows written after the
/// checkpoint) is cut off. A file shorter than that lost rows the checkpoint counts on.
pub(crate) fn reopen(path: &std::path::Path, length: u64) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => std::io::Error::other(
            "it is missing, and the checkpoint being restored counts on its rows; rerun with --fresh to start over",
        ),
        _ => e,
    })?;
    let now = file.metadata()?.len();
    if now < length {
        return Err(std::io::Error::other(format!(
            "it holds {now} bytes, fewer than the {length} of the checkpoint being restored (was it changed or replaced?); rerun with --fresh to start over"
        )));
    }
    file.set_len(length)?;
    file.seek(SeekFrom::Start(length))?;
    Ok(file)
}

/// The message of a failed write.
pub(crate) fn write_problem(target: &Target, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        format!("{target} was closed by its reader (broken pipe): the output is incomplete")
    } else {
        format!("cannot write {target}: {e}; the output is incomplete (free space, or choose another path)")
    }
}
