//! `highwater cluster`: start a cluster of P processes on this machine and run one job on
//! it, for trying a cluster out and for tests.
//!
//! ```text
//! highwater cluster --processes 2 --workers 2 -- run --input 'data/*.csv' \
//!     --time-field date_time_ms --key-field auction --window 'fixed(10s)'
//! ```
//!
//! The launcher picks P free ports on 127.0.0.1, writes a temporary host file, and starts P
//! copies of the current executable with the job's arguments followed by
//! `--processes P --process I --hostfile FILE` (and `--workers W`, `--connect-timeout D`
//! when given). It forwards each process's standard output line by line, unchanged — so
//! results stay machine-readable and `--output -` merges the panes of all processes into
//! one stream — and its standard error with each line prefixed by `[pI] `. If a process
//! fails, the others stop on their own (see [`crate::pipeline::execute`]); the launcher
//! waits [`STOP_GRACE`] for them, kills what is left, and fails naming the first process
//! that failed.
//!
//! **Signals.** The processes run in a process group of their own, so a Ctrl-C at the
//! terminal reaches the launcher only, and the launcher passes each SIGINT or SIGTERM it
//! receives on to every process still running: on the first, each process stops reading,
//! flushes its open windows, prints its summary and exits with 128 + the signal; on a
//! second, each exits at once. The launcher waits for them all — flushing may take a
//! while; only after a second signal, or a process that ended otherwise than stopped by
//! the signal, does it kill what is left [`STOP_GRACE`] later (a process stopped with
//! SIGSTOP ignores every other signal) — and fails with [`LocalClusterError::Signalled`],
//! naming the signal (the binary exits with 128 + the signal, as `highwater run` does).
//!
//! **The processes never outlive the launcher.** On Linux each process is started with
//! `prctl(PR_SET_PDEATHSIG, SIGKILL)`, so if the launcher dies — even by SIGKILL, which
//! it cannot catch — the kernel kills its processes (a process whose launcher died
//! between its start and that call sees its parent change and exits at once). The death
//! signal follows the launcher's *thread* that started the processes: call
//! [`run_local_cluster`] from a thread that lives until it returns (it always does, since
//! it waits for the processes). Elsewhere the processes only stop when their peers go.
//!
//! Only loopback addresses are used: timely's ports are unauthenticated.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long the other processes have to stop by themselves after one failed.
/// (They normally stop within a fraction of a second, each naming the lost peer.)
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// The flags of `highwater cluster`.
#[derive(clap::Args, Clone, Debug)]
pub struct LocalClusterArgs {
    /// Number of processes to start.
    #[arg(long, default_value_t = 2)]
    pub processes: usize,
    /// Worker threads per process (passed on as --workers; by default the job's own).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Start-up deadline of each process (passed on as --connect-timeout, e.g. 10s).
    #[arg(long, value_name = "DURATION")]
    pub connect_timeout: Option<String>,
    /// How long a process waits without a heartbeat from a peer (a stopped or hung
    /// process) before the run fails naming it (passed on as --peer-timeout, e.g. 30s).
    #[arg(long, value_name = "DURATION")]
    pub peer_timeout: Option<String>,
    /// The job and its flags, after `--`: e.g. `-- run --input data/ --time-field t`, or
    /// `-- nexmark --query q5`.
    #[arg(last = true, required = true, value_name = "JOB")]
    pub job: Vec<String>,
}

/// Why a local cluster failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalClusterError {
    /// The flags cannot work.
    #[error("{0}")]
    Flag(String),
    /// Ports, the host file, or the processes could not be set up.
    #[error("cannot start the cluster: {0}")]
    Setup(String),
    /// A process failed; the others were stopped.
    #[error("process {process} of the cluster of {processes} {status}; the others were stopped")]
    Process {
        /// The first process that failed.
        process: usize,
        /// The size of the cluster.
        processes: usize,
        /// How it ended.
        status: String,
    },
    /// The launcher received SIGINT or SIGTERM and passed it on: the processes stopped
    /// (gracefully on the first signal) and their outputs hold what was read until then.
    #[error(
        "stopped by signal {signal} ({}), passed on to the {processes} processes ({}); the output holds what was read until then",
        signal_name(*.signal),
        .statuses.join(", ")
    )]
    Signalled {
        /// The first signal received.
        signal: i32,
        /// The size of the cluster.
        processes: usize,
        /// How each process ended, in process order.
        statuses: Vec<String>,
    },
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Flags the launcher sets itself: a job must not give them.
const OWN_FLAGS: &[&str] = &["--processes", "--process", "--hostfile"];

/// Starts the cluster, runs the job to its end and forwards its output. Returns when every
/// process has ended.
pub fn run_local_cluster(args: &LocalClusterArgs) -> Result<(), LocalClusterError> {
    let exe =
        std::env::current_exe().map_err(|e| LocalClusterError::Setup(format!("cannot find this executable: {e}")))?;
    run_local_cluster_of(&exe, args)
}

/// [`run_local_cluster`] with another `highwater` executable.
pub fn run_local_cluster_of(exe: &Path, args: &LocalClusterArgs) -> Result<(), LocalClusterError> {
    let p = args.processes;
    if p == 0 {
        return Err(LocalClusterError::Flag("--processes must be at least 1".into()));
    }
    if args.workers == Some(0) {
        return Err(LocalClusterError::Flag("--workers must be at least 1".into()));
    }
    if let Some(flag) = args.job.iter().find(|a| OWN_FLAGS.iter().any(|f| a == f || a.starts_with(&format!("{f}=")))) {
        return Err(LocalClusterError::Flag(format!(
            "the job sets {flag}, which `highwater cluster` sets for each process; remove it"
        )));
    }
    if args.workers.is_some() && args.job.iter().any(|a| a == "--workers" || a.starts_with("--workers=")) {
        return Err(LocalClusterError::Flag(
            "--workers is given both to `cluster` and to the job; give it once".into(),
        ));
    }
    // Registered before any process starts, so that no signal is missed (from here on a
    // SIGINT or SIGTERM no longer kills the launcher: it is passed on).
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|e| LocalClusterError::Setup(format!("cannot handle SIGINT and SIGTERM: {e}")))?;
    let dir = HostDir::create()?;
    let hosts = free_loopback_addresses(p)?;
    let hostfile = dir.0.join("hosts.txt");
    std::fs::write(&hostfile, hosts.join("\n") + "\n")
        .map_err(|e| LocalClusterError::Setup(format!("cannot write {}: {e}", hostfile.display())))?;

    let stdout = Arc::new(Mutex::new(()));
    let mut children: Vec<Child> = Vec::with_capacity(p);
    let mut forwarders: Vec<JoinHandle<()>> = Vec::new();
    for i in 0..p {
        let mut cmd = Command::new(exe);
        cmd.args(&args.job)
            .args(["--processes", &p.to_string(), "--process", &i.to_string(), "--hostfile"])
            .arg(&hostfile);
        if let Some(w) = args.workers {
            cmd.args(["--workers", &w.to_string()]);
        }
        if let Some(t) = &args.connect_timeout {
            cmd.args(["--connect-timeout", t]);
        }
        if let Some(t) = &args.peer_timeout {
            cmd.args(["--peer-timeout", t]);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        own_process_group(&mut cmd);
        die_with_launcher(&mut cmd);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                stop(&mut children);
                return Err(LocalClusterError::Setup(format!("cannot start process {i} ({}): {e}", exe.display())));
            }
        };
        if let Some(out) = child.stdout.take() {
            forwarders.push(forward_stdout(out, stdout.clone()));
        }
        if let Some(err) = child.stderr.take() {
            forwarders.push(forward_stderr(err, i));
        }
        children.push(child);
    }

    let ended = wait_all(&mut children, &mut signals);
    for f in forwarders {
        let _ = f.join();
    }
    match ended {
        Ended::Done => Ok(()),
        Ended::Failed(process, status) => {
            Err(LocalClusterError::Process { process, processes: p, status: describe(status) })
        }
        Ended::Signalled(signal, statuses) => Err(LocalClusterError::Signalled {
            signal,
            processes: p,
            statuses: statuses.iter().enumerate().map(|(i, s)| format!("process {i} {}", describe(*s))).collect(),
        }),
    }
}

/// How the processes of a cluster ended.
enum Ended {
    /// All succeeded.
    Done,
    /// The first process that failed, and how.
    Failed(usize, ExitStatus),
    /// The launcher passed a signal on (the first one received); how each process ended.
    Signalled(i32, Vec<ExitStatus>),
}

/// Waits for every child, passing on each SIGINT or SIGTERM the launcher receives; after
/// the first failure, or after a signal only after a second signal or a process that
/// ended otherwise than stopped by it, gives the others [`STOP_GRACE`] and kills the rest
/// (a stopped process ignores every signal but SIGKILL).
fn wait_all(children: &mut [Child], signals: &mut Signals) -> Ended {
    let mut status: Vec<Option<ExitStatus>> = vec![None; children.len()];
    let mut failed: Option<(usize, ExitStatus, Instant)> = None;
    let mut signalled: Option<i32> = None;
    // When a signal was followed by a second one or by a failure.
    let mut second_signal: Option<Instant> = None;
    loop {
        for sig in signals.pending() {
            if signalled.is_none() {
                eprintln!(
                    "highwater cluster: {} (signal {sig}): passed on to the processes, which stop reading and flush their open windows (a second signal stops them at once)",
                    signal_name(sig)
                );
            } else {
                eprintln!("highwater cluster: second signal ({sig}): passed on; the processes exit at once");
                second_signal.get_or_insert_with(Instant::now);
            }
            signalled.get_or_insert(sig);
            pass_on(children, &status, sig);
        }
        for (i, c) in children.iter_mut().enumerate() {
            if status[i].is_none() {
                if let Ok(Some(s)) = c.try_wait() {
                    status[i] = Some(s);
                    if !s.success() && failed.is_none() {
                        failed = Some((i, s, Instant::now()));
                    }
                    // After a signal, a process that ended otherwise than stopped by it
                    // failed (its peers may wait for it): the grace starts too.
                    if signalled.is_some_and(|sig| !s.success() && s.code() != Some(128 + sig)) {
                        second_signal.get_or_insert_with(Instant::now);
                    }
                }
            }
        }
        if status.iter().all(Option::is_some) {
            break;
        }
        let grace_from = match signalled {
            Some(_) => second_signal.map(|at| (at, "a second signal or a failure")),
            None => failed.map(|(_, _, at)| (at, "a failure")),
        };
        if let Some((at, after)) = grace_from {
            if at.elapsed() >= STOP_GRACE {
                let running: Vec<usize> = (0..children.len()).filter(|i| status[*i].is_none()).collect();
                eprintln!(
                    "highwater cluster: process(es) {running:?} still running {} s after {after}; killing them",
                    STOP_GRACE.as_secs()
                );
                stop(children);
                for (c, s) in children.iter_mut().zip(status.iter_mut()) {
                    if s.is_none() {
                        *s = c.try_wait().ok().flatten();
                    }
                }
                break;
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    match (signalled, failed) {
        (Some(sig), _) => Ended::Signalled(sig, status.into_iter().map(|s| s.unwrap_or_default()).collect()),
        (None, Some((i, s, _))) => Ended::Failed(i, s),
        (None, None) => Ended::Done,
    }
}

/// Sends `signal` to every child not yet reaped (a child not reaped keeps its pid, so the
/// signal cannot reach another program).
fn pass_on(children: &[Child], status: &[Option<ExitStatus>], signal: i32) {
    for (c, s) in children.iter().zip(status) {
        if s.is_none() {
            if let Ok(pid) = libc::pid_t::try_from(c.id()) {
                // SAFETY: kill(2) has no memory effects; `pid` is our own unreaped child.
                unsafe { libc::kill(pid, signal) };
            }
        }
    }
}

/// Starts the child in a process group of its own: a Ctrl-C at the terminal (sent to the
/// foreground group) then reaches the launcher only, which passes it on once — rather
/// than every process receiving it twice, which would be the "exit at once" signal.
fn own_process_group(cmd: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    #[cfg(not(unix))]
    let _ = cmd;
}

/// On Linux, makes the kernel kill the child (SIGKILL) when the launcher dies, however
/// it dies. See the module docs.
fn die_with_launcher(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let launcher = std::process::id();
        // SAFETY: between fork and exec the closure calls only async-signal-safe functions
        // (prctl, getppid) and allocates only on the error path, as std's own docs allow
        // for an io::Error built from an errno or a static message.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The launcher may have died before the call: the child was re-parented.
                if u32::try_from(libc::getppid()).ok() != Some(launcher) {
                    return Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Kills the children still running and reaps them.
fn stop(children: &mut [Child]) {
    for c in children.iter_mut() {
        if let Ok(None) = c.try_wait() {
            let _ = c.kill();
        }
        let _ = c.wait();
    }
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("was killed by signal {sig}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => "ended abnormally".to_string(),
    }
}

/// Copies a child's standard output to ours, whole lines at a time so the processes'
/// lines never interleave. If our standard output is closed, stops reading (the child then
/// sees a closed pipe and stops writing).
fn forward_stdout(out: impl Read + Send + 'static, lock: Arc<Mutex<()>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::with_capacity(1 << 16, out);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                    let mut o = std::io::stdout().lock();
                    if o.write_all(&line).and_then(|()| o.flush()).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// Copies a child's standard error to ours, each line prefixed by `[pI] `.
fn forward_stderr(err: impl Read + Send + 'static, process: usize) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(err);
        let mut line = Vec::new();
        let prefix = format!("[p{process}] ");
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if !line.ends_with(b"\n") {
                        line.push(b'\n');
                    }
                    let mut e = std::io::stderr().lock();
                    let _ = e.write_all(prefix.as_bytes()).and_then(|()| e.write_all(&line));
                }
            }
        }
    })
}

/// `n` distinct free ports on 127.0.0.1 (bound together, read, released). Another program
/// could take one before the cluster binds it; the process then fails naming the address.
pub fn free_loopback_addresses(n: usize) -> Result<Vec<String>, LocalClusterError> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LocalClusterError::Setup(format!("cannot find a free port on 127.0.0.1: {e}")))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LocalClusterError::Setup(format!("cannot read a port: {e}")))
}

/// A temporary folder for the host file, removed at the end.
struct HostDir(PathBuf);

impl HostDir {
    fn create() -> Result<Self, LocalClusterError> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("highwater-cluster-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| LocalClusterError::Setup(format!("cannot create {}: {e}", dir.display())))?;
        Ok(HostDir(dir))
    }
}

impl Drop for HostDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
