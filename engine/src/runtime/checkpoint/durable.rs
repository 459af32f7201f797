//! Writing a file so that it is either wholly there or not there at all, across a crash or
//! a power cut: write to a temporary name, fsync, rename, fsync the directory.

use super::error::CheckpointError;
use super::layout::temp_name;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `dir/name` durably: to `name.tmp` first, fsynced, renamed to `name`,
/// and the directory fsynced, so that after a crash `name` holds all of `bytes` or does not
/// exist. Any failure (a full disk, an I/O error) removes the temporary file and is
/// returned as [`CheckpointError::Write`] of checkpoint `checkpoint`. A stale temporary
/// file of the same name (a crash) is overwritten.
pub(super) fn write_file(checkpoint: u64, dir: &Path, name: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
    let temp = dir.join(temp_name(name));
    let fail = |path: &Path, action: &'static str| {
        let path = path.to_path_buf();
        move |source: io::Error| CheckpointError::Write { checkpoint, path, action, source }
    };
    let result = (|| {
        let mut file =
            OpenOptions::new().write(true).create(true).truncate(true).open(&temp).map_err(fail(&temp, "create"))?;
        file.write_all(bytes).map_err(fail(&temp, "write"))?;
        file.sync_all().map_err(fail(&temp, "fsync"))?;
        drop(file);
        let target = dir.join(name);
        fs::rename(&temp, &target).map_err(fail(&target, "rename a file to"))?;
        sync_dir(checkpoint, dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// Fsyncs directory `dir`, so that the names created, renamed or removed in it last.
pub(super) fn sync_dir(checkpoint: u64, dir: &Path) -> Result<(), CheckpointError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| CheckpointError::Write {
        checkpoint,
        path: dir.to_path_buf(),
        action: "fsync the directory",
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_written_whole_and_its_temporary_name_is_gone() {
        let dir = std::env::temp_dir().join(format!("hw-durable-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("a.bin.tmp"), b"left by a crash, longer than the new file").unwrap();
        write_file(1, &dir, "a.bin", b"hello").unwrap();
        assert_eq!(fs::read(dir.join("a.bin")).unwrap(), b"hello");
        assert!(!dir.join("a.bin.tmp").exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
