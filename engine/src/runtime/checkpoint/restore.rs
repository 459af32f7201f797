//! A complete checkpoint found on disk, its files checked against its manifest.

use super::error::CheckpointError;
use super::invalid::{Invalid, InvalidReason};
use super::layout::worker_file;
use super::manifest::{FileEntry, Manifest};
use highwater_operators::time::Time;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A complete checkpoint whose every file had the manifest's length and checksum when it
/// was found ([`super::CheckpointStore::latest`]). Reading a worker's bytes checks them
/// again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its directory (`DIR/chk-<id>`).
    path: PathBuf,
    /// Its manifest.
    manifest: Manifest,
}

impl Checkpoint {
    /// The checkpoint's id.
    pub fn id(&self) -> u64 {
        self.manifest.checkpoint
    }
    /// The cut: the time every worker's state was taken at.
    pub fn cut(&self) -> Time {
        self.manifest.cut
    }
    /// How many workers wrote it (a restore may run another number).
    pub fn workers(&self) -> usize {
        self.manifest.workers
    }
    /// How many processes wrote it.
    pub fn processes(&self) -> usize {
        self.manifest.processes
    }
    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
    /// The checkpoint's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The bytes worker `worker` wrote, checked against the manifest again (a file that
    /// changed since is [`CheckpointError::Corrupt`]).
    pub fn read_worker(&self, worker: usize) -> Result<Vec<u8>, CheckpointError> {
        let entry = self.manifest.files.get(worker).ok_or(CheckpointError::NoSuchWorker {
            checkpoint: self.id(),
            worker,
            workers: self.workers(),
        })?;
        debug_assert_eq!(entry.name, worker_file(worker));
        let path = self.path.join(&entry.name);
        let corrupt = |reason| CheckpointError::Corrupt { checkpoint: self.id(), path: path.clone(), reason };
        let bytes = std::fs::read(&path).map_err(|e| corrupt(InvalidReason::Missing(e.to_string())))?;
        let found = Summary { len: bytes.len() as u64, crc32: crc32fast::hash(&bytes) };
        found.matches(entry).map_err(corrupt)?;
        Ok(bytes)
    }
    /// Checkpoint `manifest` in directory `path` if each of its files has the manifest's
    /// length and checksum, else the first file that does not.
    pub(super) fn check(path: PathBuf, manifest: Manifest) -> Result<Checkpoint, Invalid> {
        for entry in &manifest.files {
            let file = path.join(&entry.name);
            let invalid = |reason| Invalid { checkpoint: manifest.checkpoint, path: file.clone(), reason };
            let found = Summary::of_file(&file).map_err(|e| invalid(InvalidReason::Missing(e.to_string())))?;
            found.matches(entry).map_err(invalid)?;
        }
        Ok(Checkpoint { path, manifest })
    }
}

/// A file's length and checksum.
struct Summary {
    len: u64,
    crc32: u32,
}

impl Summary {
    /// Reads `path` through, without holding it in memory.
    fn of_file(path: &Path) -> io::Result<Summary> {
        let mut file = File::open(path)?;
        let mut hasher = crc32fast::Hasher::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut len = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        Ok(Summary { len, crc32: hasher.finalize() })
    }
    fn matches(&self, entry: &FileEntry) -> Result<(), InvalidReason> {
        if self.len != entry.len {
            return Err(InvalidReason::Length { expected: entry.len, found: self.len });
        }
        if self.crc32 != entry.crc32 {
            return Err(InvalidReason::Checksum { expected: entry.crc32, found: self.crc32 });
        }
        Ok(())
    }
}
