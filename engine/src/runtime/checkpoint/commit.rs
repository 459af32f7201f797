//! Completing a checkpoint (process 0): wait for every process's part, check that they
//! agree, write the manifest last.

use super::durable::write_file;
use super::error::CheckpointError;
use super::layout::{part_file, worker_file, MANIFEST};
use super::manifest::{Manifest, Part, FORMAT};
use super::store::CheckpointStore;
use highwater_operators::time::Time;
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

/// How often the coordinator looks for the parts it waits for.
const POLL: Duration = Duration::from_millis(20);

/// Waits (up to the store's commit timeout) until every process of the job has written
/// its part of checkpoint `id` in `dir`, checks that each part is of this checkpoint, cut
/// and pipeline and lists the files of its own workers, present with the listed lengths,
/// then writes the manifest durably: from then on the checkpoint is complete. It stops
/// waiting early once `give_up` says the missing parts will not come (the other processes'
/// runs are over), after one more look for them.
pub(super) fn complete(
    store: &CheckpointStore,
    id: u64,
    cut: Time,
    dir: &Path,
    give_up: &dyn Fn() -> bool,
) -> Result<Manifest, CheckpointError> {
    let job = &store.job;
    let start = Instant::now();
    let mut parts: BTreeMap<usize, Part> = BTreeMap::new();
    loop {
        let last_look = give_up();
        for process in 0..job.processes() {
            if parts.contains_key(&process) {
                continue;
            }
            if let Some(part) = read_part(dir, id, process)? {
                check_part(store, &part, id, cut, process).map_err(|reason| CheckpointError::PartMismatch {
                    checkpoint: id,
                    path: dir.join(part_file(process)),
                    reason,
                })?;
                parts.insert(process, part);
            }
        }
        if parts.len() == job.processes() {
            break;
        }
        if last_look || start.elapsed() >= store.commit_timeout {
            return Err(CheckpointError::CommitTimeout {
                checkpoint: id,
                missing: (0..job.processes()).filter(|p| !parts.contains_key(p)).collect(),
                waited: start.elapsed(),
            });
        }
        std::thread::sleep(POLL);
    }
    // Parts in process order, each in worker order: the files in worker order.
    let files: Vec<_> = parts.into_values().flat_map(|p| p.files).collect();
    for f in &files {
        let path = dir.join(&f.name);
        let len = std::fs::metadata(&path).map(|m| m.len());
        if len.as_ref().ok() != Some(&f.len) {
            let found = len.map_or_else(|e| e.to_string(), |l| format!("{l} bytes"));
            return Err(CheckpointError::PartMismatch {
                checkpoint: id,
                path,
                reason: format!("should have {} bytes as its process's part says, has {found}", f.len),
            });
        }
    }
    let manifest = Manifest {
        format: FORMAT,
        checkpoint: id,
        cut,
        fingerprint: job.fingerprint().to_string(),
        workers: job.total_workers(),
        processes: job.processes(),
        files,
    };
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| CheckpointError::Write {
        checkpoint: id,
        path: dir.join(MANIFEST),
        action: "serialize",
        source: io::Error::other(e),
    })?;
    write_file(id, dir, MANIFEST, &bytes)?;
    Ok(manifest)
}

/// Process `process`'s part of checkpoint `id`, if it is there yet.
fn read_part(dir: &Path, id: u64, process: usize) -> Result<Option<Part>, CheckpointError> {
    let path = dir.join(part_file(process));
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(CheckpointError::Write { checkpoint: id, path, action: "read", source }),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| CheckpointError::PartMismatch {
        checkpoint: id,
        path,
        reason: format!("is not a valid part: {e}"),
    })
}

/// Whether `part` belongs to checkpoint `id` at `cut` of this job and lists exactly the
/// files of process `process`'s workers.
fn check_part(store: &CheckpointStore, part: &Part, id: u64, cut: Time, process: usize) -> Result<(), String> {
    let job = &store.job;
    if part.format != FORMAT || part.checkpoint != id || part.process != process {
        return Err(format!(
            "is format {}, checkpoint {}, process {}: expected format {FORMAT}, checkpoint {id}, process {process}",
            part.format, part.checkpoint, part.process
        ));
    }
    if part.cut != cut {
        return Err(format!("cuts at {:?}, the coordinator at {cut:?}: every process cuts at the same time", part.cut));
    }
    if part.fingerprint != job.fingerprint() {
        return Err(format!(
            "was written by pipeline `{}`, the coordinator runs `{}`: every process runs the same pipeline",
            part.fingerprint,
            job.fingerprint()
        ));
    }
    let names: Vec<&str> = part.files.iter().map(|f| f.name.as_str()).collect();
    let expected: Vec<String> = job.workers_of(process).map(worker_file).collect();
    if names != expected {
        return Err(format!(
            "lists [{}], process {process} runs workers {:?}: does every process run {} workers?",
            names.join(", "),
            job.workers_of(process),
            job.workers()
        ));
    }
    Ok(())
}
