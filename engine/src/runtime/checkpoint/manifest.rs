//! What a complete checkpoint says about itself (`MANIFEST.json`, written last) and what
//! each process says about its own files (`process-<p>.json`, written before it).

use super::error::CheckpointError;
use super::invalid::{Invalid, InvalidReason};
use super::layout::{worker_file, MANIFEST};
use highwater_operators::time::Time;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The on-disk format this version writes and reads; a manifest of another format is
/// refused ([`CheckpointError::UnsupportedFormat`]) rather than skipped.
pub const FORMAT: u64 = 1;

/// The manifest of a complete checkpoint: `MANIFEST.json`, written last, once every file it
/// lists is on disk.
///
/// ```json
/// {
///   "format": 1,
///   "checkpoint": 7,
///   "cut": { "wm": 9223372036854785807, "tick": 42 },
///   "fingerprint": "wordcount v3",
///   "workers": 2,
///   "processes": 1,
///   "files": [
///     { "name": "worker-0.bin", "len": 1812, "crc32": 2864310470 },
///     { "name": "worker-1.bin", "len": 1790, "crc32": 40233012 }
///   ]
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Manifest {
    /// The on-disk format ([`FORMAT`]).
    pub format: u64,
    /// The checkpoint's id: its directory is `chk-<id, ten digits>`.
    pub checkpoint: u64,
    /// The cut: the timely time every worker's state was taken at (every stamp before it
    /// applied, none after), as the watermark's encoding and the tick.
    pub cut: Time,
    /// The pipeline's fingerprint, as the job gave it: a restore by a job with another is
    /// refused.
    pub fingerprint: String,
    /// How many workers wrote it (all processes together): one file each.
    pub workers: usize,
    /// How many processes wrote it.
    pub processes: usize,
    /// Every worker's file, in worker order.
    pub files: Vec<FileEntry>,
}

/// One file of a checkpoint: its name in the checkpoint's directory, length and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileEntry {
    /// The file's name (`worker-<w>.bin`).
    pub name: String,
    /// Its length in bytes.
    pub len: u64,
    /// The CRC-32 (IEEE) of its bytes.
    pub crc32: u32,
}

impl FileEntry {
    /// The entry of file `name` holding `bytes`.
    pub(super) fn of(name: String, bytes: &[u8]) -> Self {
        FileEntry { name, len: bytes.len() as u64, crc32: crc32fast::hash(bytes) }
    }
}

/// One process's part of a checkpoint (`process-<p>.json`): written after its workers'
/// files, it tells the coordinator they are on disk and what their checksums are, so that
/// process 0 never reads the other processes' files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Part {
    pub(super) format: u64,
    pub(super) checkpoint: u64,
    pub(super) cut: Time,
    pub(super) fingerprint: String,
    pub(super) process: usize,
    pub(super) files: Vec<FileEntry>,
}

/// A manifest read from disk: usable, or why not.
#[derive(Debug)]
pub(super) enum Loaded {
    Manifest(Manifest),
    Invalid(Invalid),
}

/// Reads and checks the manifest of checkpoint `id` in `dir`. A missing, unreadable or
/// malformed manifest is [`Loaded::Invalid`] (the checkpoint is skipped); a manifest of
/// another format is an error (a newer version's checkpoints are not skipped and deleted).
pub(super) fn load(dir: &Path, id: u64) -> Result<Loaded, CheckpointError> {
    let path = dir.join(MANIFEST);
    let invalid = |reason| Ok(Loaded::Invalid(Invalid { checkpoint: id, path: path.clone(), reason }));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return invalid(InvalidReason::Incomplete),
        Err(e) => return invalid(InvalidReason::Unreadable(e.to_string())),
    };
    #[derive(Deserialize)]
    struct Format {
        format: u64,
    }
    match serde_json::from_slice::<Format>(&bytes) {
        Err(e) => return invalid(InvalidReason::BadManifest(e.to_string())),
        Ok(Format { format }) if format != FORMAT => {
            return Err(CheckpointError::UnsupportedFormat { path, found: format, supported: FORMAT })
        }
        Ok(_) => {}
    }
    let manifest: Manifest = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => return invalid(InvalidReason::BadManifest(e.to_string())),
    };
    match check(&manifest, id) {
        Ok(()) => Ok(Loaded::Manifest(manifest)),
        Err(reason) => invalid(InvalidReason::BadManifest(reason)),
    }
}

/// Whether a parsed manifest describes checkpoint `id` with one file per worker.
fn check(m: &Manifest, id: u64) -> Result<(), String> {
    if m.checkpoint != id {
        return Err(format!("it names checkpoint {}, its directory is checkpoint {id}'s", m.checkpoint));
    }
    if m.workers == 0 || m.processes == 0 || m.processes > m.workers {
        return Err(format!("{} workers in {} processes", m.workers, m.processes));
    }
    let names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    let expected: Vec<String> = (0..m.workers).map(worker_file).collect();
    if names != expected {
        return Err(format!("its files are [{}], not one per worker of {}", names.join(", "), m.workers));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(workers: usize) -> Manifest {
        Manifest {
            format: FORMAT,
            checkpoint: 3,
            cut: Time::new(1_000, 2),
            fingerprint: "f".into(),
            workers,
            processes: 1,
            files: (0..workers).map(|w| FileEntry::of(worker_file(w), b"x")).collect(),
        }
    }

    #[test]
    fn a_manifest_must_list_one_file_per_worker_of_its_own_checkpoint() {
        assert_eq!(check(&manifest(2), 3), Ok(()));
        assert!(check(&manifest(2), 4).unwrap_err().contains("checkpoint 3"));
        let mut m = manifest(2);
        m.files.pop();
        assert!(check(&m, 3).unwrap_err().contains("[worker-0.bin]"));
        assert!(check(&manifest(0), 3).is_err());
    }

    #[test]
    fn the_cut_is_two_integers() {
        let json = serde_json::to_value(manifest(1)).unwrap();
        assert_eq!(json["cut"], serde_json::json!({ "wm": Time::new(1_000, 2).wm, "tick": 2 }));
        assert_eq!(json["files"][0]["crc32"], crc32fast::hash(b"x"));
    }
}
