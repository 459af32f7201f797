//! The `highwater` command line.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use highwater::cli::local_cluster::{run_local_cluster, LocalClusterArgs, LocalClusterError};
use highwater::cli::nexmark::{generate, query, GenerateArgs, QueryArgs};
use highwater::cli::run::{run_with, RunArgs, RunError};
use highwater::conformance::{
    check_file_with, check_scenario, diagram_svg_with_output, run_scenario_watched, scenario_files, OperatorChoice,
    RunOutput, Scenario,
};
use highwater::logging::{LogFormat, Logging};
use highwater::pipeline::Progress;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// highwater: a Beam-model stream processor on timely-dataflow.
#[derive(Parser, Debug)]
#[command(name = "highwater", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// What is logged on standard error: error, warn, info, debug, trace or off, or
    /// directives such as `info,highwater::runtime::checkpoint=debug`. Nothing is logged
    /// per record.
    #[arg(long, global = true, value_name = "LEVEL", env = highwater::logging::ENV, default_value = "info")]
    log_level: String,
    /// How log events are written: `text` (`highwater: warning: ...`) or `json` (one
    /// object per line with every field).
    #[arg(long, global = true, value_name = "FORMAT", env = "HIGHWATER_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a keyed windowed aggregation over files (CSV or JSON lines, gzip too) or TCP
    /// connections.
    ///
    /// Prints one JSON line per pane (key, window, the aggregates, and the pane's timestamp,
    /// timing, index, nonspeculative_index, first, last) and ends with a summary on stderr.
    /// Examples:
    ///
    ///   highwater run --input examples/data/bids.csv --time-field date_time_ms
    ///     --key-field auction --count --max price --window 'fixed(10s)'
    ///
    ///   highwater run --listen 9000 --max-connections 1 --format csv
    ///     --time-field date_time_ms --key-field auction --count --window 'fixed(10s)'
    ///   (then, elsewhere: nc 127.0.0.1 9000 < examples/data/bids.csv)
    Run(Box<RunArgs>),
    /// The Nexmark benchmark: `nexmark --query q5` runs a query over generated events (or
    /// `--input FILE`); `nexmark generate` writes events for replay.
    Nexmark(Box<NexmarkCmd>),
    /// Start a cluster of processes on this machine (loopback ports) and run a job on it.
    ///
    /// Runs the job after `--` as P processes: each gets `--processes P --process I
    /// --hostfile FILE` (a temporary host file with free 127.0.0.1 ports). Standard output
    /// is forwarded unchanged (the panes of all processes, one stream); standard error with
    /// each line prefixed by `[pI] `. Example:
    ///
    ///   highwater cluster --processes 2 --workers 2 -- run --input examples/data/bids.csv
    ///     --time-field date_time_ms --key-field auction --count --window 'fixed(10s)'
    ///
    /// If a process fails, the others stop (within --peer-timeout if it hangs rather than
    /// dies) and the launcher fails naming it. SIGINT and SIGTERM are passed on to every
    /// process: on the first, each stops reading, flushes its open windows and prints its
    /// summary; on a second, each exits at once. The launcher then exits with 128 + the
    /// signal. The processes never outlive the launcher: on Linux the kernel kills them
    /// if it dies, even by SIGKILL.
    Cluster(LocalClusterArgs),
    /// Produce the lines of a file to a Kafka topic (round robin over its partitions).
    ///
    /// A .csv file's header line is not produced; it is printed, for `run --csv-header`:
    ///
    ///   highwater kafka-produce --brokers 127.0.0.1:9092 --topic bids
    ///     --input examples/data/bids.csv
    KafkaProduce(highwater::cli::kafka_produce::ProduceArgs),
    /// Run conformance scenarios (conformance/FORMAT.md) through the engine.
    ///
    /// With FILE, prints the scenario's panes as JSON lines (the runner output of
    /// FORMAT.md). With --dir, runs and checks every scenario under DIR and ends with
    /// `N passed, M failed`.
    Conformance {
        /// One scenario file.
        #[arg(required_unless_present = "dir", conflicts_with = "dir")]
        file: Option<PathBuf>,
        /// Run and check every *.json under this folder.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// With --dir: also print the passing scenarios.
        #[arg(long)]
        verbose: bool,
        /// `auto`: the operator a pipeline would run for the scenario's strategy (an
        /// on-time operator where eligible, also checked against the reducer: a
        /// difference fails the scenario, on stderr with exit status 1 for FILE);
        /// `reducer`: the general reducer.
        #[arg(long, default_value = "auto")]
        operator: OperatorChoice,
        /// With FILE: also draw the scenario and the panes of the run as an SVG pane
        /// diagram (event time across, the transcript's actions upwards, the input
        /// watermark as a line, each pane as a bar across its window at the action that
        /// fired it, coloured by timing) into this file.
        #[arg(long, value_name = "FILE.svg", conflicts_with = "dir")]
        diagram: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct NexmarkCmd {
    #[command(subcommand)]
    action: Option<NexmarkAction>,
    #[command(flatten)]
    query: QueryArgs,
}

#[derive(Subcommand, Debug)]
enum NexmarkAction {
    /// Write generated events (deterministic: the same file at every run).
    Generate(GenerateArgs),
}

/// The exit status of a run that failed (an input that cannot be read, an output that
/// cannot be written, a job that does not fit its data).
const EXIT_FAILED: u8 = 1;
/// The exit status of bad flags (as clap's own).
const EXIT_USAGE: u8 = 2;

/// The first signal received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("highwater: {e:#}");
            let code = match e.downcast_ref::<RunError>() {
                Some(RunError::Flag { .. } | RunError::Strategy(_) | RunError::Input(_) | RunError::Cluster(_)) => {
                    EXIT_USAGE
                }
                Some(RunError::Stopped(_)) => 128u8.saturating_add(SIGNAL.load(Ordering::Relaxed) as u8),
                _ => match e.downcast_ref::<LocalClusterError>() {
                    Some(LocalClusterError::Signalled { signal, .. }) => 128u8.saturating_add(*signal as u8),
                    _ => EXIT_FAILED,
                },
            };
            std::process::ExitCode::from(code)
        }
    }
}

/// On SIGINT or SIGTERM, stops the run gracefully (the sources stop reading, the open
/// windows are flushed, the summary is printed); a second signal exits at once.
fn stop_on_signals(progress: Arc<Progress>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
    let spawned = std::thread::Builder::new().name("highwater-signals".into()).spawn(move || {
        for sig in signals.forever() {
            if SIGNAL.swap(sig, Ordering::Relaxed) != 0 {
                tracing::warn!(signal = sig, "second signal: exiting at once (the output is incomplete)");
                std::process::exit(128 + sig);
            }
            tracing::info!(
                signal = sig,
                "signal {sig}: no more input is read; flushing the open windows (a second signal exits at once)"
            );
            progress.stop();
        }
    });
    drop(spawned);
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    Logging::new(&cli.log_level)
        .map_err(|e| RunError::Flag { flag: "log-level", reason: e.to_string() })?
        .format(cli.log_format)
        .install()?;
    match cli.command {
        Command::Run(args) => {
            let summary = match run_with(&args, stop_on_signals) {
                Err(RunError::Stopped(summary)) => {
                    eprintln!("highwater run: {summary}");
                    return Err(RunError::Stopped(summary).into());
                }
                other => other?,
            };
            let c = &args.cluster;
            if c.processes > 1 {
                eprintln!("highwater run (process {} of {}): {summary}", c.process, c.processes);
            } else {
                eprintln!("highwater run: {summary}");
            }
            eprint!("{}", summary.source_table());
            if summary.malformed + summary.late_dropped > 0 && args.dead_letters.is_none() {
                eprintln!("highwater run: pass --dead-letters PATH to see the malformed and late records");
            }
        }
        Command::Nexmark(cmd) => match cmd.action {
            Some(NexmarkAction::Generate(g)) => {
                let n = generate(&g)?;
                eprintln!("highwater nexmark generate: {n} rows written");
            }
            None => {
                let s = query(&cmd.query)?;
                eprintln!("highwater nexmark {}: {s}", cmd.query.query.as_deref().unwrap_or(""));
            }
        },
        Command::Cluster(args) => {
            // The processes log as the launcher was told to (a job's own flags win).
            std::env::set_var(highwater::logging::ENV, &cli.log_level);
            let format = if cli.log_format == LogFormat::Json { "json" } else { "text" };
            std::env::set_var("HIGHWATER_LOG_FORMAT", format);
            run_local_cluster(&args)?
        }
        Command::KafkaProduce(args) => {
            let done = highwater::cli::kafka_produce::produce(&args).map_err(anyhow::Error::msg)?;
            eprintln!(
                "highwater kafka-produce: {} messages to topic `{}` ({} partitions)",
                done.messages, args.topic, done.partitions
            );
            if let Some(h) = done.header {
                eprintln!("highwater kafka-produce: the CSV header, not produced: --csv-header {h}");
            }
        }
        Command::Conformance { file, dir, workers, verbose, operator, diagram } => {
            if workers == 0 {
                bail!("--workers must be at least 1");
            }
            if let Some(dir) = dir {
                let files =
                    scenario_files(&dir).with_context(|| format!("cannot list scenarios in {}", dir.display()))?;
                if files.is_empty() {
                    bail!("no *.json scenarios under {}", dir.display());
                }
                let (mut passed, mut failed) = (0, 0);
                for f in files {
                    let (name, v) = check_file_with(&f, workers, operator);
                    if v.passed {
                        passed += 1;
                        if verbose {
                            println!("{}", v.summary(&name));
                        }
                    } else {
                        failed += 1;
                        println!("{}", v.summary(&name));
                    }
                }
                println!("{passed} passed, {failed} failed");
                if failed > 0 {
                    std::process::exit(1);
                }
            } else if let Some(file) = file {
                let s = Scenario::load(&file)?;
                let (out, differs) = check_scenario(&s, workers, operator)?;
                // The output watermark line: the same run again, watched.
                let output = match &diagram {
                    Some(_) => run_scenario_watched(&s, workers, operator)?.1,
                    None => Vec::new(),
                };
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                for line in out.lines() {
                    writeln!(lock, "{line}")?;
                }
                if let Some(path) = diagram {
                    let panes = match &out {
                        RunOutput::Panes(ps) => ps.as_slice(),
                        RunOutput::Unsupported(_) => &[],
                    };
                    std::fs::write(&path, diagram_svg_with_output(&s, panes, &output))
                        .with_context(|| format!("cannot write the diagram to {}", path.display()))?;
                }
                if let Some(diff) = differs {
                    bail!("{}: {diff}", s.name);
                }
            }
        }
    }
    Ok(())
}
