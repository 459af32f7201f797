//! Why the metrics endpoint could not start.

/// The metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The address does not parse or resolve.
    #[error("metrics address `{address}`: {reason}; give HOST:PORT, e.g. 127.0.0.1:9464 (port 0 picks a free one)")]
    Address {
        /// The address given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The address cannot be bound (in use, not this machine's, a privileged port).
    #[error("metrics address `{address}` cannot be bound: {source}; choose another port (0 picks a free one)")]
    Bind {
        /// The address given.
        address: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The server's thread or runtime could not start.
    #[error("the metrics server cannot start: {0}")]
    Start(std::io::Error),
}
