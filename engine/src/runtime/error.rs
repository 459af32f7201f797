//! Why the workers of a run could not start, or did not finish.

use std::time::Duration;

/// Why the workers of a run could not start, or did not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecutionError {
    /// This process cannot listen on its own address from the host file.
    #[error("cannot listen on {address} (this process's line of the host file): {reason}; is another program using the port?")]
    Listen {
        /// The address.
        address: String,
        /// The operating system's reason.
        reason: String,
    },
    /// A lower-numbered process could not be reached before the start-up deadline.
    #[error(
        "cannot reach process {process} at {address} within {}: {reason}; start it with --process {process} and the same host file, or raise --connect-timeout",
        seconds(*waited)
    )]
    Unreachable {
        /// The process.
        process: usize,
        /// Its address.
        address: String,
        /// How long this process tried.
        waited: Duration,
        /// The last connection error.
        reason: String,
    },
    /// Higher-numbered processes did not connect before the start-up deadline.
    #[error(
        "{} did not connect within {}; start {} with the same host file, or raise --connect-timeout",
        missing(.processes),
        seconds(*waited),
        if .processes.len() == 1 { "it" } else { "them" }
    )]
    NotConnected {
        /// The processes and their addresses.
        processes: Vec<(usize, String)>,
        /// How long this process waited.
        waited: Duration,
    },
    /// The connection to a running peer broke: the peer exited, was killed, or the network
    /// failed. A timely cluster cannot continue without one of its processes; rerun the job.
    #[error("lost connection to process {process} ({address}): {cause}; every process of the cluster stops")]
    LostPeer {
        /// The peer.
        process: usize,
        /// Its address.
        address: String,
        /// What the socket said.
        cause: String,
    },
    /// A running peer sent no heartbeat within the peer timeout: it is stopped, hung or
    /// cut off (its connections stay open, so no socket error comes).
    #[error(
        "process {process} ({address}) sent no heartbeat for {}: it is stopped (kill -STOP, a debugger), frozen, or cut off from this process; every process of the cluster stops. Resume it (kill -CONT) or kill it, and rerun the job; if it is only slow, raise --peer-timeout",
        seconds(*silent)
    )]
    PeerUnresponsive {
        /// The peer.
        process: usize,
        /// Its address.
        address: String,
        /// How long it had been silent.
        silent: Duration,
    },
    /// A worker of this process panicked.
    #[error("worker {worker} panicked: {message}")]
    WorkerPanicked {
        /// The worker's index among all workers of all processes.
        worker: usize,
        /// The panic message.
        message: String,
    },
    /// The host list and the process index do not fit together.
    #[error("process {process} is out of range for a cluster of {processes} processes")]
    ProcessOutOfRange {
        /// The index given.
        process: usize,
        /// The number of addresses.
        processes: usize,
    },
    /// Timely could not start (threads could not be spawned, …).
    #[error("cannot start the workers: {0}")]
    Start(String),
}

pub(super) fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn missing(processes: &[(usize, String)]) -> String {
    let list: Vec<String> = processes.iter().map(|(p, a)| format!("{p} ({a})")).collect();
    if list.len() == 1 {
        format!("process {}", list[0])
    } else {
        format!("processes {}", list.join(", "))
    }
}
