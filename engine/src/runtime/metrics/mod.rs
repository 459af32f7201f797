//! What the stream is doing, while it runs: the counters the steps keep, the status a
//! person or a program reads ([`Status`], from [`crate::pipeline::Progress::status`]), the
//! Prometheus endpoint that serves them ([`RunConfig::metrics_addr`]) and the warning that
//! names the partition holding the watermark back ([`RunConfig::stall_warning`]).
//!
//! **Cheap on the hot path.** Nothing here is touched per record. Each step of each worker
//! owns its *cell* — relaxed atomics only it writes (panes, dropped records, its output
//! watermark), or, for a source, a small report it refreshes at most every
//! [`PUBLISH_EVERY`] of processing time (its partitions' watermarks, records, dead
//! letters, silence). A scrape, a status or the stall watcher reads the cells and sums
//! them over the workers of this process; each process of a cluster serves its own.
//!
//! | module | holds |
//! |---|---|
//! | `cells.rs` | the per-worker cells of steps and sources, and [`Metrics`], which lists them |
//! | `status.rs` | [`Status`]: sources, partitions, steps, checkpoints; who holds the watermark back ([`HoldBack`]); the cap on partition series |
//! | `exposition.rs` | the `highwater_*` metrics in the Prometheus/OpenMetrics text format (`prometheus-client`) |
//! | `server.rs` | the HTTP endpoint (`hyper` on a `tokio` thread of its own): `/metrics` and the status page `/` |
//! | `stall.rs` | the stall watcher: the warning on standard error |
//!
//! [`RunConfig::metrics_addr`]: crate::pipeline::RunConfig::metrics_addr
//! [`RunConfig::stall_warning`]: crate::pipeline::RunConfig::stall_warning

mod cells;
mod error;
mod exposition;
mod page;
mod server;
mod stall;
mod status;

pub use cells::{Metrics, PUBLISH_EVERY};
pub(crate) use cells::{PartitionReport, SourceReport, StepCell};
pub use error::MetricsError;
pub use exposition::encode;
pub use server::MetricsServer;
pub(crate) use stall::StallWatcher;
pub use status::{cap_partitions, HoldBack, PartitionSeries, PartitionStatus, SourceStatus, Status, StepStatus};
pub use status::{describe_watermark, MAX_PARTITION_SERIES, OTHER_PARTITIONS};
