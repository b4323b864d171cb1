// Goal: a failing disk never costs an acknowledged event, never leaves the file unopenable,
// gives every caller a clear storage error, and poisons the writer until it is reopened.
// Method: annal_testkit::faults::io_faults runs the probe (`faults` mode: four tasks appending
// batches of three) under the LD_PRELOAD fault shim, which fails one write, fsync, unlink or
// open of the store's files (EIO or ENOSPC, once or from then on) at a random call; after each
// run the file is reopened and checked.
// The seed is printed; ANNAL_SEED replays it; ANNAL_FAULT_RUNS=<n> makes a longer hunt.
// Regression tests pin what the hunt found, each with the one fault that shows it.

use std::path::Path;
use std::sync::Arc;

use annal_core::Store;
use annal_sqlite::SqliteStore;
use annal_testkit::faults::{FaultPlan, Target, io_faults, preload, runs, seed, shim};

use crate::processes::probe;
use crate::support::{append_one, everything};

const RUNS: u64 = 24;

#[tokio::test]
async fn io_faults_lose_nothing_acknowledged_and_poison_the_writer() {
    let seed = seed("sqlite io_faults");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir(&root).unwrap();
    let path = root.join("annal.db");
    let open = || -> Result<Arc<dyn Store>, String> {
        SqliteStore::open(&path)
            .map(|store| Arc::new(store) as Arc<dyn Store>)
            .map_err(|error| error.to_string())
    };
    let target = Target {
        probe: probe().get_program().into(),
        shim: shim(Path::new(env!("CARGO_TARGET_TMPDIR"))),
        dir: root.clone(),
        store: path.clone(),
        open: &open,
        probe_env: &[],
        volatile: &|path: &Path| path.to_string_lossy().ends_with("-shm"),
    };
    match io_faults(&target, seed, runs(RUNS), dir.path()).await {
        Ok(summary) => println!("{summary}"),
        Err(failure) => panic!("{failure}"),
    }
}

/// Runs the probe's `open` mode on the store at `path` (in `root`) under `plan`, counting only
/// calls on paths ending with `suffix` (all, if empty); returns whether it opened, and its
/// stderr.
fn open_under_fault(root: &Path, path: &Path, plan: &FaultPlan, suffix: &str) -> (bool, String) {
    let mut command = probe();
    command.arg("open").arg(path);
    preload(
        &mut command,
        &shim(Path::new(env!("CARGO_TARGET_TMPDIR"))),
        root,
    );
    plan.apply(&mut command);
    if !suffix.is_empty() {
        command.env("ANNAL_FAULT_SUFFIX", suffix);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), stderr)
}

/// A store at `<temp>/store/annal.db` holding one event.
async fn store_with_one_event() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir(&root).unwrap();
    let path = root.join("annal.db");
    let store = SqliteStore::open(&path).unwrap();
    append_one(&store, "agent-1", 1).await;
    drop(store);
    (dir, root, path)
}

/// Found by the hunt: when SQLite cannot open the file for writing (no permission, a full or
/// failing disk) it falls back to a read-only handle, and the writer opened "successfully",
/// then failed its first append with "attempt to write a readonly database". Now the open is
/// refused and names the system's reason.
#[tokio::test]
async fn writer_open_that_sqlite_makes_read_only_is_refused() {
    let (_dir, root, path) = store_with_one_event().await;
    let before = std::fs::read(&path).unwrap();
    // Every open of the database file for writing fails; opens for reading work.
    let plan = FaultPlan {
        at: 1,
        ops: "O".into(),
        errno: annal_testkit::faults::ENOSPC,
        sticky: true,
        partial: false,
    };
    let (opened, stderr) = open_under_fault(&root, &path, &plan, "/annal.db");
    assert!(!opened, "the writer opened: {stderr}");
    assert!(stderr.contains("opening for writing"), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file is untouched"
    );
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(everything(&store).await.len(), 1);
}

/// Found by the hunt: a failure while setting up the writer's connection (here the first
/// write to the WAL index fails) was reported as "reading the header of" the file, which had
/// been read fine; it now says it happened while opening for writing.
#[tokio::test]
async fn writer_setup_failure_is_not_blamed_on_the_header() {
    let (_dir, root, path) = store_with_one_event().await;
    let plan = FaultPlan {
        at: 1,
        ops: "w".into(),
        errno: annal_testkit::faults::EIO,
        sticky: false,
        partial: false,
    };
    let (opened, stderr) = open_under_fault(&root, &path, &plan, "-shm");
    assert!(!opened, "the writer opened: {stderr}");
    assert!(stderr.contains("opening for writing"), "{stderr}");
    assert!(!stderr.contains("reading the header"), "{stderr}");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(everything(&store).await.len(), 1);
}

/// Found by the hunt: an fsync failing while the open marked the writer open (or a poisoned
/// writer closing) let SQLite's close copy the WAL into the file and delete it, leaving
/// `writer_open = 1` in a file without a WAL: every later open refused the store as copied
/// without its WAL, though nothing was missing. Each of the open's first fsyncs fails in turn.
#[tokio::test]
async fn a_failed_fsync_during_the_open_leaves_a_store_that_opens() {
    for at in 1..=8 {
        let (_dir, root, path) = store_with_one_event().await;
        let plan = FaultPlan {
            at,
            ops: "s".into(),
            errno: annal_testkit::faults::EIO,
            sticky: false,
            partial: false,
        };
        let (_, stderr) = open_under_fault(&root, &path, &plan, "");
        let store = SqliteStore::open(&path)
            .unwrap_or_else(|error| panic!("fsync {at} failed ({stderr}); reopening: {error}"));
        assert_eq!(everything(&store).await.len(), 1, "fsync {at}");
    }
}

/// Found by the power-loss hunt: SQLite ignores a failed fsync of the directory when it
/// creates the WAL, so the writer acknowledged appends whose WAL's name a power loss could
/// take away (every one of them lost; the open then refused the file as missing its WAL).
/// The open now fsyncs the directory itself and fails when that fails.
#[tokio::test]
async fn a_failing_directory_fsync_refuses_the_open() {
    let (_dir, root, path) = store_with_one_event().await;
    let plan = FaultPlan {
        at: 1,
        ops: "s".into(),
        errno: annal_testkit::faults::EIO,
        sticky: true,
        partial: false,
    };
    // Only the store's directory ends with "/store": every fsync of it fails.
    let (opened, stderr) = open_under_fault(&root, &path, &plan, "/store");
    assert!(!opened, "the writer opened: {stderr}");
    assert!(stderr.contains("syncing the directory of"), "{stderr}");
    assert!(stderr.contains("Input/output error"), "{stderr}");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(everything(&store).await.len(), 1);
}

/// Found by the power-loss hunt: `PRAGMA journal_mode = WAL` answers "wal" before the commit
/// that writes the change into a new file's header, and that commit's failure (a failed fsync)
/// surfaces only at the statement's next step. The open took the answer, the header was rolled
/// back, and the writer acknowledged appends through a rollback journal in a file it had marked
/// as written through its WAL: after a power loss, every open refused the store as a copy
/// without its WAL. Now the open fails, and the next one creates the store in WAL mode.
#[tokio::test]
async fn a_failed_fsync_while_a_new_store_turns_to_wal_refuses_the_open() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir(&root).unwrap();
    let path = root.join("annal.db");
    // The first fsync of the database file is the one committing the change to WAL.
    let plan = FaultPlan {
        at: 1,
        ops: "s".into(),
        errno: annal_testkit::faults::EIO,
        sticky: false,
        partial: false,
    };
    let (opened, stderr) = open_under_fault(&root, &path, &plan, "/annal.db");
    assert!(!opened, "the writer opened: {stderr}");
    assert!(stderr.contains("disk I/O error"), "{stderr}");
    let store = SqliteStore::open(&path).unwrap();
    append_one(&store, "agent-1", 1).await;
    drop(store);
    let header = std::fs::read(&path).unwrap();
    assert_eq!(header[18..20], [2, 2], "the file's header says WAL mode");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(everything(&store).await.len(), 1);
}
