//! The command line's jobs as library functions, so tests and programs run them without
//! spawning the binary.
//!
//! - [`run`]: `highwater run`, a keyed windowed aggregation over files or a socket.
//! - [`aggregates`]: several aggregates of named fields as one combiner.
//! - [`nexmark`]: `highwater nexmark`, the benchmark's generator and queries.
//! - [`kafka_produce`]: `highwater kafka-produce`, a file's lines into a Kafka topic.
//! - [`cluster`]: the flags that place a job on workers and processes.
//! - [`local_cluster`]: `highwater cluster`, a cluster of processes on this machine.
//! - [`observe`]: `--metrics-addr` and `--stall-warning`, shared by `run` and `nexmark`.

pub mod aggregates;
pub mod cluster;
pub mod diagram;
pub mod kafka_produce;
pub mod local_cluster;
pub mod nexmark;
pub mod observe;
mod progress;
pub mod run;
