//! The names on disk: where checkpoint `N` lives, what its files are called, which names
//! are temporary. Nothing here touches a file except [`list`], which reads the directory.
//!
//! ```text
//! DIR/
//!   LOCK                     held (flock) by process 0 of the job using DIR
//!   LOCK.<p>                 held by process p > 0
//!   chk-0000000007/          checkpoint 7
//!     worker-0.bin           worker 0's bytes
//!     worker-1.bin
//!     process-0.json         process 0's part: its files' lengths and checksums
//!     MANIFEST.json          written last: the checkpoint is complete once it exists
//!     worker-2.bin.tmp       a file being written (or left by a crash)
//! ```

use std::io;
use std::path::{Path, PathBuf};

/// The manifest of a checkpoint, written last.
pub(super) const MANIFEST: &str = "MANIFEST.json";

/// The suffix of a file being written; it is renamed to its name once fsynced.
pub(super) const TEMP_SUFFIX: &str = ".tmp";

const CHECKPOINT_PREFIX: &str = "chk-";

/// The lock file process `process` holds while the job runs: `LOCK` for process 0 (every
/// job has one, so a second job is always refused), `LOCK.<p>` for the others (so the
/// processes of one cluster sharing a directory do not refuse each other).
pub(super) fn lock_file(process: usize) -> String {
    if process == 0 {
        "LOCK".to_string()
    } else {
        format!("LOCK.{process}")
    }
}

/// The directory name of checkpoint `id`: `chk-` and ten digits, so that names sort as ids.
pub(super) fn checkpoint_dir(id: u64) -> String {
    format!("{CHECKPOINT_PREFIX}{id:010}")
}

/// The id a directory name stands for, if it is a checkpoint's.
pub(super) fn parse_checkpoint_dir(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(CHECKPOINT_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The file of worker `worker` (its index among all workers of all processes).
pub(super) fn worker_file(worker: usize) -> String {
    format!("worker-{worker}.bin")
}

/// The part of process `process`: the files it wrote, written after them.
pub(super) fn part_file(process: usize) -> String {
    format!("process-{process}.json")
}

/// The temporary name `name` is written under.
pub(super) fn temp_name(name: &str) -> String {
    format!("{name}{TEMP_SUFFIX}")
}

/// Every checkpoint directory under `root`, complete or not, by id (ascending).
pub(super) fn list(root: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let Some(id) = entry.file_name().to_str().and_then(parse_checkpoint_dir) else {
            continue;
        };
        if entry.file_type()?.is_dir() {
            out.push((id, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_as_ids_and_parse_back() {
        assert_eq!(checkpoint_dir(7), "chk-0000000007");
        assert!(checkpoint_dir(9) < checkpoint_dir(10));
        assert_eq!(parse_checkpoint_dir(&checkpoint_dir(123)), Some(123));
        assert_eq!(parse_checkpoint_dir("chk-12"), Some(12));
        for other in ["chk-", "chk-1.tmp", "chk--1", "LOCK", "chk-0000000001x"] {
            assert_eq!(parse_checkpoint_dir(other), None, "{other}");
        }
        assert_eq!((lock_file(0).as_str(), lock_file(2).as_str()), ("LOCK", "LOCK.2"));
        assert_eq!(temp_name(&worker_file(3)), "worker-3.bin.tmp");
    }
}
