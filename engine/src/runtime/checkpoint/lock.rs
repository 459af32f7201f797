//! One job per checkpoint directory: an exclusive `flock` on a lock file, held for the
//! life of the store, with the holder's pid and host written inside for the error the
//! next job gets.

use super::error::CheckpointError;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// An exclusive lock on a file, released when dropped (or when the process dies: the
/// kernel releases `flock` locks with the last descriptor, so a crashed job never leaves
/// its directory locked). The file itself stays.
#[derive(Debug)]
pub(super) struct DirLock {
    /// The open lock file: the lock lives as long as this descriptor.
    _file: File,
}

impl DirLock {
    /// Takes the lock on `dir/name` at once, or fails with [`CheckpointError::Locked`]
    /// naming the holder.
    pub(super) fn acquire(dir: &Path, name: &str) -> Result<DirLock, CheckpointError> {
        let path = dir.join(name);
        let io_error = |source: io::Error| CheckpointError::Directory { dir: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io_error)?;
        // SAFETY: `flock` on a descriptor this function owns; no memory is shared.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                return Err(CheckpointError::Locked {
                    dir: dir.to_path_buf(),
                    lock: path.clone(),
                    holder: holder(&mut file),
                });
            }
            return Err(io_error(e));
        }
        // Say who holds it; the lock, not these bytes, is what excludes.
        file.set_len(0).map_err(io_error)?;
        file.rewind().map_err(io_error)?;
        writeln!(file, "pid {} on {}", std::process::id(), host()).map_err(io_error)?;
        Ok(DirLock { _file: file })
    }
}

/// What the holder wrote into the lock file.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        "its pid is not known yet".to_string()
    } else {
        text.to_string()
    }
}

/// This machine's host name (for a directory on a shared file system), or `?`.
fn host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return "?".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
