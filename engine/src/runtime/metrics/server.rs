//! The HTTP endpoint: `GET /metrics` (the exposition text of [`super::encode`]) and
//! `GET /` (the status page), served by `hyper` on a `tokio` runtime in a thread of its
//! own, so a slow or hostile client never slows the job:
//!
//! - at most [`MAX_CONNECTIONS`] connections at once (more are closed at once);
//! - a request head (request line and headers) of at most [`MAX_REQUEST_BYTES`] (a longer
//!   one gets `431` and the connection is closed);
//! - a client has [`HEAD_TIMEOUT`] to send its request head, and a connection lives at
//!   most [`CONNECTION_LIFETIME`];
//! - the status is read from the steps' cells at each request: no lock a worker waits on
//!   for longer than a copy of a source's report.

use super::error::MetricsError;
use super::exposition::{encode, CONTENT_TYPE};
use crate::runtime::Progress;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Connections served at once; more are closed as they come.
pub const MAX_CONNECTIONS: usize = 128;
/// The largest request head (request line and headers).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// How long a client has to send a request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may stay open (keep-alive included).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// A running metrics endpoint; it stops when dropped.
///
/// ```
/// use highwater::pipeline::RunConfig;
/// use highwater::runtime::metrics::MetricsServer;
/// use std::io::{Read, Write};
/// let config = RunConfig::workers(1);
/// let server = MetricsServer::start("127.0.0.1:0", config.progress()).unwrap();
/// let mut c = std::net::TcpStream::connect(server.local_addr()).unwrap();
/// c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
/// let mut text = String::new();
/// c.read_to_string(&mut text).unwrap();
/// assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
/// assert!(text.contains("highwater_records_read_total 0"), "{text}");
/// ```
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `PORT` alone means `127.0.0.1:PORT` (loopback).
fn resolve(address: &str) -> Result<SocketAddr, MetricsError> {
    let full = if address.parse::<u16>().is_ok() { format!("127.0.0.1:{address}") } else { address.to_string() };
    let bad = |reason: String| MetricsError::Address { address: address.to_string(), reason };
    full.to_socket_addrs().map_err(|e| bad(e.to_string()))?.next().ok_or_else(|| bad("it names no address".into()))
}

impl MetricsServer {
    /// Binds `address` (`HOST:PORT`, or a bare port on loopback; port 0 picks a free one)
    /// and serves the status of the run `progress` counts, until dropped.
    pub fn start(address: &str, progress: Arc<Progress>) -> Result<Self, MetricsError> {
        let addr = resolve(address)?;
        let listener =
            TcpListener::bind(addr).map_err(|source| MetricsError::Bind { address: address.to_string(), source })?;
        let addr = listener.local_addr().map_err(MetricsError::Start)?;
        listener.set_nonblocking(true).map_err(MetricsError::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(MetricsError::Start)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("highwater-metrics".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::warn!(error = %e, "the metrics server stopped: {e}");
                            return;
                        }
                    };
                    tokio::spawn(accept(listener, progress));
                    // Until the server is dropped; the runtime then drops every connection.
                    let _ = stopped.await;
                });
            })
            .map_err(MetricsError::Start)?;
        Ok(MetricsServer { addr, stop: Some(stop), thread: Some(thread) })
    }

    /// The address it listens on (with the port picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept(listener: tokio::net::TcpListener, progress: Arc<Progress>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            // Out of file descriptors, a connection reset before it was accepted: wait a
            // little rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let progress = progress.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| respond(req, progress.clone()));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(HEAD_TIMEOUT).max_buf_size(MAX_REQUEST_BYTES);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(slot);
        });
    }
}

async fn respond(req: Request<Incoming>, progress: Arc<Progress>) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, content_type: &str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = content_type.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        Ok(r)
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET /metrics or GET /\n".into());
    }
    match req.uri().path() {
        "/metrics" => reply(StatusCode::OK, CONTENT_TYPE, encode(&progress.status())),
        "/" => reply(StatusCode::OK, "text/html; charset=utf-8", super::page::render(&progress.status())),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found: GET /metrics or GET /\n".into()),
    }
}
