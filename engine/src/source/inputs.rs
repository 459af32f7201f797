//! Turning `--input` arguments (files, directories, globs) into the list of file
//! partitions, and recognising each file's format.

use std::fmt;
use std::path::{Path, PathBuf};

/// The line format of an input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated values whose first line is a header naming the columns.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        })
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "csv" => Ok(Format::Csv),
            "jsonl" | "json" | "ndjson" => Ok(Format::JsonLines),
            other => Err(format!("unknown format `{other}`; use csv or jsonl")),
        }
    }
}

impl Format {
    /// The format a file name implies (`.csv`, `.jsonl`, `.ndjson`, `.json`, each
    /// optionally followed by `.gz`).
    ///
    /// ```
    /// use highwater::source::Format;
    /// use std::path::Path;
    /// assert_eq!(Format::from_path(Path::new("bids.csv.gz")), Some(Format::Csv));
    /// assert_eq!(Format::from_path(Path::new("a/b.jsonl")), Some(Format::JsonLines));
    /// assert_eq!(Format::from_path(Path::new("notes.txt")), None);
    /// ```
    pub fn from_path(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit_once('.')?.1;
        match ext {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

pub use crate::format::is_gzip;

/// An `--input` that names nothing readable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// A path that does not exist.
    #[error("input `{0}` does not exist; give a file, a directory or a glob such as 'data/*.csv'")]
    NotFound(String),
    /// A glob pattern that does not parse.
    #[error("input `{pattern}` is not a valid glob: {reason}")]
    BadGlob {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// A glob or directory that matched no file.
    #[error("input `{0}` matched no file")]
    Empty(String),
    /// A directory that cannot be listed.
    #[error("cannot list directory `{path}`: {source}")]
    Io {
        /// The directory.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A file whose format cannot be told from its name.
    #[error("cannot tell the format of `{0}` from its name; pass --format csv or --format jsonl")]
    UnknownFormat(String),
    /// No `--input` at all.
    #[error("no input given; pass --input PATH (a file, a directory or a glob)")]
    NoInput,
}

/// The name standing for standard input in `--input` and in [`crate::pipeline::Files`].
pub const STDIN: &str = "-";

/// Whether `path` names standard input (`-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// Expands files, directories (their files, not recursively, hidden files skipped) and
/// glob patterns into files, in the order given, each expansion sorted by name. Each file
/// is one logical partition; partition numbers follow this order. `-` is standard input.
///
/// In a directory, files whose format cannot be told from their name (a stray
/// `README.txt`) are skipped with a warning on standard error, unless `any_name` (the
/// format is forced) takes every file.
pub fn expand_inputs(inputs: &[String]) -> Result<Vec<PathBuf>, InputError> {
    expand_inputs_with(inputs, false)
}

/// [`expand_inputs`], taking every file of a directory when `any_name`.
pub fn expand_inputs_with(inputs: &[String], any_name: bool) -> Result<Vec<PathBuf>, InputError> {
    if inputs.is_empty() {
        return Err(InputError::NoInput);
    }
    let mut out: Vec<PathBuf> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for input in inputs {
        let path = Path::new(input);
        let mut found: Vec<PathBuf> = Vec::new();
        if is_stdin(path) {
            found.push(path.to_path_buf());
        } else if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| InputError::Io { path: input.clone(), source: e })?;
            let mut skipped = Vec::new();
            for entry in entries.flatten() {
                let p = entry.path();
                let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
                if p.is_file() && !hidden {
                    if any_name || Format::from_path(&p).is_some() {
                        found.push(p);
                    } else {
                        skipped.push(p.display().to_string());
                    }
                }
            }
            if !skipped.is_empty() {
                skipped.sort();
                tracing::warn!(
                    input = %input,
                    "skipping {} file(s) of `{input}` that are not .csv, .jsonl, .ndjson or .json (optionally .gz): {}; pass --format to read every file",
                    skipped.len(),
                    skipped.join(", ")
                );
            }
            if found.is_empty() {
                return Err(InputError::Empty(input.clone()));
            }
        } else if path.exists() {
            found.push(path.to_path_buf());
        } else if input.contains(['*', '?', '[']) {
            let paths =
                glob::glob(input).map_err(|e| InputError::BadGlob { pattern: input.clone(), reason: e.to_string() })?;
            found.extend(paths.flatten().filter(|p| p.is_file()));
            if found.is_empty() {
                return Err(InputError::Empty(input.clone()));
            }
        } else {
            return Err(InputError::NotFound(input.clone()));
        }
        found.sort();
        for p in found {
            if seen.insert(p.clone()) {
                out.push(p);
            }
        }
    }
    Ok(out)
}
