//! Logs: what a job says on standard error while it runs — a checkpoint it resumes from,
//! a connection it refused, a partition holding the watermark back — as [`tracing`]
//! events, never one per record.
//!
//! The engine emits events; a subscriber decides what is shown. `highwater` installs one
//! from `--log-level` (default `info`) and `--log-format` (`text` or `json`). A pipeline
//! of your own either installs a subscriber of its own (any [`tracing`] subscriber: the
//! events are under the `highwater` target) or lets [`crate::pipeline::run`] install the
//! default one — text at `info`, or the level in the `HIGHWATER_LOG` environment variable
//! — when none is installed, so no warning is ever lost for want of a subscriber.
//!
//! Levels: `error` and `warn` are problems (a warning is the job going on around one);
//! `info` is what a person running a job wants to know once (resumed from a checkpoint,
//! the metrics address); `debug` is each checkpoint written, each connection accepted
//! and each partition finished. A level is also a filter directive as in `RUST_LOG`:
//! `info,highwater::runtime::checkpoint=debug`.
//!
//! In text, an event is one line: `highwater: warning: MESSAGE` (at `debug` and `trace`
//! the target and the event's fields follow). In JSON, one object per line with the
//! timestamp, level, target, message and every field, for a log pipeline to index.
//!
//! ```
//! use highwater::logging::{LogFormat, Logging};
//!
//! // What `highwater run --log-level debug --log-format json` installs.
//! let logging = Logging::new("debug").unwrap().format(LogFormat::Json);
//! assert_eq!(logging.filter(), "debug");
//! // A directive that is not one is refused, saying what is.
//! let e = Logging::new("loud").unwrap_err();
//! assert!(e.to_string().contains("error, warn, info, debug, trace or off"), "{e}");
//! // `logging.install()` would make it the process's subscriber (once per process).
//! ```

use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The environment variable read for the level when the engine installs its default
/// subscriber (a pipeline that installed none).
pub const ENV: &str = "HIGHWATER_LOG";

/// How events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event, `highwater: warning: MESSAGE`.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message`, and the
    /// event's fields.
    Json,
}

/// A logging configuration: a level (or filter directives) and a format.
#[derive(Debug, Clone)]
pub struct Logging {
    filter: String,
    format: LogFormat,
}

/// A level that is not one, or a subscriber that cannot be installed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The level or directives cannot be parsed.
    #[error(
        "log level `{given}`: {reason}; use error, warn, info, debug, trace or off, or directives such as `info,highwater::source=debug`"
    )]
    Level {
        /// What was given.
        given: String,
        /// Why it was refused.
        reason: String,
    },
    /// The process already has a global subscriber.
    #[error("a log subscriber is already installed in this process: install one, once, before the first run")]
    Installed,
}

impl Logging {
    /// Logging at `filter`: a level (`error`, `warn`, `info`, `debug`, `trace`, `off`) or
    /// `RUST_LOG`-style directives.
    pub fn new(filter: &str) -> Result<Self, LogError> {
        Self::parse(filter)?;
        Ok(Self { filter: filter.to_string(), format: LogFormat::Text })
    }

    /// Writes events in `format`.
    pub fn format(mut self, format: LogFormat) -> Self {
        self.format = format;
        self
    }

    /// The level or directives.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    fn parse(filter: &str) -> Result<EnvFilter, LogError> {
        let refuse = |reason: String| LogError::Level { given: filter.to_string(), reason };
        if filter.trim().is_empty() {
            return Err(refuse("empty".into()));
        }
        // A bare word must be a level: `EnvFilter` would take `loud` as a target name
        // and show nothing, silently.
        for directive in filter.split(',') {
            let d = directive.trim();
            if !d.contains('=') && !d.contains('[') && d.parse::<tracing_subscriber::filter::LevelFilter>().is_err() {
                return Err(refuse(format!("`{d}` is not a level")));
            }
        }
        EnvFilter::builder().parse(filter).map_err(|e| refuse(e.to_string()))
    }

    /// Makes this the process's global subscriber, writing to standard error.
    pub fn install(&self) -> Result<(), LogError> {
        let filter = Self::parse(&self.filter)?;
        let builder = tracing_subscriber::fmt().with_writer(Stderr).with_env_filter(filter);
        let installed = match self.format {
            LogFormat::Text => builder.event_format(Text).try_init(),
            LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        };
        installed.map_err(|_| LogError::Installed)
    }
}

/// Installs the default subscriber (text, at `HIGHWATER_LOG` or `info`) unless the
/// process has one: a pipeline's warnings always reach standard error.
pub(crate) fn ensure_default() {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    let level = std::env::var(ENV).ok().filter(|l| Logging::parse(l).is_ok()).unwrap_or_else(|| "info".into());
    if let Ok(logging) = Logging::new(&level) {
        // Another thread may have installed one meanwhile: theirs stands.
        let _ = logging.install();
    }
}

/// Writes through `eprint!`, so a test harness captures the events of the test that
/// caused them.
#[derive(Clone, Copy)]
struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        eprint!("{}", String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;
    fn make_writer(&'a self) -> Self::Writer {
        Stderr
    }
}

/// The text format: `highwater: [LEVEL: ]MESSAGE[ [target] field=value ...]`.
struct Text;

#[derive(Default)]
struct Fields {
    message: String,
    others: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.others.push((field.name(), value.to_string()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.others.push((field.name(), format!("{value:?}")));
        }
    }
}

impl<S, N> FormatEvent<S, N> for Text
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *meta.level();
        write!(w, "highwater: ")?;
        match level {
            Level::ERROR => write!(w, "error: ")?,
            Level::WARN => write!(w, "warning: ")?,
            Level::INFO => {}
            _ => write!(w, "{}: ", level.as_str().to_ascii_lowercase())?,
        }
        write!(w, "{}", fields.message)?;
        if level > Level::INFO {
            write!(w, " [{}]", meta.target())?;
            for (name, value) in &fields.others {
                write!(w, " {name}={value}")?;
            }
        }
        writeln!(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Captures what a subscriber writes.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn capture(filter: &str, format: LogFormat, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let builder =
            tracing_subscriber::fmt().with_writer(buffer.clone()).with_env_filter(Logging::parse(filter).unwrap());
        match format {
            LogFormat::Text => tracing::subscriber::with_default(builder.event_format(Text).finish(), emit),
            LogFormat::Json => tracing::subscriber::with_default(
                builder.json().flatten_event(true).with_current_span(false).finish(),
                emit,
            ),
        }
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn text_lines_carry_the_level_and_at_debug_the_fields() {
        let out = capture("info", LogFormat::Text, || {
            tracing::warn!(file = "a.csv", "skipping `a.csv`");
            tracing::info!(checkpoint = 3, "resuming from checkpoint 3");
            tracing::debug!(checkpoint = 4, "checkpoint 4 written");
        });
        assert_eq!(out, "highwater: warning: skipping `a.csv`\nhighwater: resuming from checkpoint 3\n");
        let out = capture("debug", LogFormat::Text, || tracing::debug!(checkpoint = 4, "checkpoint 4 written"));
        assert!(
            out.starts_with("highwater: debug: checkpoint 4 written [highwater::logging::tests] checkpoint=4"),
            "{out}"
        );
    }

    #[test]
    fn json_lines_carry_every_field() {
        let out = capture("info", LogFormat::Json, || tracing::warn!(peer = "127.0.0.1:9", open = 4, "refused"));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["message"], "refused");
        assert_eq!(v["peer"], "127.0.0.1:9");
        assert_eq!(v["open"], 4);
    }

    #[test]
    fn directives_filter_by_target_and_bad_levels_are_refused() {
        let out = capture("warn,highwater::logging=debug", LogFormat::Text, || tracing::debug!("shown"));
        assert!(out.contains("shown"), "{out}");
        let out = capture("warn", LogFormat::Text, || tracing::info!("hidden"));
        assert_eq!(out, "");
        for bad in ["", "loud", "info,verbose"] {
            assert!(matches!(Logging::new(bad), Err(LogError::Level { .. })), "{bad}");
        }
        assert!(Logging::new("off").is_ok() && Logging::new("TRACE").is_ok());
    }
}
