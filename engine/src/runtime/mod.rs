//! Starting and stopping the workers of a run: worker threads of this process, or one
//! process of a timely cluster, with a start-up deadline and loud, fast failure.
//!
//! Timely runs the workers; this module replaces the two places where timely's defaults do
//! not suit a command-line tool:
//!
//! - **Start-up.** Timely's cluster start-up retries a missing peer forever and reports its
//!   progress on standard output (where highwater writes results). [`execute`] connects the
//!   processes itself, with timely's handshake (a process connects to every lower-numbered
//!   process and sends its index as a big-endian `u64`; it accepts every higher-numbered
//!   one), gives up at [`RunConfig::connect_timeout`] naming the process that did not come,
//!   and then hands the sockets to timely's own network threads.
//! - **Failure.** When a peer dies, timely's receive thread panics ("timely communication
//!   error"), which poisons the queues of the local workers, which then panic too; the
//!   join errors say only `Any { .. }` and joining the network threads panics again. Here
//!   every socket is wrapped in a `Link` that remembers the peer and the I/O error it saw;
//!   when a network thread unwinds, the link records [`ExecutionError::LostPeer`] and shuts
//!   the socket down (so every other peer learns of the failure at once, even if this
//!   process lives on). Workers catch their own panics, check the run's failure flag at
//!   least every [`CHECK_EVERY`], and stop by unwinding (which poisons their queues, so no
//!   peer mistakes the stop for a clean end). The first failure recorded is the one
//!   reported; the panics that merely follow from it are not printed.
//! - **Hung peers.** A peer that is stopped or cut off, rather than dead, keeps its
//!   sockets open and would be waited for forever. Every pair of processes also opens a
//!   heartbeat connection at start-up; a peer silent for [`RunConfig::peer_timeout`] fails
//!   the run with [`ExecutionError::PeerUnresponsive`] (see the `heartbeat` module). A single
//!   process has no heartbeat.
//! - **Last resort.** If the workers have not all stopped [`GRACE`] after a failure (a
//!   worker stuck inside an operator), a watchdog prints the failure and exits the process
//!   with status 2. A cluster must never hang.
//!
//! The deadlines here are wall-clock durations of the runtime, not processing time of the
//! model: they never reach a pipeline.

pub mod checkpoint;
mod config;
mod error;
mod heartbeat;
pub mod metrics;
pub(crate) mod outputs;
mod progress;

pub use config::RunConfig;
use error::seconds;
pub use error::ExecutionError;
use heartbeat::Heartbeat;
pub(crate) use outputs::Outputs;
pub use progress::{Progress, RunSummary};
use std::any::Any;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};
use timely::communication::allocator::zero_copy::initialize::{initialize_networking_from_sockets, CommsGuard};
use timely::communication::allocator::zero_copy::stream::Stream;
use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
use timely::communication::{initialize_from, Hooks};
use timely::worker::Worker;

/// How long the workers have to stop after a failure before the watchdog exits the process.
pub const GRACE: Duration = Duration::from_secs(5);

/// How often an idle worker checks whether the run has failed elsewhere.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// What the threads of one run share: the first failure, and whether the run is over.
#[derive(Debug, Default)]
struct RunState {
    failure: Mutex<Option<ExecutionError>>,
    failed: AtomicBool,
    done: AtomicBool,
    /// Peers whose sockets saw an end of stream or an error (also at a clean shutdown), in
    /// order: the likely cause when a worker stops without a recorded failure.
    suspects: Mutex<Vec<ExecutionError>>,
}

impl RunState {
    /// Records `e` if it is the first failure, and arms the watchdog.
    fn fail(self: &Arc<Self>, e: ExecutionError) {
        {
            let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            if f.is_some() {
                return;
            }
            *f = Some(e.clone());
        }
        self.failed.store(true, Ordering::SeqCst);
        let state = self.clone();
        // If the thread cannot be spawned the workers still stop on their own.
        let _ = thread::Builder::new().name("highwater:watchdog".into()).spawn(move || {
            let deadline = Instant::now() + GRACE;
            while Instant::now() < deadline {
                if state.done.load(Ordering::SeqCst) {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
            if !state.done.load(Ordering::SeqCst) {
                eprintln!("highwater: {e}\nhighwater: the workers did not stop within {}; exiting", seconds(GRACE));
                std::process::exit(2);
            }
        });
    }
    fn failure(&self) -> Option<ExecutionError> {
        self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// The failure, or else the first peer whose socket closed.
    fn explain(&self) -> Option<ExecutionError> {
        self.failure().or_else(|| self.suspects.lock().unwrap_or_else(|p| p.into_inner()).first().cloned())
    }
    fn suspect(&self, e: ExecutionError) {
        self.suspects.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    }
}

thread_local! {
    /// The run a thread belongs to (workers, network threads): its panics that only follow
    /// from a failure already recorded are not printed, and an abort is reported.
    static CURRENT: RefCell<Option<Arc<RunState>>> = const { RefCell::new(None) };
}

/// Marks this thread as one of `run`'s.
fn enter(run: &Arc<RunState>) {
    CURRENT.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            if c.as_ref().is_none_or(|r| !Arc::ptr_eq(r, run)) {
                *c = Some(run.clone());
            }
        }
    });
}

fn current() -> Option<Arc<RunState>> {
    CURRENT.with(|c| c.try_borrow().ok().and_then(|c| c.clone()))
}

/// The payload workers unwind with when they stop because the run failed elsewhere.
const STOPPED: &str = "stopped: the run failed elsewhere";

/// Panics that follow from another failure (a lost peer, a worker that panicked first).
fn is_consequence(message: &str) -> bool {
    message.starts_with("timely communication error")
        || message.starts_with("MergeQueue poisoned")
        || message.starts_with("Recv thread panic")
        || message.starts_with("Send thread panic")
        || message.starts_with("Failed to receive MergeQueue")
        || message.starts_with("failed to send MergeQueue")
        || message == STOPPED
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// Rust aborts the process when a destructor panics while a thread unwinds — which timely
/// does when a worker unwinds past output sessions whose queues are poisoned.
fn is_abort(message: &str) -> bool {
    message.starts_with("panic in a destructor during cleanup")
        || message.starts_with("panic in a function that cannot unwind")
}

/// Installs, once per process, a panic hook that stays silent about the consequential
/// panics of a run's threads, turns an abort on such a thread into the run's error and
/// exit status 2, and defers to the previous hook for everything else.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let Some(run) = current() else { return previous(info) };
            let message = panic_message(info.payload());
            if is_abort(&message) {
                let e = run.explain();
                eprintln!(
                    "highwater: {}",
                    e.map_or_else(|| "a worker failed while stopping".to_string(), |e| e.to_string())
                );
                std::process::exit(2);
            }
            if !is_consequence(&message) {
                previous(info);
            }
        }));
    });
}

/// A socket to one peer, as handed to timely's network threads.
struct Link {
    tcp: TcpStream,
    peer: usize,
    address: Arc<str>,
    run: Arc<RunState>,
    /// The end of stream or error this handle saw.
    seen: Option<String>,
}

impl Link {
    fn saw(&mut self, cause: String) {
        if self.seen.is_none() {
            self.run.suspect(self.lost(cause.clone()));
            self.seen = Some(cause);
        }
    }
    fn lost(&self, cause: String) -> ExecutionError {
        ExecutionError::LostPeer { process: self.peer, address: self.address.to_string(), cause }
    }
}

/// A socket error, with what it usually means.
fn io_cause(e: &io::Error) -> String {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
            format!("{e}: the process exited or was killed")
        }
        _ => e.to_string(),
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        enter(&self.run);
        match self.tcp.read(buf) {
            Ok(0) if !buf.is_empty() => {
                self.saw("the connection closed (the process exited or was killed)".into());
                Ok(0)
            }
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                self.saw(io_cause(&e));
                Err(e)
            }
            r => r,
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        enter(&self.run);
        self.tcp.write(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.saw(io_cause(e));
            }
        })
    }
    fn flush(&mut self) -> io::Result<()> {
        enter(&self.run);
        self.tcp.flush().inspect_err(|e| self.saw(io_cause(e)))
    }
}

impl Stream for Link {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(Link {
            tcp: self.tcp.try_clone()?,
            peer: self.peer,
            address: self.address.clone(),
            run: self.run.clone(),
            seen: None,
        })
    }
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.tcp.set_nonblocking(nonblocking)
    }
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.tcp.shutdown(how)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if thread::panicking() {
            // A network thread is unwinding. If this socket saw the peer go, that is the
            // failure; otherwise the thread follows a local failure. Either way, shut the
            // socket (every handle of it) so the peer learns at once.
            if let Some(cause) = self.seen.take() {
                self.run.fail(self.lost(cause));
            }
            let _ = self.tcp.shutdown(Shutdown::Both);
        }
    }
}

/// The connections of this process to the others: timely's links, the heartbeats, and
/// (with checkpoints) the control connections between process 0 and each other process.
type Connections = (Vec<Option<Link>>, Vec<heartbeat::Peer>, Vec<checkpoint::control::ControlPeer>);

/// Connects this process to every other process of the cluster, timely's way, by
/// `deadline`: a data connection (for timely) and a heartbeat connection to each, and
/// with `control` a control connection between process 0 and each other process (the
/// checkpoints' coordinator, `checkpoint::control`).
fn connect(
    addresses: &[String],
    me: usize,
    timeout: Duration,
    run: &Arc<RunState>,
    control: bool,
) -> Result<Connections, ExecutionError> {
    let deadline = Instant::now() + timeout;
    let listeners = addresses[me]
        .split_whitespace()
        .map(|a| {
            let l = TcpListener::bind(a)
                .map_err(|e| ExecutionError::Listen { address: a.to_string(), reason: e.to_string() })?;
            l.set_nonblocking(true)
                .map_err(|e| ExecutionError::Listen { address: a.to_string(), reason: e.to_string() })?;
            Ok(l)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let lower: Vec<(usize, String)> = addresses[..me].iter().cloned().enumerate().collect();
    let connector = thread::Builder::new()
        .name("highwater:connect".into())
        .spawn(move || connect_lower(lower, me, timeout, deadline, control))
        .map_err(|e| ExecutionError::Start(e.to_string()))?;
    let accepted = accept_higher(&listeners, addresses, me, timeout, deadline, control && me == 0);
    let connected = connector.join().map_err(|_| ExecutionError::Start("the connecting thread panicked".into()))?;
    let (connected, accepted) = (connected?, accepted?);
    let mut links = Vec::with_capacity(addresses.len());
    let mut beats = Vec::with_capacity(addresses.len());
    let mut controls = Vec::new();
    for (peer, trio) in connected.into_iter().map(Some).chain([None]).chain(accepted).enumerate() {
        links.push(trio.map(|(tcp, beat, control)| {
            beats.push(heartbeat::Peer { process: peer, address: addresses[peer].clone(), tcp: beat });
            if let Some(tcp) = control {
                controls.push(checkpoint::control::ControlPeer { process: peer, tcp });
            }
            Link { tcp, peer, address: addresses[peer].as_str().into(), run: run.clone(), seen: None }
        }));
    }
    Ok((links, beats, controls))
}

/// A peer's connections: timely's, the heartbeat's, and the control connection if any.
type Trio = (TcpStream, TcpStream, Option<TcpStream>);

/// Connects to processes `0..me` and sends each this process's index: the data
/// connection, then the heartbeat connection (the index tagged with [`heartbeat::TAG`]),
/// then with `control` to process 0 the control connection (tagged with
/// `checkpoint::control::TAG`).
fn connect_lower(
    lower: Vec<(usize, String)>,
    me: usize,
    timeout: Duration,
    deadline: Instant,
    control: bool,
) -> Result<Vec<Trio>, ExecutionError> {
    let mut out = Vec::with_capacity(lower.len());
    for (process, address) in lower {
        let unreachable =
            |reason: String| ExecutionError::Unreachable { process, address: address.clone(), waited: timeout, reason };
        let mut hellos = vec![me as u64, me as u64 | heartbeat::TAG];
        if control && process == 0 {
            hellos.push(me as u64 | checkpoint::control::TAG);
        }
        let mut trio = Vec::with_capacity(3);
        for hello in hellos {
            let mut last = String::from("no attempt");
            let mut s = loop {
                let now = Instant::now();
                if now >= deadline {
                    return Err(unreachable(last));
                }
                match try_connect(&address, (deadline - now).min(Duration::from_secs(1))) {
                    Ok(s) => break s,
                    Err(e) => last = e,
                }
                thread::sleep(Duration::from_millis(100).min(deadline.saturating_duration_since(Instant::now())));
            };
            let sent = s.set_nodelay(true).and_then(|()| s.write_all(&hello.to_be_bytes()));
            sent.map_err(|e| unreachable(format!("the handshake failed: {e}")))?;
            trio.push(s);
        }
        let mut trio = trio.into_iter();
        if let (Some(data), Some(beat)) = (trio.next(), trio.next()) {
            out.push((data, beat, trio.next()));
        }
    }
    Ok(out)
}

/// One attempt to connect to `address`, trying each address it resolves to.
fn try_connect(address: &str, timeout: Duration) -> Result<TcpStream, String> {
    let mut last = format!("`{address}` resolves to no address");
    for a in address.to_socket_addrs().map_err(|e| format!("cannot resolve the address: {e}"))? {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// Accepts processes `me + 1..`, each identified by the index it sends first: a data
/// connection and a heartbeat connection (its index tagged with [`heartbeat::TAG`]) from
/// each, and with `control` a control connection (tagged with `checkpoint::control::TAG`).
fn accept_higher(
    listeners: &[TcpListener],
    addresses: &[String],
    me: usize,
    timeout: Duration,
    deadline: Instant,
    control: bool,
) -> Result<Vec<Option<Trio>>, ExecutionError> {
    let mut results: Vec<Option<TcpStream>> = (me + 1..addresses.len()).map(|_| None).collect();
    let mut beats: Vec<Option<TcpStream>> = (me + 1..addresses.len()).map(|_| None).collect();
    let mut controls: Vec<Option<TcpStream>> = (me + 1..addresses.len()).map(|_| None).collect();
    let missing = |r: &[Option<TcpStream>], b: &[Option<TcpStream>], c: &[Option<TcpStream>], i: usize| {
        r[i].is_none() || b[i].is_none() || (control && c[i].is_none())
    };
    while (0..results.len()).any(|i| missing(&results, &beats, &controls, i)) {
        let mut received = false;
        for listener in listeners {
            match listener.accept() {
                Ok((s, _)) => {
                    received = true;
                    // A connection that does not say which process it is (a port scanner, a
                    // stray client) is dropped.
                    if let Some(hello) = handshake(&s, deadline) {
                        let slots = if hello & heartbeat::TAG != 0 {
                            &mut beats
                        } else if hello & checkpoint::control::TAG != 0 {
                            &mut controls
                        } else {
                            &mut results
                        };
                        let peer =
                            usize::try_from(hello & !(heartbeat::TAG | checkpoint::control::TAG)).unwrap_or(usize::MAX);
                        if peer > me && peer < addresses.len() && slots[peer - me - 1].is_none() {
                            slots[peer - me - 1] = Some(s);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ExecutionError::Listen { address: addresses[me].clone(), reason: e.to_string() }),
            }
        }
        if !received {
            if Instant::now() >= deadline {
                let processes = (0..results.len())
                    .filter(|&i| missing(&results, &beats, &controls, i))
                    .map(|i| (me + 1 + i, addresses[me + 1 + i].clone()))
                    .collect();
                return Err(ExecutionError::NotConnected { processes, waited: timeout });
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    let controls = controls.into_iter();
    Ok(results.into_iter().zip(beats).zip(controls).map(|((s, b), c)| s.zip(b).map(|(s, b)| (s, b, c))).collect())
}

/// The index a connecting process sends first (tagged for a heartbeat connection).
fn handshake(s: &TcpStream, deadline: Instant) -> Option<u64> {
    s.set_nonblocking(false).ok()?;
    let wait =
        deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(500)).min(Duration::from_secs(5));
    s.set_read_timeout(Some(wait)).ok()?;
    let mut id = [0u8; 8];
    (&*s).read_exact(&mut id).ok()?;
    s.set_read_timeout(None).ok()?;
    s.set_nodelay(true).ok()?;
    Some(u64::from_be_bytes(id))
}

/// Runs `func` on every worker of this process, then steps each worker until its
/// dataflows are complete, as `timely::execute` does; returns the workers' results in
/// worker order.
///
/// With [`RunConfig::cluster`], this process first connects to the others (see the module
/// docs). Any failure — a peer that does not come or goes away, a worker that panics —
/// stops every worker of every process and is returned as the first failure seen.
///
/// ```
/// use highwater::pipeline::{execute, RunConfig};
/// let indices = execute(&RunConfig::workers(2), |worker| worker.index()).unwrap();
/// assert_eq!(indices, vec![0, 1]);
/// ```
pub fn execute<T, F>(config: &RunConfig, func: F) -> Result<Vec<T>, ExecutionError>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    execute_with_control(config, None, func)
}

/// What a run with checkpoints does with its control connections once the cluster is
/// connected (before any worker starts): hands them to its coordinator.
pub(crate) type ControlHook = Box<dyn FnOnce(Vec<checkpoint::control::ControlPeer>) -> Result<(), String> + Send>;

/// [`execute`]; in a cluster, with `on_control`, every process also opens a control
/// connection to process 0 (`checkpoint::control`) and `on_control` receives them before
/// the workers start. Every process of the cluster must pass one, or none.
pub(crate) fn execute_with_control<T, F>(
    config: &RunConfig,
    on_control: Option<ControlHook>,
    func: F,
) -> Result<Vec<T>, ExecutionError>
where
    T: Send + 'static,
    F: Fn(&mut Worker) -> T + Send + Sync + 'static,
{
    install_panic_hook();
    let run = Arc::new(RunState::default());
    let threads = config.workers.max(1);
    // The heartbeat runs until this function returns (dropped last), so that a peer that
    // hangs while the cluster shuts down is reported too.
    let mut _heartbeat: Option<Heartbeat> = None;
    let (builders, comms, first_worker): (Vec<AllocatorBuilder>, Option<CommsGuard>, usize) = match &config.cluster {
        Some((process, addresses)) if addresses.len() > 1 => {
            if *process >= addresses.len() {
                return Err(ExecutionError::ProcessOutOfRange { process: *process, processes: addresses.len() });
            }
            let (links, beats, controls) =
                connect(addresses, *process, config.connect_timeout, &run, on_control.is_some())?;
            if let Some(hook) = on_control {
                hook(controls).map_err(ExecutionError::Start)?;
            }
            let failed = run.clone();
            _heartbeat = Some(Heartbeat::start(beats, config.peer_timeout, move |e| failed.fail(e))?);
            let hooks = Hooks::default();
            let local = ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone());
            let (builders, comms) = initialize_networking_from_sockets(local, links, *process, threads, hooks)
                .map_err(|e| ExecutionError::Start(e.to_string()))?;
            (builders.into_iter().map(AllocatorBuilder::Tcp).collect(), Some(comms), process * threads)
        }
        _ => {
            let (builders, _) =
                timely::CommunicationConfig::Process(threads).try_build().map_err(ExecutionError::Start)?;
            (builders, None, 0)
        }
    };
    let state = run.clone();
    let guards = initialize_from(builders, Box::new(()), move |allocator| {
        enter(&state);
        let mut index = None;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut worker = Worker::new(timely::WorkerConfig::default(), allocator, Some(Instant::now()));
            index = Some(worker.index());
            let result = func(&mut worker);
            while worker.has_dataflows() {
                worker.step_or_park(Some(CHECK_EVERY));
                if state.failed.load(Ordering::SeqCst) {
                    // Unwind rather than return: dropping the worker while unwinding
                    // poisons its queues, so no peer mistakes this stop for a clean end.
                    resume_unwind(Box::new(STOPPED));
                }
            }
            result
        }));
        result.map_err(|payload| {
            let message = panic_message(&*payload);
            if !is_consequence(&message) {
                let worker = index.unwrap_or(first_worker);
                state.fail(ExecutionError::WorkerPanicked { worker, message: message.clone() });
            }
            message
        })
    })
    .map_err(ExecutionError::Start)?;

    let mut values = Vec::new();
    let mut stopped = None;
    for (i, r) in guards.join().into_iter().enumerate() {
        match r {
            Ok(Ok(v)) => values.push(v),
            Ok(Err(message)) | Err(message) => {
                stopped.get_or_insert((first_worker + i, message));
            }
        }
    }
    if stopped.is_none() && run.failure().is_none() {
        if let Some(comms) = comms {
            // Joins the network threads; they end when every peer has said goodbye.
            let was = current();
            enter(&run);
            let joined = catch_unwind(AssertUnwindSafe(move || drop(comms)));
            CURRENT.with(|c| c.replace(was));
            if joined.is_err() && run.failure().is_none() {
                let e = run.suspects.lock().unwrap_or_else(|p| p.into_inner()).first().cloned();
                run.fail(e.unwrap_or_else(|| {
                    ExecutionError::Start("a network thread failed while the cluster shut down".into())
                }));
            }
        }
    } else if let Some(comms) = comms {
        // Joining would panic (and could wait on a peer that is still alive): let the
        // network threads end on their own; their sockets are already shut down.
        std::mem::forget(comms);
    }
    let failure = run.failure().or_else(|| {
        let (worker, message) = stopped?;
        let suspect = run.suspects.lock().unwrap_or_else(|p| p.into_inner()).first().cloned();
        Some(suspect.unwrap_or(ExecutionError::WorkerPanicked { worker, message }))
    });
    run.done.store(true, Ordering::SeqCst);
    match failure {
        Some(e) => Err(e),
        None => Ok(values),
    }
}
