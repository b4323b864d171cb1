// Goal: a failing disk never costs an acknowledged event, never leaves the store unopenable,
// gives every caller a clear storage error, and poisons the writer until it is reopened.
// Method: annal_testkit::faults::io_faults runs the probe (`faults` mode: four tasks appending
// batches of three) under the LD_PRELOAD fault shim, which fails one write, fsync, rename or
// open of the store's files (EIO or ENOSPC, once or from then on) at a random call; after each
// run the directory is reopened (running recovery) and checked.
// The seed is printed; ANNAL_SEED replays it; ANNAL_FAULT_RUNS=<n> makes a longer hunt.

use std::path::Path;
use std::sync::Arc;

use annal_core::Store;
use annal_ndjson::NdjsonStore;
use annal_testkit::faults::{Target, io_faults, runs, seed, shim};

use crate::processes::probe;

const RUNS: u64 = 24;

#[tokio::test]
async fn io_faults_lose_nothing_acknowledged_and_poison_the_writer() {
    let seed = seed("ndjson io_faults");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir(&root).unwrap();
    let open = || -> Result<Arc<dyn Store>, String> {
        NdjsonStore::open(&root)
            .map(|store| Arc::new(store) as Arc<dyn Store>)
            .map_err(|error| error.to_string())
    };
    let target = Target {
        probe: probe().get_program().into(),
        shim: shim(Path::new(env!("CARGO_TARGET_TMPDIR"))),
        dir: root.clone(),
        store: root.clone(),
        open: &open,
        probe_env: &[],
        volatile: &|_: &Path| false,
    };
    match io_faults(&target, seed, runs(RUNS), dir.path()).await {
        Ok(summary) => println!("{summary}"),
        Err(failure) => panic!("{failure}"),
    }
}
