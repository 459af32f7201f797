//! A TCP sink: JSON lines written to a server.

use crate::pipeline::Sink;
use crate::pipeline::{Collection, Data};
use crate::source::socket_addresses;
use serde::Serialize;
use serde_json::Value;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use timely::dataflow::channels::pact::Pipeline as PipelinePact;
use timely::dataflow::operators::generic::Operator;

/// The connection the clones of one [`TcpSink`] share.
#[derive(Debug, Default)]
struct Connection {
    stream: Option<TcpStream>,
    /// Gave up: nothing more is written.
    failed: bool,
    /// Sink operators attached, and those whose input has ended.
    attached: usize,
    finished: usize,
}

/// JSON lines written to a TCP server, one line per record (its serde form, or a
/// formatter's).
///
/// **Connection.** The sink connects when it first has something to write, and the
/// clones of one `TcpSink` share that connection: build the sink outside the pipeline
/// function and clone it in for one connection per process (build it inside for one per
/// worker). The connection is shut down (the server sees the end of the stream) when the
/// inputs of all the clones have ended.
///
/// **Reconnect, then fail.** Connecting is retried for [`TcpSink::retry_for`] (default 5
/// s). When a write fails, the sink reconnects the same way and sends the failed batch
/// again: delivery is at least once (the server may see some lines of that batch twice,
/// and a line cut by the failure). When it cannot (re)connect in time it reports the
/// error — the run then ends with [`crate::pipeline::PipelineError::Runtime`] — and drops what
/// follows. While it retries, its worker waits.
///
/// ```
/// use highwater::pipeline::{run, Memory, RunConfig, TcpSink};
/// use highwater::model::watermark::WatermarkStrategy;
/// use std::io::Read;
/// let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let sink = TcpSink::<u64>::connect(server.local_addr().unwrap().to_string());
/// let reader = std::thread::spawn(move || {
///     let (mut conn, _) = server.accept().unwrap();
///     let mut text = String::new();
///     conn.read_to_string(&mut text).unwrap();
///     text
/// });
/// run(RunConfig::workers(1), move |p| {
///     p.read("numbers", Memory::new(vec![vec![(1, 1u64), (2, 2)]], WatermarkStrategy::Ascending))?.write(sink.clone());
///     Ok(())
/// }).unwrap();
/// assert_eq!(reader.join().unwrap(), "1\n2\n");
/// ```
pub struct TcpSink<T> {
    address: String,
    format: Arc<dyn Fn(&T) -> Value + Send + Sync>,
    retry_for: Duration,
    connection: Arc<Mutex<Connection>>,
}

impl<T> Clone for TcpSink<T> {
    fn clone(&self) -> Self {
        TcpSink {
            address: self.address.clone(),
            format: self.format.clone(),
            retry_for: self.retry_for,
            connection: self.connection.clone(),
        }
    }
}

impl<T: Serialize> TcpSink<T> {
    /// Writes to the server at `address` (`HOST:PORT`, or a bare port for loopback).
    pub fn connect(address: impl Into<String>) -> Self {
        TcpSink {
            address: address.into(),
            format: Arc::new(|t: &T| serde_json::to_value(t).unwrap_or(Value::Null)),
            retry_for: Duration::from_secs(5),
            connection: Arc::default(),
        }
    }
}

impl<T> TcpSink<T> {
    /// Formats each record with `f` (e.g. [`super::pane_row`]).
    pub fn format(mut self, f: impl Fn(&T) -> Value + Send + Sync + 'static) -> Self {
        self.format = Arc::new(f);
        self
    }
    /// How long to keep trying to connect or reconnect before giving up.
    pub fn retry_for(mut self, d: Duration) -> Self {
        self.retry_for = d;
        self
    }
}

fn connect(address: &str, retry_for: Duration) -> Result<TcpStream, String> {
    let addrs = socket_addresses(address).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + retry_for;
    loop {
        let mut last = String::new();
        for a in &addrs {
            match TcpStream::connect_timeout(a, Duration::from_secs(1)) {
                Ok(s) => return Ok(s),
                Err(e) => last = e.to_string(),
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "cannot connect to {address}: {last} (tried for {:?}); is the server running?",
                retry_for
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Connection {
    /// Writes `bytes`, connecting or reconnecting as documented on [`TcpSink`].
    fn write(&mut self, address: &str, retry_for: Duration, bytes: &[u8]) -> Result<(), String> {
        let mut reconnected = false;
        loop {
            if self.stream.is_none() {
                self.stream = Some(connect(address, retry_for)?);
            }
            let Some(s) = self.stream.as_mut() else { continue };
            match s.write_all(bytes) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.stream = None;
                    if reconnected {
                        return Err(format!("cannot write to {address}: {e}"));
                    }
                    reconnected = true;
                }
            }
        }
    }
}

impl<T: Data> Sink<T> for TcpSink<T> {
    fn attach(self, c: Collection<'_, T>) {
        let problems = c.shared.problems();
        let TcpSink { address, format, retry_for, connection } = self;
        connection.lock().unwrap_or_else(|e| e.into_inner()).attached += 1;
        let mut chunk = Vec::new();
        let mut finished = false;
        c.stream.sink(PipelinePact, "tcp-sink", move |(input, frontier)| {
            input.for_each(|_, data| {
                chunk.clear();
                for (_, x) in data.drain(..) {
                    let _ = serde_json::to_writer(&mut chunk, &format(&x));
                    chunk.push(b'\n');
                }
                let mut conn = connection.lock().unwrap_or_else(|e| e.into_inner());
                if conn.failed {
                    return;
                }
                if let Err(e) = conn.write(&address, retry_for, &chunk) {
                    conn.failed = true;
                    problems.report(format!("TCP sink: {e}; later records were not sent"));
                }
            });
            if frontier.is_empty() && !finished {
                finished = true;
                let mut conn = connection.lock().unwrap_or_else(|e| e.into_inner());
                conn.finished += 1;
                if conn.finished >= conn.attached {
                    if let Some(s) = conn.stream.take() {
                        let _ = s.shutdown(Shutdown::Write);
                    }
                }
            }
        });
    }
}
