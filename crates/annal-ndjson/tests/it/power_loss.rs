// Goal: a power loss keeps every acknowledged event (each group is written, then fdatasynced,
// before it is acknowledged), leaves no batch half-visible, and leaves a directory that opens.
// Method: annal_testkit::faults::power_loss runs the probe (`write` mode: four tasks appending
// batches of three) under the LD_PRELOAD shim, which journals every write, fsync, create,
// rename and unlink of the store's files; it kills the probe after a random delay and replaces
// the directory with what a power loss at that moment leaves (each file as of its last fsync
// plus a random prefix of its later writes, the next one maybe torn; each directory as of its
// last fsync plus a random prefix of its later changes). The seed is printed; ANNAL_SEED
// replays it; ANNAL_FAULT_RUNS=<n> makes a longer hunt.
// A second test runs the probe with relaxed durability (acknowledged before the fsync) and
// checks that the same oracle reports lost acknowledged events.

use std::path::Path;
use std::sync::Arc;

use annal_core::Store;
use annal_ndjson::NdjsonStore;
use annal_testkit::faults::{Target, Verdict, power_loss, runs, seed, shim};

use crate::processes::probe;

const RUNS: u64 = 16;

/// Runs `runs` power losses on a fresh store, the probe given `probe_env`.
async fn power_losses(seed: u64, runs: u64, probe_env: &[(&str, &str)]) -> Verdict {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
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
        volatile: &|_: &Path| false,
        probe_env,
    };
    power_loss(&target, seed, runs, dir.path()).await
}

#[tokio::test]
async fn power_loss_keeps_every_acknowledged_event() {
    let seed = seed("ndjson power_loss");
    match power_losses(seed, runs(RUNS), &[]).await {
        Ok(summary) => println!("{summary}"),
        Err(failure) => panic!("{failure}"),
    }
}

#[tokio::test]
async fn power_loss_catches_acknowledgments_before_the_fsync() {
    let seed = seed("ndjson power_loss relaxed");
    let verdict = power_losses(seed, RUNS, &[("ANNAL_PROBE_DURABILITY", "relaxed")]).await;
    let failure = verdict.expect_err("relaxed durability loses acknowledged events");
    assert!(failure.contains("is missing"), "{failure}");
}
