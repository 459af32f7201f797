//! Heartbeats between the processes of a cluster, so that a peer that is *stopped* rather
//! than dead is reported within a bound instead of hanging the run.
//!
//! A peer that dies closes its sockets and [`super::execute`] fails fast with
//! [`ExecutionError::LostPeer`]. A peer that is stopped (`kill -STOP`, a debugger), frozen
//! (a suspended VM) or cut off (a network partition without resets) keeps its connections
//! open: its kernel still acknowledges what is sent, so a TCP keepalive does not notice
//! either, and the other processes would wait for its progress forever. Hence an
//! application-level heartbeat:
//!
//! - **A connection of its own.** At start-up every pair of processes opens a second TCP
//!   connection beside timely's, with the same handshake but the index tagged with
//!   [`TAG`] (see `runtime::connect`). Timely's data never delays a heartbeat, and a
//!   heartbeat never enters a dataflow: it cannot hold a frontier back or keep a finished
//!   run from ending.
//! - **A sender thread** writes one byte to every peer every [`PERIOD`] (or a quarter of
//!   the timeout, if shorter). It runs beside the workers, so a worker busy in a long
//!   operator does not make its process look hung: what is detected is a process that does
//!   not run at all, or cannot be reached.
//! - **A reader thread per peer** records when it last heard from it. An end of stream or
//!   an error means the peer ended its run or died: it is no longer watched (a death is
//!   timely's links' to report).
//! - **A watchdog thread** checks every [`CHECK`] whether a watched peer has been silent
//!   longer than the timeout, and if so hands [`ExecutionError::PeerUnresponsive`] to the
//!   run (which stops every worker, as for any failure). If the watchdog itself did not
//!   run for half the timeout, this process was the one stopped (or the machine slept):
//!   it restarts the clocks rather than blame its peers.
//!
//! Dropping the [`Heartbeat`] (at the end of the run) stops the threads and closes the
//! connections, which tells each peer that this process's run is over. A single process
//! starts none of this.

use super::config::RunConfig;
use super::error::ExecutionError;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The bit set in the handshake index of a heartbeat connection.
pub(super) const TAG: u64 = 1 << 63;

/// How often each process sends a heartbeat to each peer (at most).
pub const PERIOD: Duration = Duration::from_secs(1);

/// How often the watchdog checks the peers (at most).
pub const CHECK: Duration = Duration::from_millis(250);

/// A heartbeat connection to one peer, after the handshake.
pub(super) struct Peer {
    /// The peer's process index.
    pub process: usize,
    /// Its address, from the host file.
    pub address: String,
    /// The connection.
    pub tcp: TcpStream,
}

/// What the threads share about one peer.
struct Watched {
    process: usize,
    address: String,
    /// When the peer was last heard, in ms since [`Heartbeat`]'s start.
    heard: AtomicU64,
    /// The peer's heartbeat connection ended: it finished its run, or died.
    gone: AtomicBool,
}

/// The running heartbeat of one process: stops and closes its connections when dropped.
pub(super) struct Heartbeat {
    stop: Arc<AtomicBool>,
    sockets: Vec<TcpStream>,
}

impl Heartbeat {
    /// Starts sending to and watching `peers`; `on_silent` is called (once, from the
    /// watchdog thread) with the first peer silent for longer than `timeout`.
    pub(super) fn start(
        peers: Vec<Peer>,
        timeout: Duration,
        on_silent: impl FnOnce(ExecutionError) + Send + 'static,
    ) -> Result<Heartbeat, ExecutionError> {
        let start_error = |e: std::io::Error| ExecutionError::Start(format!("cannot start the heartbeat: {e}"));
        let timeout = timeout.max(RunConfig::MIN_PEER_TIMEOUT);
        let period = PERIOD.min(timeout / 4);
        let check = CHECK.min(timeout / 4);
        let epoch = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let mut sockets = Vec::with_capacity(peers.len());
        let mut senders = Vec::with_capacity(peers.len());
        let mut watched = Vec::with_capacity(peers.len());
        for peer in peers {
            peer.tcp.set_nodelay(true).map_err(start_error)?;
            // A send must never block the sender for long (a stopped peer's buffer only
            // fills after hours at one byte a period, but a peer may be unreachable).
            peer.tcp.set_write_timeout(Some(period)).map_err(start_error)?;
            sockets.push(peer.tcp.try_clone().map_err(start_error)?);
            senders.push(peer.tcp.try_clone().map_err(start_error)?);
            let w = Arc::new(Watched {
                process: peer.process,
                address: peer.address,
                heard: AtomicU64::new(0),
                gone: AtomicBool::new(false),
            });
            spawn(&format!("highwater:heartbeat-from-{}", peer.process), {
                let (w, mut tcp) = (w.clone(), peer.tcp);
                move || {
                    let mut buf = [0u8; 64];
                    loop {
                        match tcp.read(&mut buf) {
                            Ok(0) => break,
                            Ok(_) => w.heard.store(millis(epoch.elapsed()), Ordering::Relaxed),
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(_) => break,
                        }
                    }
                    w.gone.store(true, Ordering::Relaxed);
                }
            })
            .map_err(start_error)?;
            watched.push(w);
        }
        spawn("highwater:heartbeat-send", {
            let stop = stop.clone();
            move || {
                while !stop.load(Ordering::Relaxed) {
                    // A peer that cannot be written to ended or died (its reader says so);
                    // one whose buffer is full does not read: it is the silent one.
                    senders.retain_mut(|s| match s.write_all(&[1]) {
                        Ok(()) => true,
                        Err(e) => {
                            matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted)
                        }
                    });
                    thread::sleep(period);
                }
            }
        })
        .map_err(start_error)?;
        spawn("highwater:heartbeat-watch", {
            let stop = stop.clone();
            move || watch(&watched, &stop, epoch, timeout, check, on_silent)
        })
        .map_err(start_error)?;
        Ok(Heartbeat { stop, sockets })
    }
}

/// The watchdog's loop: returns when stopped, or after reporting a silent peer.
fn watch(
    watched: &[Arc<Watched>],
    stop: &AtomicBool,
    epoch: Instant,
    timeout: Duration,
    check: Duration,
    on_silent: impl FnOnce(ExecutionError),
) {
    let mut last_check = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(check);
        let now = Instant::now();
        if now - last_check > timeout / 2 {
            // This process did not run (it was stopped itself, or the machine slept): the
            // peers' silence is not theirs. Restart their clocks.
            for w in watched {
                w.heard.store(millis(now - epoch), Ordering::Relaxed);
            }
        }
        last_check = now;
        let now_ms = millis(now - epoch);
        let silent = watched.iter().find_map(|w| {
            let silent = Duration::from_millis(now_ms.saturating_sub(w.heard.load(Ordering::Relaxed)));
            (!w.gone.load(Ordering::Relaxed) && silent > timeout).then_some((w, silent))
        });
        if let Some((w, silent)) = silent {
            if !stop.load(Ordering::Relaxed) {
                on_silent(ExecutionError::PeerUnresponsive { process: w.process, address: w.address.clone(), silent });
            }
            return;
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    thread::Builder::new().name(name.into()).spawn(f).map(drop)
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Ends the readers here and tells each peer that this process's run is over.
        for s in &self.sockets {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// A connected pair of loopback sockets.
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (b, _) = l.accept().expect("accept");
        (a, b)
    }

    fn peer(process: usize, tcp: TcpStream) -> Peer {
        Peer { process, address: format!("peer-{process}"), tcp }
    }

    #[test]
    fn a_silent_peer_is_reported_and_a_beating_or_ended_one_is_not() {
        let timeout = Duration::from_millis(800);
        // Peer 1 beats (it runs a heartbeat of its own), peer 2 ends its run (closes its
        // connection), peer 3 stays connected and silent, like a stopped process.
        let (mine1, theirs1) = pair();
        let (mine2, theirs2) = pair();
        let (mine3, _theirs3) = pair();
        let (tx, rx) = mpsc::channel();
        let _peer1 = Heartbeat::start(vec![peer(0, theirs1)], timeout, |_| {}).expect("peer 1");
        drop(theirs2);
        let start = Instant::now();
        let _me = Heartbeat::start(vec![peer(1, mine1), peer(2, mine2), peer(3, mine3)], timeout, move |e| {
            let _ = tx.send(e);
        })
        .expect("start");
        let e = rx.recv_timeout(Duration::from_secs(5)).expect("the silent peer is reported");
        match e {
            ExecutionError::PeerUnresponsive { process: 3, ref address, silent } => {
                assert_eq!(address, "peer-3");
                assert!(silent > timeout, "{silent:?}");
            }
            other => panic!("expected peer 3, got {other:?}"),
        }
        assert!(start.elapsed() < timeout * 3, "took {:?}", start.elapsed());
        assert!(e.to_string().contains("process 3 (peer-3) sent no heartbeat"), "{e}");
    }

    #[test]
    fn an_ended_heartbeat_reports_nothing() {
        let (mine, theirs) = pair();
        let (tx, rx) = mpsc::channel();
        let me = Heartbeat::start(vec![peer(1, mine)], Duration::from_millis(600), move |e| {
            let _ = tx.send(e);
        })
        .expect("start");
        drop(me);
        assert!(rx.recv_timeout(Duration::from_millis(1_500)).is_err(), "a stopped heartbeat reported a peer");
        drop(theirs);
    }
}
