//! Socket journals: with checkpoints on, every byte a connection of a listening
//! [`Tcp`](super::Tcp) source sends is appended to a file of its own before any line of it
//! is decoded, and the connection's position in a checkpoint is its offset in that file.
//! A restored run replays each journal from its checkpointed offset through the same
//! reader (lines → records), so what was accepted before a crash is in the answer after
//! it; then the listener accepts new connections.
//!
//! ```text
//! DIR/journal/<source step>/
//!   conn-0000000000.log    connection 0's bytes, as received (ids in accept order)
//!   conn-0000000000.peer   its peer address (names it in dead letters)
//!   conn-0000000001.log
//!   …
//! ```
//!
//! **Threads.** A journaled connection has two: the *journal writer* drains the socket
//! into the file (a `write` per read, no user-space buffer: once it returns, the bytes are
//! the kernel's and survive the process being killed), at most [`MAX_LAG`] bytes ahead of
//! what the line reader consumed (then it stops reading and TCP's flow control slows the
//! client); the *line reader* tails the file and decodes lines into the partition's queue
//! as an unjournaled connection does. The file is the connection's buffer.
//!
//! **Durability.** Appended bytes are in the operating system's page cache before they are
//! decoded: they survive `kill -9` of the job, not a power loss. At each checkpoint the
//! source fsyncs every journal before recording its offset, so a checkpoint never points
//! past what is on disk. A journal that cannot be written (a full disk, an I/O error)
//! fails the job, naming the file: a record that cannot be journaled cannot be accepted
//! durably.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// At most this many bytes of a connection are journaled and not yet decoded: the journal
/// writer then stops reading the socket (back-pressure).
pub(super) const MAX_LAG: u64 = 64 << 20;

/// How long the line reader waits for more bytes before looking again (it is woken as
/// soon as the writer appends).
const TAIL_POLL: Duration = Duration::from_millis(50);

/// The journal directory of one source: where its connections' journals are.
#[derive(Clone, Debug)]
pub(crate) struct JournalDir {
    dir: PathBuf,
}

/// A file name's stem for connection `id`.
fn stem(id: usize) -> String {
    format!("conn-{id:010}")
}

impl JournalDir {
    /// The journals of source step `step` under `root` (`DIR/journal`): a directory per
    /// step, its name the step's with any character other than a letter, digit, `-` or `_`
    /// replaced by `_` and a hash of the name added when that changed it.
    pub(crate) fn new(root: &Path, step: &str) -> Self {
        let clean: String =
            step.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let name = if clean == step && !clean.is_empty() {
            clean
        } else {
            let hash =
                step.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
            format!("{clean}-{hash:016x}")
        };
        JournalDir { dir: root.join(name) }
    }
    /// The journals in `dir` (a path [`JournalDir::new`] made).
    pub(crate) fn at(dir: PathBuf) -> Self {
        JournalDir { dir }
    }
    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }
    /// Connection `id`'s journal.
    pub(crate) fn log(&self, id: usize) -> PathBuf {
        self.dir.join(Self::file_name(id))
    }
    /// The file name of connection `id`'s journal.
    pub(crate) fn file_name(id: usize) -> String {
        format!("{}.log", stem(id))
    }
    /// Connection `id`'s peer file (its journal's name with `.peer`: the coordinator
    /// deletes both).
    fn peer_file(&self, id: usize) -> PathBuf {
        self.dir.join(format!("{}.peer", stem(id)))
    }
    /// The ids of the journals present, in order.
    pub(crate) fn ids(&self) -> Result<Vec<usize>, String> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot list the socket journals in `{}`: {e}", self.dir.display())),
        };
        let mut ids = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name.strip_prefix("conn-").and_then(|n| n.strip_suffix(".log")) {
                if let Ok(id) = id.parse::<usize>() {
                    ids.push(id);
                }
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }
    /// The peer connection `id` came from (its journal's name when it is not recorded).
    pub(crate) fn peer(&self, id: usize) -> String {
        std::fs::read_to_string(self.peer_file(id))
            .ok()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.log(id).display().to_string())
    }
    /// Creates connection `id`'s journal (and its peer file), empty, and makes the new
    /// names durable (the directory is fsynced). Errors name the file.
    pub(crate) fn create(&self, id: usize, peer: &str) -> Result<File, String> {
        let fail = |path: &Path, e: std::io::Error| {
            format!(
                "cannot create the socket journal `{}` ({e}): the connection from {peer} cannot be accepted durably; free space or fix the checkpoint directory and rerun",
                path.display()
            )
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| fail(&self.dir, e))?;
        let peer_file = self.peer_file(id);
        std::fs::write(&peer_file, peer).map_err(|e| fail(&peer_file, e))?;
        let log = self.log(id);
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| fail(&log, e))?;
        File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| fail(&self.dir, e))?;
        Ok(file)
    }
}

/// Why a journal read failed: the journal could not be written (the job fails with it).
#[derive(Debug)]
pub(super) struct JournalFailure(pub(super) String);

impl std::fmt::Display for JournalFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JournalFailure {}

/// What the journal writer and the line reader of one connection share.
#[derive(Debug, Default)]
struct Shared {
    /// Bytes in the journal.
    written: u64,
    /// Bytes the line reader has consumed.
    consumed: u64,
    /// The connection ended: nothing more will be appended.
    closed: bool,
    /// The journal could not be written.
    failed: Option<String>,
    /// The line reader is gone (the pipeline ended): the writer stops.
    abandoned: bool,
}

/// The state of one journal, shared by its two threads.
#[derive(Debug, Default)]
pub(super) struct Progress {
    state: Mutex<Shared>,
    changed: Condvar,
}

impl Progress {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// A journal already complete (replayed after a restart): `len` bytes, closed.
    pub(super) fn closed(len: u64) -> Arc<Self> {
        Arc::new(Progress {
            state: Mutex::new(Shared { written: len, closed: true, ..Shared::default() }),
            changed: Condvar::new(),
        })
    }
}

/// The journal writer of one connection: drains `stream` into `file` (named `path`) until
/// the connection ends, at most [`MAX_LAG`] bytes ahead of the line reader.
pub(super) fn write_journal(mut stream: TcpStream, mut file: File, path: PathBuf, progress: Arc<Progress>) {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        {
            let mut s = progress.lock();
            while s.written.saturating_sub(s.consumed) >= MAX_LAG && !s.abandoned {
                s = progress.changed.wait_timeout(s, TAIL_POLL).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0);
            }
            if s.abandoned {
                break;
            }
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // A reset or a shutdown: the connection ends here, with what was journaled.
            Err(_) => break,
        };
        if let Err(e) = file.write_all(&buf[..n]) {
            let mut s = progress.lock();
            s.failed = Some(format!(
                "cannot append to the socket journal `{}` ({e}): its records cannot be accepted durably; the connection is closed. Free space in the checkpoint directory and rerun: what was journaled is replayed",
                path.display()
            ));
            s.closed = true;
            progress.changed.notify_all();
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        let mut s = progress.lock();
        s.written += n as u64;
        progress.changed.notify_all();
    }
    let mut s = progress.lock();
    s.closed = true;
    progress.changed.notify_all();
}

/// The line reader's side of a journal: a [`Read`] that tails the file, waiting for the
/// writer, until the connection is closed and every byte read.
pub(super) struct Tail {
    file: File,
    progress: Arc<Progress>,
    /// Bytes read so far (from the start of the journal).
    at: u64,
}

impl Tail {
    /// Tails `file`, already positioned at byte `at` of the journal.
    pub(super) fn new(file: File, at: u64, progress: Arc<Progress>) -> Self {
        Tail { file, progress, at }
    }
}

impl Read for Tail {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let (written, closed, failed) = {
                let s = self.progress.lock();
                (s.written, s.closed, s.failed.clone())
            };
            if self.at < written {
                let want = buf.len().min(usize::try_from(written - self.at).unwrap_or(usize::MAX));
                let n = self.file.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(std::io::Error::other(JournalFailure(format!(
                        "the socket journal is shorter than was written to it (byte {} of {written}): was it truncated?",
                        self.at
                    ))));
                }
                self.at += n as u64;
                let mut s = self.progress.lock();
                s.consumed = self.at;
                self.progress.changed.notify_all();
                return Ok(n);
            }
            if let Some(why) = failed {
                return Err(std::io::Error::other(JournalFailure(why)));
            }
            if closed {
                return Ok(0);
            }
            let s = self.progress.lock();
            if s.written == written && !s.closed {
                let _ = self.progress.changed.wait_timeout(s, TAIL_POLL);
            }
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let mut s = self.progress.lock();
        s.abandoned = true;
        self.progress.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_name_becomes_a_directory_name() {
        let root = Path::new("/j");
        assert_eq!(JournalDir::new(root, "input").path(), Path::new("/j/input"));
        let odd = JournalDir::new(root, "bids/by auction");
        let name = odd.path().file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with("bids_by_auction-") && name.len() == "bids_by_auction-".len() + 16, "{name}");
        assert_ne!(JournalDir::new(root, "a/b").path(), JournalDir::new(root, "a_b").path());
        assert_eq!(JournalDir::new(root, "x").log(7), Path::new("/j/x/conn-0000000007.log"));
    }

    #[test]
    fn a_tail_reads_what_the_writer_appends_until_it_closes() {
        let dir = std::env::temp_dir().join(format!("hw-journal-tail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let journals = JournalDir::new(&dir, "s");
        let file = journals.create(0, "peer").unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            for i in 0..1000 {
                writeln!(s, "line {i}").unwrap();
            }
        });
        let (stream, _) = listener.accept().unwrap();
        let progress = Arc::new(Progress::default());
        let (p, path) = (progress.clone(), journals.log(0));
        let writer = std::thread::spawn(move || write_journal(stream, file, path, p));
        let mut tail = Tail::new(File::open(journals.log(0)).unwrap(), 0, progress);
        let mut text = String::new();
        tail.read_to_string(&mut text).unwrap();
        client.join().unwrap();
        writer.join().unwrap();
        assert_eq!(text.lines().count(), 1000);
        assert_eq!(std::fs::read_to_string(journals.log(0)).unwrap(), text);
        assert_eq!(journals.ids().unwrap(), vec![0]);
        assert_eq!(journals.peer(0), "peer");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
