//! One TCP connection of a [`super::Tcp`] source: the listener thread that accepts it, its
//! reader thread (lines → records, into a bounded channel, waking the operator) and the
//! partition the source operator drains. See [`super::Tcp`] for the behaviour.

use super::super::{Batch, Partition, Waker};
use super::journal::{self, JournalDir, JournalFailure, Tail};
use crate::dead_letter::{DeadLetter, DeadLetterKind, Location};
use crate::format::fastcsv;
use crate::format::{CsvDecoder, CsvFields, Decoder};
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Seek};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Tells a listening [`Tcp`](super::Tcp) source to stop accepting connections; the source then ends
/// once the connections already open are closed.
///
/// ```
/// use highwater::pipeline::Tcp;
/// let src = Tcp::<serde_json::Value>::listen("127.0.0.1:0");
/// let stop = src.stop_handle();
/// stop.stop();
/// assert!(stop.is_stopped());
/// ```
#[derive(Clone, Debug, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Stops accepting connections.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The line format of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Format {
    JsonLines,
    /// CSV; the header's names if given, else the first line of each connection.
    Csv(Option<Vec<String>>),
}

/// How often the listener thread looks for a new connection or a stop.
const ACCEPT_POLL: Duration = Duration::from_millis(10);

/// How much of a bad line a dead letter keeps.
const TEXT_LIMIT: usize = DeadLetter::MAX_TEXT;

/// What every reader thread of a source shares.
pub(super) struct Connection<T> {
    pub(super) format: Format,
    pub(super) decoder: Arc<dyn Decoder<T>>,
    pub(super) max_line: usize,
    pub(super) queue: usize,
}

/// What a reader thread sends to the operator.
enum Item<T> {
    Record(i64, T),
    Watermark(i64),
    Dead(DeadLetter),
    /// The connection's journal cannot be written: the job fails with this message.
    Failed(String),
}

/// An item with where the connection stands after it: the byte offset just past the line
/// it came from, and the lines read (a checkpoint's position of a journaled connection).
struct Queued<T> {
    item: Item<T>,
    end: u64,
    line: u64,
}

/// How the listener journals the connections it accepts: in `dir`, numbered from `next`.
pub(super) struct Journaling {
    pub(super) dir: JournalDir,
    pub(super) next: usize,
}

/// The listener thread: accepts until told to stop or `max` connections, sending a
/// partition per connection to the operator.
pub(super) struct Accept<T> {
    pub(super) listener: TcpListener,
    pub(super) conn: Arc<Connection<T>>,
    pub(super) max: Option<usize>,
    pub(super) stop: StopHandle,
    pub(super) arrivals: std::sync::mpsc::Sender<Box<dyn Partition<T>>>,
    pub(super) waker: Waker,
    pub(super) accepted: Arc<AtomicU64>,
    /// At most this many connections open at once.
    pub(super) max_clients: usize,
    /// Connections open now (each reader thread holds one count).
    pub(super) open: Arc<AtomicUsize>,
    /// With checkpoints: where each connection is journaled.
    pub(super) journal: Option<Journaling>,
}

/// One open connection's count in [`Accept::open`], released when its reader ends.
pub(super) struct OpenCount(Arc<AtomicUsize>);

impl Drop for OpenCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<T: Send + 'static> Accept<T> {
    pub(super) fn run(mut self) {
        // Connections journaled before a restart count towards `max`.
        let mut n = self.journal.as_ref().map_or(0, |j| j.next);
        while !self.stop.is_stopped() && self.max.is_none_or(|m| n < m) && self.waker.is_alive() {
            match self.listener.accept() {
                Ok((mut stream, peer)) => {
                    let _ = stream.set_nonblocking(false);
                    if self.open.load(Ordering::Acquire) >= self.max_clients {
                        use std::io::Write;
                        let _ = writeln!(
                            stream,
                            "highwater: too many clients ({} connections open); try again later",
                            self.max_clients
                        );
                        let _ = stream.shutdown(Shutdown::Both);
                        tracing::warn!(
                            peer = %peer,
                            "refused a connection from {peer}: {} connections are open (raise --max-clients)",
                            self.max_clients
                        );
                        continue;
                    }
                    n += 1;
                    self.accepted.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(peer = %peer, "accepted a connection from {peer}");
                    self.open.fetch_add(1, Ordering::AcqRel);
                    let count = OpenCount(self.open.clone());
                    let part = match self.journal.as_mut() {
                        None => {
                            spawn_reader(stream, peer.to_string(), self.conn.clone(), self.waker.clone(), Some(count))
                        }
                        Some(j) => {
                            let id = j.next;
                            j.next += 1;
                            spawn_journaled(
                                stream,
                                peer.to_string(),
                                id,
                                &j.dir,
                                self.conn.clone(),
                                self.waker.clone(),
                                count,
                            )
                        }
                    };
                    if self.arrivals.send(part).is_err() {
                        return;
                    }
                    self.waker.wake();
                }
                // Nothing yet (or a transient failure such as too many open files): look
                // again shortly.
                Err(_) => std::thread::sleep(ACCEPT_POLL),
            }
        }
        // Closing the arrivals tells the operator that no connection will come.
        drop(self.arrivals);
        self.waker.wake();
    }
}

/// Starts the reader thread of one connection and returns its partition.
pub(super) fn spawn_reader<T: Send + 'static>(
    stream: TcpStream,
    peer: String,
    conn: Arc<Connection<T>>,
    waker: Waker,
    count: Option<OpenCount>,
) -> Box<dyn Partition<T>> {
    let handle = stream.try_clone().ok();
    let mut part = start_reader(stream, peer, None, Start::default(), None, conn, waker, count);
    part.stream = handle;
    Box::new(part)
}

/// Where a line reader starts: at byte `at` of the stream, after `line` lines.
#[derive(Clone, Copy, Debug, Default)]
struct Start {
    at: u64,
    line: u64,
}

/// Starts a line reader thread over `input` and returns its partition (`id`: a journaled
/// connection's number; `header`: a CSV connection's header when `input` starts after it).
#[allow(clippy::too_many_arguments)]
fn start_reader<T: Send + 'static, R: Read + Send + 'static>(
    input: R,
    peer: String,
    id: Option<usize>,
    start: Start,
    header: Option<Vec<String>>,
    conn: Arc<Connection<T>>,
    waker: Waker,
    count: Option<OpenCount>,
) -> TcpPartition<T> {
    let (tx, rx) = crossbeam_channel::bounded(conn.queue);
    let name = match id {
        Some(id) => format!("tcp {peer} (journal {})", JournalDir::file_name(id)),
        None => format!("tcp {peer}"),
    };
    let mut reader =
        LineReader { peer: peer.clone(), conn, tx: tx.clone(), waker, line: start.line, end: start.at, csv: None };
    if let Format::Csv(Some(names)) = &reader.conn.format {
        let names = names.clone();
        reader.bind(Some(&names), true);
    } else if let Some(names) = header {
        reader.bind(Some(&names), false);
    }
    let spawned = std::thread::Builder::new().name(format!("highwater-{name}")).spawn(move || {
        let _count = count;
        reader.run(input, start.at)
    });
    if let Err(e) = spawned {
        let _ = tx.try_send(Queued {
            item: Item::Dead(DeadLetter::line(
                DeadLetterKind::Disconnect,
                Location::Peer { peer, line: 0, byte: 0 },
                format!("cannot start a reader thread ({e}); the connection is closed unread"),
                b"",
            )),
            end: start.at,
            line: start.line,
        });
    }
    drop(tx);
    TcpPartition { name, rx, stream: None, id, position: start.at, line: start.line, journal: None }
}

/// A partition that fails the job at once with `message` (a journal that cannot be
/// created).
fn failed<T: Send + 'static>(peer: String, id: usize, message: String) -> Box<dyn Partition<T>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let _ = tx.send(Queued { item: Item::Failed(message), end: 0, line: 0 });
    Box::new(TcpPartition {
        name: format!("tcp {peer} (journal {})", JournalDir::file_name(id)),
        rx,
        stream: None,
        id: Some(id),
        position: 0,
        line: 0,
        journal: None,
    })
}

/// Starts a journaled connection, number `id`: a thread appends what `stream` sends to
/// its journal in `dir`; the line reader tails the journal. See [`journal`].
pub(super) fn spawn_journaled<T: Send + 'static>(
    stream: TcpStream,
    peer: String,
    id: usize,
    dir: &JournalDir,
    conn: Arc<Connection<T>>,
    waker: Waker,
    count: OpenCount,
) -> Box<dyn Partition<T>> {
    let path = dir.log(id);
    let opened = dir.create(id, &peer).and_then(|file| {
        let tail =
            File::open(&path).map_err(|e| format!("cannot read the socket journal `{}`: {e}", path.display()))?;
        Ok((file, tail))
    });
    let (file, tail) = match opened {
        Ok(f) => f,
        Err(message) => {
            use std::io::Write;
            let mut stream = stream;
            let _ = writeln!(stream, "highwater: cannot accept this connection durably: {message}");
            let _ = stream.shutdown(Shutdown::Both);
            return failed(peer, id, message);
        }
    };
    let sync = file.try_clone().ok();
    let handle = stream.try_clone().ok();
    let progress = Arc::new(journal::Progress::default());
    let writer_progress = progress.clone();
    let writer_path = path.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("highwater-journal-{peer}"))
        .spawn(move || journal::write_journal(stream, file, writer_path, writer_progress));
    if let Err(e) = spawned {
        return failed(peer, id, format!("cannot start the journal thread of `{}`: {e}", path.display()));
    }
    let mut part =
        start_reader(Tail::new(tail, 0, progress), peer, Some(id), Start::default(), None, conn, waker, Some(count));
    part.stream = handle;
    part.journal = sync.map(|f| (f, path));
    Box::new(part)
}

/// Replays connection `id`'s journal in `dir` from byte `at` (after `line` lines) to its
/// end: a connection accepted before a restart. A CSV connection's header is its
/// journal's first line that is not blank, read again when `at` is past it.
pub(super) fn spawn_replay<T: Send + 'static>(
    dir: &JournalDir,
    id: usize,
    at: u64,
    line: u64,
    conn: Arc<Connection<T>>,
    waker: Waker,
) -> Result<Box<dyn Partition<T>>, String> {
    let path = dir.log(id);
    let peer = dir.peer(id);
    let cannot = |e: std::io::Error| format!("cannot replay the socket journal `{}`: {e}", path.display());
    let mut file = File::open(&path).map_err(cannot)?;
    let len = file.metadata().map_err(cannot)?.len();
    if at > len {
        return Err(format!(
            "the socket journal `{}` has {len} bytes but the checkpoint is at byte {at}: it lost records the checkpoint counts on; rerun with --fresh to start over",
            path.display()
        ));
    }
    let mut header = None;
    if conn.format == Format::Csv(None) && at > 0 {
        // The header is the first line that is not blank, as the live reader takes it.
        let mut lines = BufReader::new(&mut file);
        let mut first = Vec::new();
        let mut read = 0u64;
        while read < at {
            first.clear();
            let n = lines.read_until(b'\n', &mut first).map_err(cannot)?;
            if n == 0 {
                break;
            }
            let text = first.strip_suffix(b"\n").unwrap_or(&first);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let text = if read == 0 { text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text) } else { text };
            read += n as u64;
            if !text.iter().all(u8::is_ascii_whitespace) {
                header = csv_fields(text).ok().map(|names| names.iter().map(|n| n.trim().to_string()).collect());
                break;
            }
        }
    }
    file.seek(std::io::SeekFrom::Start(at)).map_err(cannot)?;
    let sync = file.try_clone().ok();
    let tail = Tail::new(file, at, journal::Progress::closed(len));
    let mut part = start_reader(tail, peer, Some(id), Start { at, line }, header, conn, waker, None);
    part.journal = sync.map(|f| (f, path));
    Ok(Box::new(part))
}

/// The operator's side of a connection.
struct TcpPartition<T> {
    name: String,
    rx: Receiver<Queued<T>>,
    /// Shut down when the partition is dropped, so a reader blocked on the socket ends.
    stream: Option<TcpStream>,
    /// A journaled connection's number (in accept order, over restarts).
    id: Option<usize>,
    /// The byte offset (in the stream, and so in its journal) just past the last line read.
    position: u64,
    /// Lines read.
    line: u64,
    /// A journaled connection's journal: fsynced at each checkpoint.
    journal: Option<(File, PathBuf)>,
}

impl<T: Send> Partition<T> for TcpPartition<T> {
    fn read(&mut self, max: usize) -> Batch<T> {
        let mut batch = Batch::default();
        for _ in 0..max {
            let item = match self.rx.try_recv() {
                Ok(Queued { item, end, line }) => {
                    self.position = end;
                    self.line = line;
                    Ok(item)
                }
                Err(e) => Err(e),
            };
            match item {
                Ok(Item::Record(t, r)) => batch.records.push((t, r)),
                Ok(Item::Dead(d)) => batch.dead.push(d),
                Ok(Item::Failed(message)) => {
                    batch.error = Some(message);
                    batch.done = true;
                    return batch;
                }
                Ok(Item::Watermark(w)) => {
                    // A batch ends at a watermark line: records after it are stamped
                    // after it.
                    batch.punctuation = Some(w);
                    return batch;
                }
                Err(TryRecvError::Empty) => {
                    batch.pending = true;
                    return batch;
                }
                Err(TryRecvError::Disconnected) => {
                    batch.done = true;
                    return batch;
                }
            }
        }
        batch
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn position(&self) -> u64 {
        self.position
    }
    fn line(&self) -> u64 {
        self.line
    }
    fn checkpoint_index(&self) -> Option<usize> {
        self.id
    }
    /// A journaled connection starts where its journal is replayed from
    /// ([`spawn_replay`]): nothing to skip.
    fn resume(&mut self, _reads: u64, _max: usize, bytes: u64, _line: u64) -> Result<(), String> {
        if bytes != self.position {
            return Err(format!(
                "`{}` was opened at byte {} of its journal, not at the checkpoint's byte {bytes}",
                self.name, self.position
            ));
        }
        Ok(())
    }
    fn sync(&mut self) -> Result<(), String> {
        match &self.journal {
            Some((file, path)) => file.sync_data().map_err(|e| {
                format!(
                    "cannot sync the socket journal `{}` ({e}): a checkpoint cannot count on its records; free space or fix the checkpoint directory and rerun",
                    path.display()
                )
            }),
            None => Ok(()),
        }
    }
}

impl<T> Drop for TcpPartition<T> {
    fn drop(&mut self) {
        if let Some(s) = &self.stream {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// A line `{"watermark": N}` and nothing else.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WatermarkLine {
    watermark: i64,
}

fn watermark_line(text: &[u8]) -> Option<i64> {
    let t = text.trim_ascii();
    if !t.starts_with(b"{") || !t.windows(9).any(|w| w == b"watermark") {
        return None;
    }
    serde_json::from_slice::<WatermarkLine>(t).ok().map(|w| w.watermark)
}

/// Parses one line with the full CSV rules (quotes).
fn csv_fields(line: &[u8]) -> Result<Vec<String>, String> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(line);
    let mut rec = csv::StringRecord::new();
    match rdr.read_record(&mut rec) {
        Ok(_) => Ok(rec.iter().map(str::to_string).collect()),
        Err(e) => Err(format!("not valid CSV: {e}")),
    }
}

/// The reader thread of one connection.
struct LineReader<T> {
    peer: String,
    conn: Arc<Connection<T>>,
    tx: Sender<Queued<T>>,
    waker: Waker,
    line: u64,
    /// The byte offset just past the line being sent.
    end: u64,
    /// The CSV decoder bound to this connection's header, or why there is none.
    csv: Option<Result<Box<dyn CsvDecoder<T>>, String>>,
}

impl<T: Send + 'static> LineReader<T> {
    fn dead_of(&self, kind: DeadLetterKind, line: u64, offset: u64, reason: String, raw: &[u8]) -> Item<T> {
        Item::Dead(DeadLetter::line(kind, Location::Peer { peer: self.peer.clone(), line, byte: offset }, reason, raw))
    }
    fn dead(&self, line: u64, offset: u64, reason: String, raw: &[u8]) -> Item<T> {
        self.dead_of(DeadLetterKind::Malformed, line, offset, reason, raw)
    }
    /// Binds the decoder to this connection's header (`given`: the source's own).
    fn bind(&mut self, header: Option<&[String]>, given: bool) {
        let bound = self.conn.decoder.bind_csv(header).map_err(|e| {
            if given {
                e
            } else {
                format!(
                    "the first line of the connection is read as its CSV header and does not fit: {e}; start each connection with the header line (or give the header to the source: --csv-header)"
                )
            }
        });
        self.csv = Some(bound);
    }

    /// Queues an item and wakes the operator; `false` when the operator is gone.
    fn send(&self, item: Item<T>) -> bool {
        let item = Queued { item, end: self.end, line: self.line };
        match self.tx.try_send(item) {
            Ok(()) => self.waker.wake(),
            Err(TrySendError::Full(item)) => {
                // Back-pressure: make sure the operator drains, then wait for room.
                self.waker.wake();
                self.tx.send(item).is_ok() && self.waker.wake()
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Reads lines from `input`, which starts at byte `at` of the connection's stream.
    fn run(mut self, input: impl Read, at: u64) {
        let mut reader = BufReader::with_capacity(1 << 16, input);
        let max = self.conn.max_line;
        let mut buf: Vec<u8> = Vec::new();
        let mut offset: u64 = at; // of the current line's first byte
        let mut consumed: u64 = at;
        let mut too_long = false;
        // A line too long is a dead letter sent at its end (its position is past it).
        let mut too_long_dead: Option<Item<T>> = None;
        loop {
            let available = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.end = consumed;
                    if let Some(failure) = e.get_ref().and_then(|e| e.downcast_ref::<JournalFailure>()) {
                        let failure = failure.0.clone();
                        self.send(Item::Failed(failure));
                        return;
                    }
                    if let Some(d) = too_long_dead.take() {
                        self.send(d);
                    }
                    if !buf.is_empty() && !too_long {
                        let d = self.dead_of(DeadLetterKind::Disconnect, self.line + 1, offset, format!("the connection failed in the middle of a line ({e}): the partial line of {} bytes is dropped", buf.len()), &buf);
                        self.send(d);
                    }
                    return;
                }
            };
            if available.is_empty() {
                self.end = consumed;
                if let Some(d) = too_long_dead.take() {
                    self.send(d);
                }
                if !buf.is_empty() && !too_long {
                    let d = self.dead_of(DeadLetterKind::Disconnect, self.line + 1, offset, format!("the connection closed in the middle of a line: the partial line of {} bytes (no newline) is dropped", buf.len()), &buf);
                    self.send(d);
                }
                return;
            }
            let (chunk, complete) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            let used = chunk.len() + usize::from(complete);
            if !too_long {
                if buf.len() + chunk.len() > max {
                    too_long = true;
                    let keep = TEXT_LIMIT.saturating_sub(buf.len()).min(chunk.len());
                    buf.extend_from_slice(&chunk[..keep]);
                    too_long_dead = Some(self.dead_of(
                        DeadLetterKind::TooLong,
                        self.line + 1,
                        offset,
                        format!("line longer than {max} bytes: skipped up to the next newline"),
                        &buf,
                    ));
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            reader.consume(used);
            consumed += used as u64;
            if !complete {
                continue;
            }
            self.line += 1;
            let line_offset = offset;
            offset = consumed;
            self.end = consumed;
            if std::mem::take(&mut too_long) {
                buf.clear();
                if let Some(d) = too_long_dead.take() {
                    if !self.send(d) {
                        return;
                    }
                }
                continue;
            }
            let text = buf.strip_suffix(b"\r").unwrap_or(&buf);
            // A byte-order mark at the start of the stream is not part of the first line.
            let text = if line_offset == 0 { text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text) } else { text };
            if text.iter().all(u8::is_ascii_whitespace) {
                buf.clear();
                continue;
            }
            let item = if let Some(w) = watermark_line(text) {
                Some(Item::Watermark(w))
            } else if std::str::from_utf8(text).is_err() {
                Some(self.dead(self.line, line_offset, "invalid UTF-8 (lines must be UTF-8)".into(), text))
            } else {
                match &self.conn.format {
                    Format::JsonLines => Some(match self.conn.decoder.decode_json(text) {
                        Ok((t, r)) => Item::Record(t, r),
                        Err(reason) => self.dead(self.line, line_offset, reason, text),
                    }),
                    Format::Csv(_) if self.csv.is_none() => match csv_fields(text) {
                        Ok(names) => {
                            let names: Vec<String> = names.iter().map(|n| n.trim().to_string()).collect();
                            self.bind(Some(&names), false);
                            None
                        }
                        Err(reason) => Some(self.dead(
                            self.line,
                            line_offset,
                            format!("the header line is not valid CSV: {reason}"),
                            text,
                        )),
                    },
                    Format::Csv(_) => {
                        let mut fields: Vec<&[u8]> = Vec::with_capacity(8);
                        let decoded = match &self.csv {
                            Some(Ok(csv)) => {
                                if fastcsv::split(text, &mut fields) {
                                    csv.decode(CsvFields::from_slices(&fields))
                                } else {
                                    match csv_fields(text) {
                                        Ok(owned) => {
                                            let slices: Vec<&[u8]> = owned.iter().map(|s| s.as_bytes()).collect();
                                            csv.decode(CsvFields::from_slices(&slices))
                                        }
                                        Err(reason) => Err(reason),
                                    }
                                }
                            }
                            Some(Err(why)) => Err(why.clone()),
                            None => Err("no CSV header".to_string()),
                        };
                        Some(match decoded {
                            Ok((t, r)) => Item::Record(t, r),
                            Err(reason) => self.dead(self.line, line_offset, reason, text),
                        })
                    }
                }
            };
            buf.clear();
            if let Some(item) = item {
                if !self.send(item) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SerdeDecoder;
    use std::io::Write;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Rec {
        k: String,
        t: i64,
    }

    /// Feeds `bytes` through a real loopback connection and collects what the reader sent.
    fn feed(format: Format, max_line: usize, bytes: &'static [u8]) -> Vec<Item<Rec>> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(bytes).unwrap();
        });
        let (stream, peer) = listener.accept().unwrap();
        let decoder: Arc<dyn Decoder<Rec>> = Arc::new(SerdeDecoder::new(|r: &Rec| Ok(r.t)));
        let conn = Arc::new(Connection { format, decoder, max_line, queue: 4 });
        let alive = Arc::new(());
        let waker = Waker::for_tests(&alive);
        let mut part = spawn_reader(stream, peer.to_string(), conn, waker, None);
        client.join().unwrap();
        let mut items = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let b = part.read(100);
            for (t, r) in b.records {
                items.push(Item::Record(t, r));
            }
            items.extend(b.dead.into_iter().map(Item::Dead));
            items.extend(b.punctuation.map(Item::Watermark));
            if b.done || std::time::Instant::now() > deadline {
                return items;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Records, watermarks and dead letters, each in arrival order.
    fn describe(items: &[Item<Rec>]) -> (Vec<String>, Vec<i64>, Vec<String>) {
        let mut out = (Vec::new(), Vec::new(), Vec::new());
        for i in items {
            match i {
                Item::Record(t, r) => out.0.push(format!("{} at {t}", r.k)),
                Item::Watermark(w) => out.1.push(*w),
                Item::Dead(d) => {
                    out.2.push(format!("{}: {}", d.location.to_string().rsplit(", ").next().unwrap_or(""), d.reason))
                }
                Item::Failed(why) => out.2.push(format!("failed: {why}")),
            }
        }
        out
    }

    /// Every item of a partition until it is done.
    fn drain(mut part: Box<dyn Partition<Rec>>) -> Vec<Item<Rec>> {
        let mut items = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let b = part.read(100);
            items.extend(b.records.into_iter().map(|(t, r)| Item::Record(t, r)));
            items.extend(b.dead.into_iter().map(Item::Dead));
            items.extend(b.punctuation.map(Item::Watermark));
            items.extend(b.error.map(Item::Failed));
            if b.done || std::time::Instant::now() > deadline {
                return items;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A CSV connection's journal replayed from the middle: its header (the journal's
    /// first line) is read again, and lines and bytes count from the checkpoint's.
    #[test]
    fn a_csv_journal_replayed_from_its_middle_reads_its_header_again() {
        let root = std::env::temp_dir().join(format!("hw-replay-csv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = JournalDir::new(&root, "input");
        drop(dir.create(3, "10.0.0.1:5000").unwrap());
        std::fs::write(dir.log(3), b"\n\nt,k\n1,a\n2,b\nnot a time,c\n4,d\n5,e").unwrap();
        let decoder: Arc<dyn Decoder<Rec>> = Arc::new(SerdeDecoder::new(|r: &Rec| Ok(r.t)));
        let conn = Arc::new(Connection { format: Format::Csv(None), decoder, max_line: 100, queue: 4 });
        let alive = Arc::new(());
        // After two blank lines, the header and the first record: byte 10, line 4.
        let part = spawn_replay(&dir, 3, 10, 4, conn, Waker::for_tests(&alive)).unwrap();
        assert_eq!(part.name(), "tcp 10.0.0.1:5000 (journal conn-0000000003.log)");
        assert_eq!(part.checkpoint_index(), Some(3));
        let (records, _, dead) = describe(&drain(part));
        assert_eq!(records, ["b at 2", "d at 4"]);
        assert_eq!(dead.len(), 2, "{dead:?}");
        assert!(dead[0].starts_with("line 6 (byte 14)"), "{dead:?}");
        // The journal ends in the middle of a line: the connection was cut there.
        assert!(dead[1].starts_with("line 8 (byte 31): the connection closed in the middle of a line"), "{dead:?}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A journal shorter than the checkpoint's position lost records: refused, naming it.
    #[test]
    fn a_journal_shorter_than_its_checkpoint_is_refused() {
        let root = std::env::temp_dir().join(format!("hw-replay-short-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = JournalDir::new(&root, "input");
        drop(dir.create(0, "peer").unwrap());
        std::fs::write(dir.log(0), b"{\"k\":\"a\",\"t\":1}\n").unwrap();
        let decoder: Arc<dyn Decoder<Rec>> = Arc::new(SerdeDecoder::new(|r: &Rec| Ok(r.t)));
        let conn = Arc::new(Connection { format: Format::JsonLines, decoder, max_line: 100, queue: 4 });
        let alive = Arc::new(());
        let err = spawn_replay(&dir, 0, 500, 9, conn, Waker::for_tests(&alive)).err().unwrap();
        assert!(err.contains("conn-0000000000.log") && err.contains("--fresh"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn json_lines_watermarks_and_a_partial_last_line() {
        let items = feed(Format::JsonLines, 1 << 20, b"{\"k\":\"a\",\"t\":1}\r\n\n{\"watermark\": 5}\n{\"k\":\"b\",\"t\":\"x\"}\n{\"k\":\"c\",\"t\":3}\n{\"k\":\"d\"");
        let (records, watermarks, dead) = describe(&items);
        assert_eq!(records, ["a at 1", "c at 3"]);
        assert_eq!(watermarks, [5]);
        assert_eq!(dead.len(), 2, "{dead:?}");
        assert!(dead[0].starts_with("line 4 (byte 35): not a valid record"), "{dead:?}");
        assert_eq!(dead[1], "line 6 (byte 69): the connection closed in the middle of a line: the partial line of 8 bytes (no newline) is dropped");
    }

    #[test]
    fn an_over_long_line_is_skipped_to_its_newline() {
        let items = feed(Format::Csv(None), 16, b"k,t\nshort,1\nthis-line-is-far-too-long,2\nok,3\n");
        let (records, _, dead) = describe(&items);
        assert_eq!(records, ["short at 1", "ok at 3"]);
        assert_eq!(dead, ["line 3 (byte 12): line longer than 16 bytes: skipped up to the next newline"]);
    }

    #[test]
    fn csv_with_a_given_header_and_quotes() {
        let items = feed(Format::Csv(Some(vec!["k".into(), "t".into()])), 100, b"x,1\n\"y,z\",2\nw,oops\n");
        let (records, _, dead) = describe(&items);
        assert_eq!(records, ["x at 1", "y,z at 2"]);
        assert_eq!(dead.len(), 1);
        assert!(dead[0].contains("field 2 `t`"), "{dead:?}");
    }
}
