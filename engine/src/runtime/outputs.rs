//! The output files of a run: one buffered writer per destination, shared by the workers
//! that write there, flushed and closed when the run ends.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// One output of a run: a buffered writer shared by the workers that write to it.
pub(crate) type Writer = Arc<Mutex<Box<dyn Write + Send>>>;

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
        let w: Box<dyn Write + Send> = match target {
            Target::Stdout => Box::new(BufWriter::with_capacity(OUTPUT_BUFFER, std::io::stdout())),
            Target::File(path) => Box::new(BufWriter::with_capacity(OUTPUT_BUFFER, std::fs::File::create(path)?)),
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
pub(crate) fn write_problem(target: &Target, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        format!("{target} was closed by its reader (broken pipe): the output is incomplete")
    } else {
        format!("cannot write {target}: {e}; the output is incomplete (free space, or choose another path)")
    }
}
