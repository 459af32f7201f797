//! Live TCP sources: newline-delimited JSON lines or CSV over sockets, one logical
//! partition (with its own watermark) per connection. See [`Tcp`] for how it runs.

use super::{Journal, JournalPosition, Live, Partition, Source, Waker};
mod connection;
pub(crate) mod journal;

use crate::format::{Decoder, SerdeDecoder};
pub use connection::StopHandle;
use connection::{spawn_reader, spawn_replay, Accept, Connection, Format, Journaling};
use highwater_operators::watermark::WatermarkStrategy;
use journal::JournalDir;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Why a TCP source or sink could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TcpError {
    /// The address does not parse or resolve.
    #[error("`{address}` is not a socket address ({reason}); write HOST:PORT, e.g. 127.0.0.1:9000, or a bare port for loopback")]
    Address {
        /// The address given.
        address: String,
        /// Why.
        reason: String,
    },
    /// Cannot listen on the address.
    #[error("cannot listen on {address}: {source}; is another program using the port?")]
    Bind {
        /// The address.
        address: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Cannot connect to the address.
    #[error("cannot connect to {address}: {source}; is the server running?")]
    Connect {
        /// The address.
        address: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Resolves an address; a bare port (`9000` or `:9000`) means loopback (`127.0.0.1`).
///
/// ```
/// use highwater::pipeline::socket_addresses;
/// assert_eq!(socket_addresses("9000").unwrap()[0].to_string(), "127.0.0.1:9000");
/// assert!(socket_addresses("nowhere").is_err());
/// ```
pub fn socket_addresses(address: &str) -> Result<Vec<SocketAddr>, TcpError> {
    let a = address.trim();
    let port = a.strip_prefix(':').unwrap_or(a);
    let text = if port.parse::<u16>().is_ok() { format!("127.0.0.1:{port}") } else { a.to_string() };
    let err = |reason: String| TcpError::Address { address: address.to_string(), reason };
    let addrs: Vec<SocketAddr> = text.to_socket_addrs().map_err(|e| err(e.to_string()))?.collect();
    if addrs.is_empty() {
        return Err(err("it resolves to no address".into()));
    }
    Ok(addrs)
}

fn bind(address: &str) -> Result<TcpListener, TcpError> {
    let addrs = socket_addresses(address)?;
    TcpListener::bind(&addrs[..]).map_err(|source| TcpError::Bind { address: address.to_string(), source })
}

#[derive(Clone)]
enum Endpoint {
    /// Listen: bound now ([`Tcp::bind`]) or when worker 0 opens the source.
    Listen { address: String, bound: Arc<Mutex<Option<TcpListener>>> },
    /// Connect to a server.
    Connect { address: String },
}

/// A live TCP source of records `T` (serde `Deserialize`): newline-delimited JSON lines
/// (the default) or CSV, one partition (with its own watermark) per connection.
///
/// # How it runs
///
/// - **Who reads.** Global worker 0 (of process 0) listens or connects, and reads every
///   connection; the other workers have no partition and drop their capability at once.
///   Records reach the other workers at the first keyed exchange (`key_by`), so the work
///   that matters — windowing and aggregation — is still spread. (Parsing is spread too:
///   each connection is parsed on its own thread.)
/// - **Threads.** A listener thread accepts connections (polling, so that it stops
///   promptly); each connection gets a reader thread that splits lines, parses them and
///   sends records into a bounded channel ([`Tcp::queue_capacity`] lines): when the
///   pipeline falls behind, the reader stops reading and TCP's flow control slows the
///   sender — back-pressure. The reader wakes the source operator with timely's
///   thread-safe activator; the operator only drains channels and never blocks.
/// - **Watermarks.** Each connection is a partition with its own watermark
///   ([`Tcp::watermark`]); a new connection starts at the source's current watermark, so
///   records older than that are late. A line `{"watermark": 123}` is a punctuation
///   (honoured by [`WatermarkStrategy::Punctuated`]) in both formats. A connection silent
///   for [`Tcp::idle_timeout`] stops holding the watermark back. Every
///   [`Tcp::tick_every`] the stamps' tick advances even with no data, so processing-time
///   triggers fire and downstream operators see progress.
/// - **Bad input.** A line that does not parse, a line longer than
///   [`Tcp::max_line_length`] (the rest of it is skipped), and a partial line cut by a
///   disconnect (the connection's last bytes with no newline) each become a dead letter
///   naming the peer, the line number and the byte offset. Nothing else is lost.
/// - **The end.** A connection closing ends its partition. The source ends when the
///   listener stops — after [`Tcp::max_connections`] connections, or when its
///   [`StopHandle`] is told — and every connection is closed. A [`Tcp::connect`] source
///   ends when its one connection closes (it does not reconnect).
///
/// # Checkpoints
///
/// In a run with checkpoints ([`crate::pipeline::RunConfig::checkpoints`]) a listening
/// source journals every connection in the checkpoint directory
/// (`DIR/journal/<step>/conn-<n>.log`, connections numbered in accept order over
/// restarts): a thread appends what the client sends to the journal — written to the
/// operating system before any line of it is decoded — and the reader thread decodes the
/// journal as it grows, up to 64 MiB behind (then the client is not read: back-pressure).
/// A connection's position in a checkpoint is its journal offset. A restored run replays
/// each journal from its checkpointed offset (from its start when it was accepted after
/// the checkpoint), then listens again; [`Tcp::max_connections`] counts the connections
/// of every run. So what the job had read from a client before a crash or `kill -9` is in
/// the answer after it (a power loss keeps what was read up to the last checkpoint: the
/// journals are fsynced at each). A journal that cannot be written fails the job, naming
/// the file. Journals of connections read to their end are deleted once every checkpoint
/// left records that. A [`Tcp::connect`] source is refused with checkpoints: the server
/// would send its stream again from its start. `docs/checkpoints.md` has the details.
///
/// # Example
///
/// ```
/// use highwater::pipeline::{run, Collector, RunConfig, Tcp};
/// use highwater::model::watermark::WatermarkStrategy;
/// use std::io::Write;
/// use std::time::Duration;
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
/// struct Bid { auction: u64, price: u64, time: i64 }
///
/// let src = Tcp::<Bid>::bind("127.0.0.1:0").unwrap()
///     .event_time(|b: &Bid| b.time)
///     .watermark(WatermarkStrategy::bounded(Duration::from_secs(1)))
///     .max_connections(1);
/// let addr = src.local_addr().unwrap();
/// let client = std::thread::spawn(move || {
///     let mut s = std::net::TcpStream::connect(addr).unwrap();
///     s.write_all(b"{\"auction\":1,\"price\":5,\"time\":1000}\n{\"auction\":2,\"price\":\n").unwrap();
/// });
/// let out = Collector::new();
/// let sink = out.clone();
/// let summary = run(RunConfig::workers(2), move |p| {
///     p.read("bids", src.clone())?.write(sink.clone());
///     Ok(())
/// }).unwrap();
/// client.join().unwrap();
/// assert_eq!(out.take().len(), 1);
/// assert_eq!(summary.dead_letters, 1); // the second line is not a bid
/// ```
pub struct Tcp<T> {
    endpoint: Endpoint,
    format: Format,
    decoder: Option<Arc<dyn Decoder<T>>>,
    watermark: Option<WatermarkStrategy>,
    max_line: usize,
    queue: usize,
    batch: usize,
    idle_timeout: Option<Duration>,
    tick_every: Duration,
    max_connections: Option<usize>,
    max_clients: usize,
    connect_timeout: Duration,
    stop: StopHandle,
    local: Arc<OnceLock<SocketAddr>>,
    accepted: Arc<AtomicU64>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for Tcp<T> {
    fn clone(&self) -> Self {
        Tcp {
            endpoint: self.endpoint.clone(),
            format: self.format.clone(),
            decoder: self.decoder.clone(),
            watermark: self.watermark,
            max_line: self.max_line,
            queue: self.queue,
            batch: self.batch,
            idle_timeout: self.idle_timeout,
            tick_every: self.tick_every,
            max_connections: self.max_connections,
            max_clients: self.max_clients,
            connect_timeout: self.connect_timeout,
            stop: self.stop.clone(),
            local: self.local.clone(),
            accepted: self.accepted.clone(),
            _t: PhantomData,
        }
    }
}

impl<T> Tcp<T> {
    /// The default maximum line length in bytes.
    pub const DEFAULT_MAX_LINE: usize = crate::format::MAX_LINE;
    /// The default queue per connection, in lines.
    pub const DEFAULT_QUEUE: usize = 10_000;
    /// The default limit of connections open at once.
    pub const DEFAULT_MAX_CLIENTS: usize = 256;
    /// The default tick period.
    pub const DEFAULT_TICK: Duration = Duration::from_millis(200);

    fn with_endpoint(endpoint: Endpoint) -> Self {
        Tcp {
            endpoint,
            format: Format::JsonLines,
            decoder: None,
            watermark: None,
            max_line: Self::DEFAULT_MAX_LINE,
            queue: Self::DEFAULT_QUEUE,
            batch: 10_000,
            idle_timeout: None,
            tick_every: Self::DEFAULT_TICK,
            max_connections: None,
            max_clients: Self::DEFAULT_MAX_CLIENTS,
            connect_timeout: Duration::from_secs(10),
            stop: StopHandle::default(),
            local: Arc::new(OnceLock::new()),
            accepted: Arc::new(AtomicU64::new(0)),
            _t: PhantomData,
        }
    }

    /// Listens on `address` (`HOST:PORT`; a bare port means `127.0.0.1`, loopback). The
    /// socket is bound when the pipeline is built, by worker 0; a failure to bind fails
    /// the build. Use [`Tcp::bind`] to bind at once (and learn a port-0 address).
    pub fn listen(address: impl Into<String>) -> Self {
        Tcp::with_endpoint(Endpoint::Listen { address: address.into(), bound: Arc::new(Mutex::new(None)) })
    }
    /// Listens on `address` now: [`Tcp::local_addr`] then gives the bound address (port 0
    /// picks a free port). Binding in the process that runs worker 0 is what matters.
    pub fn bind(address: &str) -> Result<Self, TcpError> {
        let listener = bind(address)?;
        let src =
            Tcp::with_endpoint(Endpoint::Listen { address: address.to_string(), bound: Arc::new(Mutex::new(None)) });
        if let Ok(a) = listener.local_addr() {
            let _ = src.local.set(a);
        }
        if let Endpoint::Listen { bound, .. } = &src.endpoint {
            *bound.lock().unwrap_or_else(|e| e.into_inner()) = Some(listener);
        }
        Ok(src)
    }
    /// Connects to a server at `address` when the pipeline is built (worker 0) and reads
    /// that one connection until the server closes it. A failure to connect fails the
    /// build; a lost connection ends the source (no reconnection).
    pub fn connect(address: impl Into<String>) -> Self {
        Tcp::with_endpoint(Endpoint::Connect { address: address.into() })
    }

    /// JSON lines: one object per line (the default).
    pub fn json_lines(mut self) -> Self {
        self.format = Format::JsonLines;
        self
    }
    /// CSV whose first line on each connection is the header naming the fields.
    pub fn csv(mut self) -> Self {
        self.format = Format::Csv(None);
        self
    }
    /// CSV without a header line: the fields are named here, in order.
    pub fn csv_with_header<I: IntoIterator<Item = S>, S: Into<String>>(mut self, names: I) -> Self {
        self.format = Format::Csv(Some(names.into_iter().map(Into::into).collect()));
        self
    }
    /// Where each record's event time comes from (required).
    /// The watermark strategy of each connection (required).
    pub fn watermark(mut self, w: WatermarkStrategy) -> Self {
        self.watermark = Some(w);
        self
    }
    /// Lines longer than this many bytes are dead letters; the rest of such a line is
    /// skipped. Default [`Tcp::DEFAULT_MAX_LINE`].
    pub fn max_line_length(mut self, bytes: usize) -> Self {
        self.max_line = bytes.max(1);
        self
    }
    /// Lines queued per connection before its reader stops reading (back-pressure).
    /// Default [`Tcp::DEFAULT_QUEUE`].
    pub fn queue_capacity(mut self, lines: usize) -> Self {
        self.queue = lines.max(1);
        self
    }
    /// At most this many records per batch (a bundle for the triggers downstream; see
    /// [`crate::pipeline::Files::batch_size`]).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch = n.max(1);
        self
    }
    /// A connection without data for this long stops holding the watermark back (until
    /// it sends again). Default: never.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }
    /// How often processing time advances the stamps' tick when no data comes. Default
    /// [`Tcp::DEFAULT_TICK`].
    pub fn tick_every(mut self, period: Duration) -> Self {
        self.tick_every = period.max(Duration::from_millis(1));
        self
    }
    /// At most `n` connections open at once (default [`Tcp::DEFAULT_MAX_CLIENTS`]): each
    /// costs a thread and a queue. A client over the limit gets one line saying so and is
    /// disconnected; the refusal is reported on standard error.
    pub fn max_clients(mut self, n: usize) -> Self {
        self.max_clients = n.max(1);
        self
    }
    /// Stops accepting after `n` connections; the source ends when they have closed.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }
    /// How long [`Tcp::connect`] tries before the build fails. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// A handle that stops the listener (shared by the clones of this source).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }
    /// The address the listener is bound to: known after [`Tcp::bind`], or once the
    /// pipeline was built with [`Tcp::listen`].
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local.get().copied()
    }
    /// Connections accepted (or made) so far, by every clone of this source.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Decodes lines with `decoder` instead of serde (e.g. a [`crate::format::Schema`]):
    /// it gives each record its event time.
    pub fn decoder(mut self, decoder: impl Decoder<T> + 'static) -> Self {
        self.decoder = Some(Arc::new(decoder));
        self
    }
}

impl<T: DeserializeOwned + Send + 'static> Tcp<T> {
    /// Where each record's event time comes from (required unless a [`Tcp::decoder`]
    /// gives it): records are decoded with serde.
    pub fn event_time(self, f: impl Fn(&T) -> i64 + Send + Sync + 'static) -> Self {
        self.decoder(SerdeDecoder::new(move |t: &T| Ok(f(t))))
    }
    /// An event time that may fail: `Err(reason)` makes the record a dead letter.
    pub fn try_event_time<E: std::fmt::Display>(
        self,
        f: impl Fn(&T) -> Result<i64, E> + Send + Sync + 'static,
    ) -> Self {
        self.decoder(SerdeDecoder::new(move |t: &T| f(t).map_err(|e| e.to_string())))
    }
}

impl<T: Send + 'static> Source<T> for Tcp<T> {
    fn open(&self, _worker: usize, _peers: usize) -> Result<Vec<Box<dyn Partition<T>>>, String> {
        if self.decoder.is_none() {
            return Err("no event time: add .event_time(|record| ...) to the TCP source".into());
        }
        if self.watermark.is_none() {
            return Err("no watermark strategy: add .watermark(WatermarkStrategy::BoundedOutOfOrderness(ms)) (or Ascending, or Punctuated for {\"watermark\": N} lines) to the TCP source".into());
        }
        Ok(Vec::new())
    }
    fn watermark(&self) -> WatermarkStrategy {
        self.watermark.unwrap_or(WatermarkStrategy::Ascending)
    }
    fn batch_size(&self) -> usize {
        self.batch
    }
    fn live(&self, worker: usize, _peers: usize, waker: Waker) -> Result<Option<Live<T>>, String> {
        self.start(worker, waker, None)
    }
    /// Journals each accepted connection in `journal.dir` (see [`Tcp`]'s "Checkpoints"),
    /// replays the connections journaled before a restart, then listens.
    fn live_journaled(
        &self,
        worker: usize,
        _peers: usize,
        waker: Waker,
        journal: Journal,
    ) -> Result<Option<Live<T>>, String> {
        self.start(worker, waker, Some(journal))
    }
}

impl<T: Send + 'static> Tcp<T> {
    /// The live side: worker 0 listens (journaling with `journal`) or connects.
    fn start(&self, worker: usize, waker: Waker, journal: Option<Journal>) -> Result<Option<Live<T>>, String> {
        if worker != 0 {
            return Ok(None);
        }
        let Some(decoder) = self.decoder.clone() else {
            return Err("no event time: add .event_time(|record| ...) to the TCP source".into());
        };
        let conn =
            Arc::new(Connection { format: self.format.clone(), decoder, max_line: self.max_line, queue: self.queue });
        let (tx, arrivals) = std::sync::mpsc::channel();
        let journaling = match journal {
            None => None,
            Some(journal) => {
                if let Endpoint::Connect { address } = &self.endpoint {
                    return Err(format!(
                        "a connection to {address} cannot be journaled and resumed (the server would send its stream again from its start): with a checkpoint directory, let the clients connect to a listening source (--listen)"
                    ));
                }
                Some(self.replay_journals(journal, &conn, &waker, &tx)?)
            }
        };
        match &self.endpoint {
            Endpoint::Listen { address, bound } => {
                let taken = bound.lock().unwrap_or_else(|e| e.into_inner()).take();
                let listener = match taken {
                    Some(l) => l,
                    None => bind(address).map_err(|e| e.to_string())?,
                };
                let local = listener.local_addr().map_err(|e| format!("cannot listen on {address}: {e}"))?;
                let _ = self.local.set(local);
                listener.set_nonblocking(true).map_err(|e| format!("cannot listen on {address}: {e}"))?;
                let accept = Accept {
                    listener,
                    conn,
                    max: self.max_connections,
                    max_clients: self.max_clients,
                    open: Arc::default(),
                    stop: self.stop.clone(),
                    arrivals: tx,
                    waker,
                    accepted: self.accepted.clone(),
                    journal: journaling,
                };
                std::thread::Builder::new()
                    .name(format!("highwater-listen-{local}"))
                    .spawn(move || accept.run())
                    .map_err(|e| format!("cannot start the listener thread: {e}"))?;
            }
            Endpoint::Connect { address } => {
                let addrs = socket_addresses(address).map_err(|e| e.to_string())?;
                let mut last = None;
                let mut stream = None;
                for a in &addrs {
                    match TcpStream::connect_timeout(a, self.connect_timeout) {
                        Ok(s) => {
                            stream = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let Some(stream) = stream else {
                    let source = last.unwrap_or_else(|| std::io::Error::other("no address"));
                    return Err(TcpError::Connect { address: address.clone(), source }.to_string());
                };
                let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| address.clone());
                self.accepted.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(spawn_reader(stream, peer, conn, waker, None));
                // `tx` drops here: no more partitions will come.
            }
        }
        Ok(Some(Live { arrivals, tick_every: self.tick_every, idle_timeout: self.idle_timeout }))
    }

    /// Sends a partition for every journal of `journal.dir` the checkpoint does not record
    /// as done (from its position, or from the start), deletes those it does, and returns
    /// how the listener numbers the next connections.
    fn replay_journals(
        &self,
        journal: Journal,
        conn: &Arc<Connection<T>>,
        waker: &Waker,
        arrivals: &std::sync::mpsc::Sender<Box<dyn Partition<T>>>,
    ) -> Result<Journaling, String> {
        let dir = JournalDir::at(journal.dir);
        let ids = dir.ids()?;
        for (id, position) in &journal.positions {
            if matches!(position, JournalPosition::At { .. }) && !ids.contains(id) {
                return Err(format!(
                    "the socket journal `{}` is missing: the checkpoint counts on its records; rerun with --fresh to start over",
                    dir.log(*id).display()
                ));
            }
        }
        for &id in &ids {
            let (at, line) = match journal.positions.get(&id) {
                // Read to its end before the cut: the checkpoint covers it.
                Some(JournalPosition::Done) => continue,
                Some(JournalPosition::At { bytes, line }) => (*bytes, *line),
                // Accepted after the checkpoint (or before the first one).
                None => (0, 0),
            };
            self.accepted.fetch_add(1, Ordering::Relaxed);
            let part = spawn_replay(&dir, id, at, line, conn.clone(), waker.clone())?;
            let _ = arrivals.send(part);
        }
        let next = ids.iter().chain(journal.positions.keys()).max().map_or(0, |m| m + 1);
        Ok(Journaling { dir, next })
    }
}
