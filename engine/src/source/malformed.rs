//! The dead letter of a line a source could not read.

use serde::{Deserialize, Serialize};

/// A line that did not make a record: where it was and why. Bad input is normal input:
/// sources emit one of these, count it, and go on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Malformed {
    /// The file (or partition name) it came from.
    pub file: String,
    /// Its 1-based line number (the header of a CSV file is line 1; 0 when the problem
    /// concerns the whole file).
    pub line: u64,
    /// Byte offset of the line's start in the (decompressed) file.
    pub byte_offset: u64,
    /// What is wrong with it.
    pub reason: String,
    /// The start of the line's text (lossy UTF-8, at most [`Malformed::TEXT_LIMIT`] bytes).
    pub text: String,
}

impl Malformed {
    /// How much of a bad line is kept in [`Malformed::text`].
    pub const TEXT_LIMIT: usize = 200;

    /// A dead letter for `raw` at `line` / `byte_offset` of `file`.
    pub fn new(file: &str, line: u64, byte_offset: u64, reason: impl Into<String>, raw: &[u8]) -> Self {
        let raw = &raw[..raw.len().min(Self::TEXT_LIMIT)];
        let text = String::from_utf8_lossy(raw).trim_end_matches(['\r', '\n']).to_string();
        Malformed { file: file.to_string(), line, byte_offset, reason: reason.into(), text }
    }
}
