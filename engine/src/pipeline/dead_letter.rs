//! Dead letters: records a pipeline could not use, with where they came from and why.

use serde::{Deserialize, Serialize};

/// A record that did not make it: a malformed line, a too-late element, an element for a
/// closed window. Bad input is normal input: every step that drops something sends it here
/// and counts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The step that dropped it (a source or an aggregation name).
    pub step: String,
    /// Where: `file:line` (with the byte offset), a TCP peer, or the key and window.
    pub location: String,
    /// Why, in words that say what to do.
    pub reason: String,
    /// The record (or the start of the line), as text.
    pub record: String,
}
