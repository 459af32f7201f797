//! Durable checkpoints: the store every checkpoint of a job is written to and restored
//! from, and the run's checkpoints on it.
//!
//! A run given [`RunCheckpoints`] ([`crate::pipeline::RunConfig::checkpoints`],
//! `highwater run --checkpoint-dir`) takes a checkpoint at a consistent cut every
//! interval — its sources' positions, its windowed steps' state, its file sinks' lengths —
//! and a rerun restores the newest one, at any worker count (`docs/checkpoints.md`: the
//! cut, the restore, what is exactly-once). Underneath is the store described here: a
//! directory of numbered checkpoints, each one file per worker of opaque bytes and a
//! manifest written last; a restore that finds the newest intact one; one job per
//! directory; a full disk that fails a checkpoint and nothing else.
//!
//! # The nouns
//!
//! - A **checkpoint** `N` is the directory `DIR/chk-<N, ten digits>/`: one file per worker,
//!   `worker-<w>.bin` (`w` counted over all processes), holding the bytes the worker
//!   handed in, and `MANIFEST.json` ([`Manifest`]): the format, the id, the **cut**, the
//!   pipeline's **fingerprint**, the worker and process counts, and each file's name,
//!   length and CRC-32. Each process also writes `process-<p>.json`, its **part** (its
//!   files' lengths and checksums), after its files.
//! - The **cut** is a timely [`Time`](crate::model::time::Time) — a watermark and a tick:
//!   the state of every worker as its input frontier first passed it (every stamp before
//!   it applied, none after). The store records it; choosing it is the caller's.
//! - A checkpoint is **complete** once its manifest exists, and **intact** while every file
//!   has the manifest's length and checksum. [`CheckpointStore::latest`] returns the
//!   newest complete, intact checkpoint, and names the file of each newer one it skipped.
//! - **Every file is written durably**: to `NAME.tmp`, fsynced, renamed to `NAME`, the
//!   directory fsynced; the manifest likewise, last. A crash leaves either a complete
//!   checkpoint or an incomplete one, which is ignored and deleted later.
//! - **Retention** keeps the last N complete, intact checkpoints
//!   ([`CheckpointConfig::keep`], default 3). Older ones, damaged ones and incomplete ones
//!   are deleted only after a newer checkpoint is complete, so a failed checkpoint never
//!   costs a previous one.
//! - **One job per directory**: process 0 holds an exclusive `flock` on `DIR/LOCK`
//!   (process `p` > 0 on `DIR/LOCK.<p>`) while its [`CheckpointStore`] lives; a second
//!   job is refused at once, naming the directory and the holder's pid
//!   ([`CheckpointError::Locked`]).
//! - **Processes**: each process writes its own workers' files and its part; process 0,
//!   the coordinator, waits for every part ([`CheckpointConfig::commit_timeout`]), writes
//!   the manifest and applies retention.
//!
//! # Example
//!
//! Two workers in one process write a checkpoint; a later run of the same pipeline finds
//! it.
//!
//! ```
//! use highwater::model::time::Time;
//! use highwater::runtime::checkpoint::{CheckpointConfig, Commit, Job};
//!
//! # fn main() -> Result<(), highwater::runtime::checkpoint::CheckpointError> {
//! let dir = std::env::temp_dir().join(format!("hw-doc-checkpoints-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let config = CheckpointConfig::new(&dir).keep(3);
//! {
//!     let store = config.open(Job::new("wordcount v3", 2))?;
//!     assert!(store.latest()?.checkpoint().is_none());
//!     let pending = store.begin(store.next_id()?, Time::new(60_000, 0))?;
//!     pending.write(0, b"the state of worker 0")?;
//!     pending.write(1, b"the state of worker 1")?;
//!     let Commit::Complete(manifest) = pending.commit()? else { unreachable!("process 0 completes") };
//!     assert_eq!((manifest.checkpoint, manifest.workers), (1, 2));
//! } // the store is dropped: the directory is unlocked
//!
//! // The same pipeline, later (at another worker count, even).
//! let store = config.open(Job::new("wordcount v3", 4))?;
//! let latest = store.latest()?;
//! for warning in latest.skipped() {
//!     eprintln!("warning: {warning}");
//! }
//! let checkpoint = latest.checkpoint().expect("checkpoint 1");
//! assert_eq!(checkpoint.cut(), Time::new(60_000, 0));
//! assert_eq!(checkpoint.read_worker(1)?, b"the state of worker 1");
//! # drop(store);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```
//!
//! A failed checkpoint is reported and the job goes on:
//!
//! ```no_run
//! # use highwater::model::time::Time;
//! # use highwater::runtime::checkpoint::{CheckpointConfig, CheckpointError, CheckpointStore, Job};
//! fn checkpoint(store: &CheckpointStore, cut: Time, state: &[u8]) -> Result<(), CheckpointError> {
//!     let pending = store.begin(store.next_id()?, cut)?;
//!     pending.write(0, state)?;
//!     pending.commit()?;
//!     Ok(())
//! }
//! # let store = CheckpointConfig::new("/tmp/x").open(Job::new("p", 1)).unwrap();
//! match checkpoint(&store, Time::new(1_000, 0), b"...") {
//!     Err(e) if e.fails_only_the_checkpoint() => eprintln!("warning: {e}"), // e.g. a full disk
//!     Err(e) => panic!("{e}"),
//!     Ok(()) => {}
//! }
//! ```

mod commit;
mod config;
pub(crate) mod control;
pub(crate) mod coordinator;
mod durable;
mod error;
mod invalid;
mod job;
mod layout;
mod lock;
mod manifest;
mod restore;
mod retention;
mod settings;
mod store;
mod writer;

pub use config::CheckpointConfig;
pub use error::CheckpointError;
pub use invalid::{Invalid, InvalidReason};
pub use job::Job;
pub use manifest::{FileEntry, Manifest, FORMAT};
pub use restore::Checkpoint;
pub use settings::RunCheckpoints;
pub use store::{CheckpointStore, Latest};
pub use writer::{Commit, PendingCheckpoint};

#[cfg(test)]
mod tests;
