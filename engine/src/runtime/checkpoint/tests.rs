//! The store against a real file system: round trips, retention, damaged and incomplete
//! checkpoints, the lock, a full disk (a small tmpfs when this process may mount one, and
//! `/dev/full`), several processes.

use super::layout::{checkpoint_dir, part_file, temp_name, worker_file, MANIFEST};
use super::*;
use crate::model::time::Time;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A fresh directory for one test, removed when it passes.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hw-checkpoint-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        TestDir(dir)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

const FP: &str = "test pipeline v1";

fn cut(n: u64) -> Time {
    Time::new(1_000 * n as i64, n)
}

/// The bytes worker `w` writes in checkpoint `id`.
fn state(id: u64, w: usize) -> Vec<u8> {
    format!("checkpoint {id}, worker {w}: {}", "x".repeat(100 + w)).into_bytes()
}

/// Writes and completes the next checkpoint of a single-process store.
fn checkpoint(store: &CheckpointStore) -> Result<Manifest, CheckpointError> {
    let id = store.next_id()?;
    let pending = store.begin(id, cut(id))?;
    for w in store.job().local_workers() {
        pending.write(w, &state(id, w))?;
    }
    match pending.commit()? {
        Commit::Complete(m) => Ok(m),
        other => panic!("process 0 completes: {other:?}"),
    }
}

/// The checkpoint directories present, by id.
fn ids(dir: &Path) -> Vec<u64> {
    super::layout::list(dir).unwrap().into_iter().map(|(id, _)| id).collect()
}

/// Every file under `dir` whose name ends in `.tmp`.
fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(temp_files(&p));
        } else if p.to_string_lossy().ends_with(".tmp") {
            out.push(p);
        }
    }
    out
}

fn latest_id(store: &CheckpointStore) -> Option<u64> {
    store.latest().unwrap().checkpoint().map(Checkpoint::id)
}

#[test]
fn a_checkpoint_round_trips() {
    let t = TestDir::new("round-trip");
    let store = CheckpointConfig::new(&t.0).open(Job::new(FP, 3)).unwrap();
    assert!(store.latest().unwrap().checkpoint().is_none());
    assert_eq!(store.next_id().unwrap(), 1);
    let written = checkpoint(&store).unwrap();
    assert_eq!((written.checkpoint, written.cut, written.workers, written.processes), (1, cut(1), 3, 1));
    assert_eq!(written.fingerprint, FP);

    let chk = t.0.join(checkpoint_dir(1));
    let mut names: Vec<String> =
        fs::read_dir(&chk).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["MANIFEST.json", "process-0.json", "worker-0.bin", "worker-1.bin", "worker-2.bin"]);
    let on_disk: Manifest = serde_json::from_slice(&fs::read(chk.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(on_disk, written);
    assert_eq!(on_disk.files[2].len, state(1, 2).len() as u64);
    assert_eq!(on_disk.files[2].crc32, crc32fast::hash(&state(1, 2)));

    let latest = store.latest().unwrap();
    assert!(latest.skipped().is_empty());
    let found = latest.checkpoint().unwrap();
    assert_eq!((found.id(), found.cut(), found.workers(), found.manifest()), (1, cut(1), 3, &written));
    for w in 0..3 {
        assert_eq!(found.read_worker(w).unwrap(), state(1, w));
    }
    assert!(matches!(found.read_worker(3), Err(CheckpointError::NoSuchWorker { worker: 3, workers: 3, .. })));
    assert_eq!(store.next_id().unwrap(), 2);
    assert!(temp_files(&t.0).is_empty());
}

#[test]
fn the_last_n_complete_checkpoints_are_kept() {
    let t = TestDir::new("keep");
    let store = CheckpointConfig::new(&t.0).keep(2).open(Job::new(FP, 1)).unwrap();
    for n in 1..=5 {
        checkpoint(&store).unwrap();
        let expect: Vec<u64> = (n.max(2) - 1..=n).collect();
        assert_eq!(ids(&t.0), expect, "after checkpoint {n}");
    }
    assert_eq!(latest_id(&store), Some(5));
    drop(store);
    let store = CheckpointConfig::new(&t.0).open(Job::new(FP, 1)).unwrap();
    checkpoint(&store).unwrap();
    assert_eq!(ids(&t.0), [4, 5, 6], "the default keeps 3");
    assert!(matches!(CheckpointConfig::new(&t.0).keep(0).open(Job::new(FP, 1)), Err(CheckpointError::InvalidJob(_))));
}

/// Checkpoints 1 and 2, then `damage` done to checkpoint 2: the restore takes checkpoint 1
/// and names `file` of checkpoint 2; the next checkpoint deletes checkpoint 2.
fn falls_back(name: &str, file: &str, damage: impl FnOnce(&Path), reason: impl Fn(&InvalidReason) -> bool) {
    let t = TestDir::new(name);
    let store = CheckpointConfig::new(&t.0).open(Job::new(FP, 2)).unwrap();
    checkpoint(&store).unwrap();
    checkpoint(&store).unwrap();
    let bad = t.0.join(checkpoint_dir(2)).join(file);
    damage(&bad);
    let latest = store.latest().unwrap();
    assert_eq!(latest.checkpoint().map(Checkpoint::id), Some(1), "{name}");
    assert_eq!(latest.checkpoint().unwrap().read_worker(1).unwrap(), state(1, 1));
    let [skipped] = latest.skipped() else { panic!("{name}: {:?}", latest.skipped()) };
    assert_eq!((skipped.checkpoint, &skipped.path), (2, &bad), "{name}");
    assert!(reason(&skipped.reason), "{name}: {:?}", skipped.reason);
    let warning = skipped.to_string();
    assert!(warning.contains("checkpoint 2") && warning.contains(&bad.display().to_string()), "{warning}");

    // The damaged checkpoint does not count among the three kept, and goes.
    checkpoint(&store).unwrap();
    assert_eq!(ids(&t.0), [1, 3], "{name}");
    assert_eq!(latest_id(&store), Some(3));
}

#[test]
fn a_flipped_byte_falls_back_to_the_previous_checkpoint() {
    falls_back(
        "flipped",
        "worker-1.bin",
        |p| {
            let mut bytes = fs::read(p).unwrap();
            bytes[10] ^= 0x01;
            fs::write(p, bytes).unwrap();
        },
        |r| matches!(r, InvalidReason::Checksum { .. }),
    );
}

#[test]
fn a_truncated_file_falls_back_to_the_previous_checkpoint() {
    falls_back(
        "truncated",
        "worker-0.bin",
        |p| fs::OpenOptions::new().write(true).open(p).unwrap().set_len(7).unwrap(),
        |r| matches!(r, InvalidReason::Length { found: 7, .. }),
    );
}

#[test]
fn a_deleted_file_falls_back_to_the_previous_checkpoint() {
    falls_back("deleted", "worker-1.bin", |p| fs::remove_file(p).unwrap(), |r| matches!(r, InvalidReason::Missing(_)));
}

#[test]
fn a_garbage_manifest_falls_back_to_the_previous_checkpoint() {
    falls_back(
        "garbage-manifest",
        MANIFEST,
        |p| fs::write(p, b"{\"format\": 1, \"checkpoint\": 2, \x00\xff garbage").unwrap(),
        |r| matches!(r, InvalidReason::BadManifest(_)),
    );
}

#[test]
fn a_manifest_of_another_checkpoint_falls_back_to_the_previous_checkpoint() {
    falls_back(
        "moved-manifest",
        MANIFEST,
        |p| {
            fs::copy(p.parent().unwrap().parent().unwrap().join(checkpoint_dir(1)).join(MANIFEST), p).map(drop).unwrap()
        },
        |r| matches!(r, InvalidReason::BadManifest(e) if e.contains("checkpoint 1")),
    );
}

#[test]
fn a_crash_while_writing_is_ignored_and_cleaned() {
    let t = TestDir::new("crash");
    let store = CheckpointConfig::new(&t.0).open(Job::new(FP, 2)).unwrap();
    checkpoint(&store).unwrap();
    // What a crash leaves: checkpoint 2 with one file renamed, one still temporary, no
    // manifest; and a manifest still under its temporary name.
    let chk2 = t.0.join(checkpoint_dir(2));
    fs::create_dir(&chk2).unwrap();
    fs::write(chk2.join(worker_file(0)), b"complete").unwrap();
    fs::write(chk2.join(temp_name(&worker_file(1))), b"half").unwrap();
    fs::write(chk2.join(temp_name(MANIFEST)), b"{").unwrap();
    drop(store);

    let store = CheckpointConfig::new(&t.0).open(Job::new(FP, 2)).unwrap();
    let latest = store.latest().unwrap();
    assert_eq!(latest.checkpoint().map(Checkpoint::id), Some(1));
    let [skipped] = latest.skipped() else { panic!("{:?}", latest.skipped()) };
    assert_eq!(
        (skipped.checkpoint, &skipped.path, &skipped.reason),
        (2, &chk2.join(MANIFEST), &InvalidReason::Incomplete)
    );
    // The next checkpoint does not reuse the crashed one's files, and removes them once it
    // is complete.
    assert_eq!(store.next_id().unwrap(), 3);
    checkpoint(&store).unwrap();
    assert_eq!(ids(&t.0), [1, 3]);
    assert!(temp_files(&t.0).is_empty());
}

#[test]
fn a_second_store_on_one_directory_is_refused_while_the_first_lives() {
    let t = TestDir::new("lock");
    let first = CheckpointConfig::new(&t.0).open(Job::new(FP, 1)).unwrap();
    let err = CheckpointConfig::new(&t.0).open(Job::new("another job", 4)).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, CheckpointError::Locked { .. }), "{err:?}");
    assert!(message.contains(&t.0.display().to_string()), "{message}");
    assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");
    // The processes of one cluster do not refuse each other; a second cluster's do.
    let second_process = CheckpointConfig::new(&t.0).open(Job::new(FP, 1).cluster(2, 1)).unwrap();
    assert!(CheckpointConfig::new(&t.0).open(Job::new(FP, 1).cluster(2, 1)).is_err());
    drop((first, second_process));
    CheckpointConfig::new(&t.0).open(Job::new(FP, 1)).unwrap();
}

/// The other job of `a_second_job_is_refused_naming_the_holders_pid`: a child process that
/// holds the directory `HW_CHECKPOINT_LOCK_CHILD` names until its standard input closes.
/// Without that variable (an ordinary test run), it does nothing.
#[test]
fn lock_holder_child() {
    use std::io::Read;
    let Some(dir) = std::env::var_os("HW_CHECKPOINT_LOCK_CHILD") else { return };
    let _store = CheckpointConfig::new(dir).open(Job::new(FP, 1)).unwrap();
    println!("locked");
    let _ = std::io::stdin().read(&mut [0u8]);
}

#[test]
fn a_second_job_is_refused_naming_the_holders_pid() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let t = TestDir::new("lock-process");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "runtime::checkpoint::tests::lock_holder_child", "--nocapture", "--quiet"])
        .env("HW_CHECKPOINT_LOCK_CHILD", &t.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.is_ok_and(|l| l.trim() == "locked")), "the child took the lock");
    let err = CheckpointConfig::new(&t.0).open(Job::new(FP, 1)).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, CheckpointError::Locked { .. }), "{err:?}");
    assert!(message.contains(&format!("pid {} on", child.id())), "{message}");
    assert!(message.contains(&t.0.display().to_string()), "{message}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    // The holder is gone: so is its lock.
    CheckpointConfig::new(&t.0).open(Job::new(FP, 1)).unwrap();
}

#[test]
fn another_pipeline_is_refused_naming_both_fingerprints_and_fresh_starts_over() {
    let t = TestDir::new("fingerprint");
    {
        let store = CheckpointConfig::new(&t.0).open(Job::new(FP, 1)).unwrap();
        checkpoint(&store).unwrap();
    }
    let store = CheckpointConfig::new(&t.0).open(Job::new("test pipeline v2", 1)).unwrap();
    let err = store.latest().unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, CheckpointError::FingerprintMismatch { checkpoint: 1, .. }), "{err:?}");
    for needle in [FP, "test pipeline v2", "--fresh"] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    store.discard_all().unwrap();
    assert!(store.latest().unwrap().checkpoint().is_none());
    assert_eq!(ids(&t.0), Vec::<u64>::new());
}

#[test]
fn a_manifest_of_a_newer_format_is_refused_not_skipped() {
    let t = TestDir::new("format");
    let store = CheckpointConfig::new(&t.0).open(Job::new(FP, 1)).unwrap();
    checkpoint(&store).unwrap();
    checkpoint(&store).unwrap();
    let path = t.0.join(checkpoint_dir(2)).join(MANIFEST);
    fs::write(&path, br#"{"format": 2, "something": "new"}"#).unwrap();
    let err = store.latest().unwrap_err();
    assert!(
        matches!(&err, CheckpointError::UnsupportedFormat { found: 2, supported: 1, path: p } if *p == path),
        "{err:?}"
    );
}

#[test]
fn a_worker_missing_at_the_commit_abandons_the_checkpoint() {
    let t = TestDir::new("missing-worker");
    let store = CheckpointConfig::new(&t.0).open(Job::new(FP, 3)).unwrap();
    checkpoint(&store).unwrap();
    let pending = store.begin(2, cut(2)).unwrap();
    pending.write(0, b"a").unwrap();
    assert!(matches!(
        pending.write(3, b"b"),
        Err(CheckpointError::NotLocalWorker { worker: 3, first: 0, last: 2, .. })
    ));
    let err = pending.commit().unwrap_err();
    assert!(
        matches!(&err, CheckpointError::MissingWorkers { checkpoint: 2, workers } if *workers == [1, 2]),
        "{err:?}"
    );
    assert!(err.fails_only_the_checkpoint());
    assert_eq!(ids(&t.0), [1]);
    // Dropped uncommitted: abandoned too.
    let pending = store.begin(2, cut(2)).unwrap();
    pending.write(0, b"a").unwrap();
    drop(pending);
    assert_eq!(ids(&t.0), [1]);
    assert!(matches!(store.begin(1, cut(1)), Err(CheckpointError::Exists { checkpoint: 1, .. })));
}

/// Process `process` of a cluster of two, two workers each, writing checkpoint `id`.
fn write_part(store: &CheckpointStore, id: u64) -> Result<Commit, CheckpointError> {
    let pending = store.begin(id, cut(id))?;
    for w in store.job().local_workers() {
        pending.write(w, &state(id, w))?;
    }
    pending.commit()
}

#[test]
fn process_0_completes_a_checkpoint_once_every_process_wrote_its_part() {
    let t = TestDir::new("processes");
    let config = CheckpointConfig::new(&t.0).commit_timeout(Duration::from_secs(30));
    let p0 = config.open(Job::new(FP, 2).cluster(2, 0)).unwrap();
    let p1 = config.open(Job::new(FP, 2).cluster(2, 1)).unwrap();
    for id in 1..=4 {
        let manifest = std::thread::scope(|s| {
            let other = s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                write_part(&p1, id)
            });
            let done = write_part(&p0, id);
            assert_eq!(other.join().unwrap().unwrap(), Commit::PartWritten { checkpoint: id });
            done.unwrap()
        });
        let Commit::Complete(m) = manifest else { panic!("{manifest:?}") };
        assert_eq!((m.workers, m.processes, m.files.len()), (4, 2, 4));
    }
    assert_eq!(ids(&t.0), [2, 3, 4]);
    let chk = t.0.join(checkpoint_dir(4));
    assert!(chk.join(part_file(0)).exists() && chk.join(part_file(1)).exists());
    drop((p0, p1));
    // Restored by one process of one worker: every worker's bytes are there.
    let store = config.open(Job::new(FP, 1)).unwrap();
    let latest = store.latest().unwrap();
    let found = latest.checkpoint().unwrap();
    assert_eq!((found.id(), found.workers()), (4, 4));
    for w in 0..4 {
        assert_eq!(found.read_worker(w).unwrap(), state(4, w));
    }
}

#[test]
fn a_process_that_writes_no_part_fails_the_checkpoint_not_the_previous_one() {
    let t = TestDir::new("commit-timeout");
    let config = CheckpointConfig::new(&t.0).commit_timeout(Duration::from_millis(300));
    let p0 = config.open(Job::new(FP, 1).cluster(3, 0)).unwrap();
    let p1 = config.open(Job::new(FP, 1).cluster(3, 1)).unwrap();
    let p2 = config.open(Job::new(FP, 1).cluster(3, 2)).unwrap();
    write_part(&p1, 1).unwrap();
    write_part(&p2, 1).unwrap();
    assert!(matches!(write_part(&p0, 1), Ok(Commit::Complete(_))));
    write_part(&p2, 2).unwrap();
    let err = write_part(&p0, 2).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::CommitTimeout { checkpoint: 2, missing, .. } if *missing == [1]),
        "{err:?}"
    );
    assert!(err.fails_only_the_checkpoint());
    assert!(err.to_string().contains("process 1 wrote no part"), "{err}");
    assert_eq!(ids(&t.0), [1]);
    assert_eq!(latest_id(&p0), Some(1));
}

#[test]
fn a_part_of_another_cut_is_refused() {
    let t = TestDir::new("part-mismatch");
    let config = CheckpointConfig::new(&t.0).commit_timeout(Duration::from_secs(10));
    let p0 = config.open(Job::new(FP, 1).cluster(2, 0)).unwrap();
    let p1 = config.open(Job::new(FP, 1).cluster(2, 1)).unwrap();
    let other = p1.begin(1, cut(9)).unwrap();
    other.write(1, b"b").unwrap();
    other.commit().unwrap();
    let err = write_part(&p0, 1).unwrap_err();
    assert!(matches!(&err, CheckpointError::PartMismatch { checkpoint: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("process-1.json"), "{err}");
    assert_eq!(ids(&t.0), Vec::<u64>::new());
}

/// Checkpoint 1 is complete; checkpoint 2 cannot be written (the disk is full): it fails
/// with `ENOSPC`, leaves no file behind, and checkpoint 1 is still the one restored; once
/// there is room again, the next checkpoint succeeds.
fn full_disk_fails_only_the_checkpoint(dir: &Path, fill: impl FnOnce(&CheckpointStore) -> CheckpointError) {
    let store = CheckpointConfig::new(dir).open(Job::new(FP, 2)).unwrap();
    checkpoint(&store).unwrap();
    let err = fill(&store);
    assert!(err.fails_only_the_checkpoint(), "{err:?}");
    let CheckpointError::Write { checkpoint: 2, source, .. } = &err else { panic!("{err:?}") };
    assert_eq!(source.raw_os_error(), Some(libc::ENOSPC), "{err}");
    assert!(err.to_string().contains("previous checkpoints are kept"), "{err}");
    assert_eq!(ids(dir), [1], "the failed checkpoint's files are removed");
    assert!(temp_files(dir).is_empty());
    let latest = store.latest().unwrap();
    assert!(latest.skipped().is_empty(), "{:?}", latest.skipped());
    assert_eq!(latest.checkpoint().unwrap().read_worker(1).unwrap(), state(1, 1));
    // The job goes on: the next checkpoint fits.
    assert_eq!(checkpoint(&store).unwrap().checkpoint, 2);
    assert_eq!(latest_id(&store), Some(2));
}

/// A tmpfs of `size` mounted for one test, unmounted when dropped; `None` (with the reason
/// on stderr) when this process may not mount (not root, no `CAP_SYS_ADMIN`).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Option<Tmpfs> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let path = std::env::temp_dir().join(format!("hw-tmpfs-{name}-{}", std::process::id()));
        fs::create_dir_all(&path).ok()?;
        let target = CString::new(path.as_os_str().as_bytes()).ok()?;
        let data = CString::new(format!("size={size},mode=0700")).ok()?;
        // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
        let rc = unsafe { libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, data.as_ptr().cast()) };
        if rc != 0 {
            eprintln!("cannot mount a tmpfs ({}): the full-disk test needs root", std::io::Error::last_os_error());
            let _ = fs::remove_dir(&path);
            return None;
        }
        Some(Tmpfs(path))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;
        if let Ok(target) = std::ffi::CString::new(self.0.as_os_str().as_bytes()) {
            // SAFETY: a valid NUL-terminated path.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = fs::remove_dir(&self.0);
    }
}

#[test]
fn a_full_tmpfs_fails_the_checkpoint_and_keeps_the_previous_one() {
    // The test suite runs as root (`.ci/run` says so): a tmpfs it cannot mount is a
    // failure, not a skipped test.
    let tmpfs = Tmpfs::mount("full", "256k").expect("mount a 256 KiB tmpfs: run the tests as root (CAP_SYS_ADMIN)");
    let dir = tmpfs.0.join("checkpoints");
    full_disk_fails_only_the_checkpoint(&dir, |store| {
        let pending = store.begin(2, cut(2)).unwrap();
        // Worker 0's 150 KiB fit, worker 1's do not: worker 0's file must go too.
        pending.write(0, &vec![7u8; 150 << 10]).unwrap();
        pending.write(1, &vec![7u8; 150 << 10]).unwrap_err()
    });
}

#[test]
fn a_write_to_dev_full_fails_the_checkpoint_and_keeps_the_previous_one() {
    let t = TestDir::new("dev-full");
    full_disk_fails_only_the_checkpoint(&t.0, |store| {
        let pending = store.begin(2, cut(2)).unwrap();
        pending.write(0, b"fits").unwrap();
        // Worker 1's temporary file is the full device.
        let temp = t.0.join(checkpoint_dir(2)).join(temp_name(&worker_file(1)));
        std::os::unix::fs::symlink("/dev/full", temp).unwrap();
        pending.write(1, b"does not fit").unwrap_err()
    });
}
