//! The flags that watch a job while it runs (`highwater run`, `highwater nexmark`):
//! `--metrics-addr` and `--stall-warning`.

use crate::pipeline::RunConfig;
use highwater_operators::duration::parse_ticks;
use std::time::Duration;

/// Metrics and the stall warning (`docs/observability.md`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ObserveArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics and a status page at http://ADDR/
    /// while the job runs (ADDR is HOST:PORT, or a bare port on 127.0.0.1; port 0 picks a
    /// free one, printed on stderr). Binds loopback unless a host is given; each process
    /// of a cluster serves its own workers.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// Warn on stderr when the output watermark has not moved for this long while records
    /// arrive (or, on a socket, while time passes), naming the partition holding it back
    /// (file and byte range, or connection), its watermark and how long it has been
    /// silent. 0 turns the warning off.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub stall_warning: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let ms = parse_ticks(text)?;
    u64::try_from(ms).map(Duration::from_millis).map_err(|_| format!("`{text}` is negative; use 0 to turn it off"))
}

impl ObserveArgs {
    /// `config` with these flags' metrics endpoint and stall warning.
    ///
    /// ```
    /// use clap::Parser;
    /// use highwater::cli::run::RunArgs;
    /// use highwater::pipeline::RunConfig;
    /// use std::time::Duration;
    /// let args = RunArgs::try_parse_from([
    ///     "run", "--input", "x.csv", "--time-field", "t", "--metrics-addr", "9464", "--stall-warning", "30s",
    /// ]).unwrap();
    /// let config = args.observe.apply(RunConfig::workers(1));
    /// assert_eq!(config.metrics_addr.as_deref(), Some("9464"));
    /// assert_eq!(config.stall_warning, Some(Duration::from_secs(30)));
    /// ```
    pub fn apply(&self, config: RunConfig) -> RunConfig {
        let mut config = config.stall_warning(Some(self.stall_warning).filter(|d| !d.is_zero()));
        if let Some(a) = &self.metrics_addr {
            config = config.metrics_addr(a.clone());
        }
        config
    }
}
