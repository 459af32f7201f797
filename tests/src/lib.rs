//! Shared helpers of the integration tests.

use std::path::PathBuf;

/// The project's conformance corpus: `tests/conformance/`.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// Scenarios that need an optional feature highwater does not implement; each must be
/// reported `unsupported` (not silently skipped), and the list shrinks when one is built.
pub const KNOWN_UNSUPPORTED: &[&str] = &[];
