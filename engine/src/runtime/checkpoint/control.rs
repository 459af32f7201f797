//! The control stream of a cluster's checkpoints: the few messages by which the
//! coordinator of process 0 picks one cut for every process.
//!
//! Every process has a [`super::coordinator::Coordinator`] for its own workers. In a
//! cluster with checkpoints, each process `p > 0` opens one more TCP connection to process
//! 0 at start-up, beside timely's and the heartbeat's (the same handshake, its index
//! tagged with [`TAG`]; see `runtime::connect`): a star, process 0 in the middle. The
//! checkpoints' messages go there, never into a dataflow — no data record carries a
//! barrier, and no control message holds a frontier back or keeps a run from ending:
//!
//! | message | from → to | meaning |
//! |---|---|---|
//! | `Hello { restored }` | p → 0 | the checkpoint p restored (process 0 checks that every process restored the same) |
//! | `Due` | p → 0 | p's interval has passed (its sources read while process 0's may have finished) |
//! | `Ask { id }` | 0 → p | checkpoint `id` begins: report your sources' highest watermark |
//! | `Report { id, highest }` | p → 0 | every source of p has reported; `highest` is their highest stamp |
//! | `Cut { id, cut }` | 0 → p | the cut of checkpoint `id`, one past the highest of every process |
//! | `Done` | p → 0 | p's run is over and its last checkpoint's part is written (or never will be) |
//!
//! A message is a big-endian `u32` length and its bincode. Messages to one peer are sent
//! in order under one lock. A connection that ends or fails ends its reader: a peer that
//! died fails the run through timely's own connections (`runtime::execute`), and its
//! reader counts it as [`Message::Done`] so that process 0 never waits on it.

use highwater_operators::time::Time;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// The bit set in the handshake index of a control connection (the heartbeat's is bit 63).
pub(crate) const TAG: u64 = 1 << 62;

/// The largest message accepted (a cut, an id: tens of bytes).
const MAX_MESSAGE: u32 = 1 << 16;

/// A message of the control stream (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Message {
    /// The checkpoint the sender restored (its id), if any.
    Hello {
        /// Its id.
        restored: Option<u64>,
    },
    /// The sender's interval has passed: a checkpoint is due.
    Due,
    /// Checkpoint `id` begins.
    Ask {
        /// The checkpoint's id.
        id: u64,
    },
    /// Every source of the sender has reported for checkpoint `id`.
    Report {
        /// The checkpoint's id.
        id: u64,
        /// The highest watermark the sender's sources have stamped.
        highest: i64,
    },
    /// The cut of checkpoint `id`.
    Cut {
        /// The checkpoint's id.
        id: u64,
        /// The cut.
        cut: Time,
    },
    /// The sender's run is over.
    Done,
}

/// A control connection to one peer, after the handshake.
pub(crate) struct ControlPeer {
    /// The peer's process index.
    pub(crate) process: usize,
    /// The connection.
    pub(crate) tcp: TcpStream,
}

/// The control connections of one process: to every other process (process 0), or to
/// process 0 (any other). Dropping it closes them.
pub(crate) struct Control {
    /// The writing half of each connection, by peer.
    peers: Vec<(usize, Mutex<TcpStream>)>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.peers.iter().map(|(p, _)| p)).finish()
    }
}

impl Control {
    /// Starts a reader thread per peer that hands each message to `on_message` (the peer's
    /// process and the message); an ended or failed connection is handed on as
    /// [`Message::Done`], once.
    pub(crate) fn start(
        peers: Vec<ControlPeer>,
        on_message: Arc<dyn Fn(usize, Message) + Send + Sync>,
    ) -> std::io::Result<Control> {
        let mut writers = Vec::with_capacity(peers.len());
        for peer in peers {
            peer.tcp.set_nodelay(true)?;
            let mut reader = peer.tcp.try_clone()?;
            let (process, on_message) = (peer.process, on_message.clone());
            thread::Builder::new().name(format!("highwater:control-from-{process}")).spawn(move || {
                let mut done = false;
                while let Some(message) = read_message(&mut reader) {
                    done |= message == Message::Done;
                    on_message(process, message);
                }
                if !done {
                    on_message(process, Message::Done);
                }
            })?;
            writers.push((peer.process, Mutex::new(peer.tcp)));
        }
        Ok(Control { peers: writers })
    }

    /// Sends `message` to process `to` (nothing if it is not a peer). A failed send is
    /// ignored: the peer died, which fails the run through timely's connections.
    pub(crate) fn send(&self, to: usize, message: &Message) {
        if let Some((_, tcp)) = self.peers.iter().find(|(p, _)| *p == to) {
            let mut tcp = tcp.lock().unwrap_or_else(|e| e.into_inner());
            let _ = write_message(&mut *tcp, message);
        }
    }

    /// Sends `message` to every peer.
    pub(crate) fn broadcast(&self, message: &Message) {
        for (p, _) in &self.peers {
            self.send(*p, message);
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        for (_, tcp) in &self.peers {
            let _ = tcp.lock().unwrap_or_else(|e| e.into_inner()).shutdown(Shutdown::Both);
        }
    }
}

fn write_message(out: &mut impl Write, message: &Message) -> std::io::Result<()> {
    let body = bincode::serialize(message).map_err(std::io::Error::other)?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame)
}

/// The next message, or `None` at the end of the connection (or a frame that is not a
/// message: the connection is not a highwater peer's).
fn read_message(input: &mut impl Read) -> Option<Message> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len).ok()?;
    let len = u32::from_be_bytes(len);
    if len > MAX_MESSAGE {
        return None;
    }
    let mut body = vec![0u8; len as usize];
    input.read_exact(&mut body).ok()?;
    bincode::deserialize(&body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn messages_arrive_in_order_and_an_ended_connection_is_done() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (b, _) = l.accept().expect("accept");
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let on: Arc<dyn Fn(usize, Message) + Send + Sync> =
            Arc::new(move |p, m| tx.lock().unwrap().send((p, m)).unwrap());
        let _zero = Control::start(vec![ControlPeer { process: 1, tcp: b }], on).expect("start");
        let one = Control::start(vec![ControlPeer { process: 0, tcp: a }], Arc::new(|_, _| {})).expect("start");
        let sent = [
            Message::Hello { restored: Some(3) },
            Message::Report { id: 4, highest: -5 },
            Message::Cut { id: 4, cut: Time::new(17, 0) },
        ];
        for m in &sent {
            one.send(0, m);
        }
        for m in sent {
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)).expect("a message"), (1, m));
        }
        drop(one);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).expect("done"), (1, Message::Done));
    }
}
