//! Why a checkpoint on disk cannot be used: the warning a restore prints when it falls
//! back to an older checkpoint.

use std::fmt;
use std::path::PathBuf;

/// A checkpoint that cannot be used, and the file that shows it: a restore skips it and
/// takes the previous one ([`super::Latest::skipped`]). Its `Display` is the warning to
/// print.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Invalid {
    /// The checkpoint's id.
    pub checkpoint: u64,
    /// The file that is missing, short, damaged or unreadable.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: InvalidReason,
}

/// What is wrong with a checkpoint's file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidReason {
    /// The manifest does not exist: the checkpoint was never completed (the job stopped
    /// or crashed while writing it). Its directory is deleted after the next checkpoint.
    Incomplete,
    /// The manifest exists but cannot be read.
    Unreadable(String),
    /// The manifest is not one this format describes (not JSON, a field missing, files
    /// that are not one per worker, another checkpoint's id).
    BadManifest(String),
    /// A file the manifest lists does not exist (or cannot be read).
    Missing(String),
    /// A file's length is not the manifest's: it was truncated or appended to.
    Length {
        /// The manifest's length.
        expected: u64,
        /// The file's.
        found: u64,
    },
    /// A file's CRC-32 is not the manifest's: its bytes changed.
    Checksum {
        /// The manifest's checksum.
        expected: u32,
        /// The file's.
        found: u32,
    },
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidReason::Incomplete => f.write_str("does not exist: the checkpoint was never completed"),
            InvalidReason::Unreadable(e) => write!(f, "cannot be read: {e}"),
            InvalidReason::BadManifest(e) => write!(f, "is not a valid manifest: {e}"),
            InvalidReason::Missing(e) => write!(f, "is missing or unreadable: {e}"),
            InvalidReason::Length { expected, found } => {
                write!(f, "has {found} bytes where the manifest says {expected}: it was truncated or overwritten")
            }
            InvalidReason::Checksum { expected, found } => {
                write!(f, "has CRC-32 {found:08x} where the manifest says {expected:08x}: its bytes are damaged")
            }
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "checkpoint {} is unusable: `{}` {}", self.checkpoint, self.path.display(), self.reason)
    }
}
