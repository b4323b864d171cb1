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
    match io_faults(&target, seed, runs(RUNS)).await {
        Ok(summary) => println!("{summary}"),
        Err(failure) => panic!("{failure}"),
    }
}

/// Found by the hunt: when SQLite cannot open the file for writing (no permission, a full or
/// failing disk) it falls back to a read-only handle, and the writer opened "successfully",
/// then failed its first append with "attempt to write a readonly database". Now the open is
/// refused and names the system's reason.
#[tokio::test]
async fn writer_open_that_sqlite_makes_read_only_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir(&root).unwrap();
    let path = root.join("annal.db");
    let store = SqliteStore::open(&path).unwrap();
    append_one(&store, "agent-1", 1).await;
    drop(store);
    let before = std::fs::read(&path).unwrap();
    let mut command = probe();
    command.arg("open").arg(&path);
    preload(
        &mut command,
        &shim(Path::new(env!("CARGO_TARGET_TMPDIR"))),
        &root,
    );
    // Every open of the database file for writing fails; opens for reading work.
    let plan = FaultPlan {
        at: 1,
        ops: "O".into(),
        errno: annal_testkit::faults::ENOSPC,
        sticky: true,
        partial: false,
    };
    plan.apply(&mut command);
    command.env("ANNAL_FAULT_SUFFIX", "/annal.db");
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the writer opened: {stderr}");
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
