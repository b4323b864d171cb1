// Goal: a failing disk never costs an acknowledged event, never leaves the file unopenable,
// gives every caller a clear storage error, and poisons the writer until it is reopened.
// Method: annal_testkit::faults::io_faults runs the probe (`faults` mode: four tasks appending
// batches of three) under the LD_PRELOAD fault shim, which fails one write, fsync, unlink or
// open of the store's files (EIO or ENOSPC, once or from then on) at a random call; after each
// run the file is reopened and checked.
// The seed is printed; ANNAL_SEED replays it.

use std::path::Path;
use std::sync::Arc;

use annal_core::Store;
use annal_sqlite::SqliteStore;
use annal_testkit::faults::{Target, io_faults, seed, shim};

use crate::processes::probe;

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
        volatile: &|path: &Path| path.to_string_lossy().ends_with("-shm"),
    };
    io_faults(&target, seed, RUNS).await;
}
