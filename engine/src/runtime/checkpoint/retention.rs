//! Which checkpoints to keep: the last N complete ones. Older ones, and incomplete ones a
//! crash left behind, are deleted only once a newer checkpoint is complete.

use super::layout::{list, MANIFEST};
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::path::Path;

/// A checkpoint directory as retention sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) id: u64,
    /// Its manifest exists.
    pub(super) complete: bool,
}

/// The checkpoints to delete once checkpoint `newest` is complete: all older than it
/// except the `keep` newest complete ones (`newest` among them) that are not known to be
/// damaged (`bad`). Directories newer than `newest` are checkpoints still being written.
pub(super) fn to_delete(found: &[Found], newest: u64, keep: usize, bad: &BTreeSet<u64>) -> Vec<u64> {
    let mut kept: BTreeSet<u64> = BTreeSet::new();
    for f in found.iter().rev().filter(|f| f.id <= newest && f.complete && !bad.contains(&f.id)) {
        if kept.len() == keep {
            break;
        }
        kept.insert(f.id);
    }
    found.iter().filter(|f| f.id < newest && !kept.contains(&f.id)).map(|f| f.id).collect()
}

/// Deletes what [`to_delete`] says under `root`. A directory that cannot be deleted now
/// is left for the next checkpoint (a full disk never stops a deletion, but a permission
/// might).
pub(super) fn prune(root: &Path, newest: u64, keep: usize, bad: &BTreeSet<u64>) {
    let Ok(dirs) = list(root) else { return };
    let found: Vec<Found> =
        dirs.iter().map(|(id, path)| Found { id: *id, complete: path.join(MANIFEST).exists() }).collect();
    let doomed = to_delete(&found, newest, keep, bad);
    for (id, path) in &dirs {
        if doomed.contains(id) {
            let _ = remove_checkpoint(path);
        }
    }
    let _ = File::open(root).and_then(|d| d.sync_all());
}

/// Deletes checkpoint directory `path`: its manifest first, made durable, so that a crash
/// midway leaves an incomplete checkpoint (ignored, deleted later), never a complete one
/// with files missing.
pub(super) fn remove_checkpoint(path: &Path) -> io::Result<()> {
    match fs::remove_file(path.join(MANIFEST)) {
        Ok(()) => File::open(path)?.sync_all()?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(ids: &[(u64, bool)]) -> Vec<Found> {
        ids.iter().map(|&(id, complete)| Found { id, complete }).collect()
    }

    #[test]
    fn the_last_n_complete_checkpoints_are_kept() {
        let none = BTreeSet::new();
        let all = found(&[(1, true), (2, true), (3, true), (4, true), (5, true)]);
        assert_eq!(to_delete(&all, 5, 3, &none), vec![1, 2]);
        assert_eq!(to_delete(&all, 5, 1, &none), vec![1, 2, 3, 4]);
        assert_eq!(to_delete(&all, 5, 9, &none), Vec::<u64>::new());
    }

    #[test]
    fn incomplete_and_damaged_checkpoints_do_not_count_and_go() {
        let dirs = found(&[(1, true), (2, true), (3, false), (4, true), (5, true), (6, false)]);
        // 3 is incomplete (a crash), 4 damaged: 5, 2, 1 are the three kept; 6 is being written.
        assert_eq!(to_delete(&dirs, 5, 3, &BTreeSet::from([4])), vec![3, 4]);
        assert_eq!(to_delete(&dirs, 5, 2, &BTreeSet::from([4])), vec![1, 3, 4]);
    }
}
