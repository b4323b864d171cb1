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

/// Runs of the relaxed probe: a power loss loses an acknowledged group only if it falls between
/// the group and the next sync (every 2 s in relaxed mode) and drops that group's write, so 16
/// runs found no loss for about one seed in ten. The search stops at the first loss found, so
/// more runs cost time only when the seed finds none.
const RELAXED_RUNS: u64 = 64;

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
    let verdict = power_losses(seed, RELAXED_RUNS, &[("ANNAL_PROBE_DURABILITY", "relaxed")]).await;
    let failure = verdict.expect_err("relaxed durability loses acknowledged events");
    assert!(failure.contains("is missing"), "{failure}");
}

/// A writer killed between a compaction's rename and its directory fsync leaves a log name the
/// next writer sees but a power loss can take back. The next writer must make the name durable
/// before it appends, or a power loss takes its acknowledged appends with the name. Method: the
/// probe renames a new log into place without a directory fsync, then another probe (`faults`
/// mode, bounded) appends; both run under the journaling shim, and several power losses (one
/// per seed, each choosing which unsynced changes survive) are checked against the
/// acknowledgments.
#[tokio::test]
async fn a_rename_left_unsynced_by_a_crash_is_made_durable_before_appends() {
    use annal_testkit::faults::power::PowerLoss;
    use annal_testkit::faults::{Random, preload};
    let shim = shim(Path::new(env!("CARGO_TARGET_TMPDIR")));
    for seed in 1..=6u64 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let store = NdjsonStore::open(&root).unwrap();
        crate::support::append_ids(&store, "before", &["b1", "b2"]).await;
        drop(store);
        // The compaction's copy, complete and synced; only its rename is not durable.
        std::fs::copy(
            root.join("events.ndjson"),
            root.join("events.ndjson.compact"),
        )
        .unwrap();
        let journal = dir.path().join("journal.bin");
        let state = PowerLoss::start(&root).unwrap();
        let mut rename = probe();
        rename
            .arg("rename")
            .arg(root.join("events.ndjson.compact"))
            .arg(root.join("events.ndjson"));
        preload(&mut rename, &shim, &root);
        rename.env("ANNAL_FAULT_JOURNAL", &journal);
        assert!(rename.status().unwrap().success());
        // Killed after a few acknowledgments: no close, and no index refresh, syncs the
        // directory for it.
        let mut write = probe();
        write.args(["write", root.to_str().unwrap(), "1", "2", "3"]);
        preload(&mut write, &shim, &root);
        write.env("ANNAL_FAULT_JOURNAL", &journal);
        let mut child = write.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let mut acked: Vec<String> = Vec::new();
        while acked.len() < 12 {
            let line = lines.next().expect("the writer stopped").unwrap();
            if let Some(ack) = line.strip_prefix("ack ") {
                acked.extend(ack.split(' ').skip(2).map(str::to_owned));
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        state
            .crash(&journal, &mut Random::new(seed), &|_: &Path| false)
            .unwrap();
        let store = NdjsonStore::open(&root).unwrap();
        let stored: Vec<String> = crate::support::ids(&crate::support::everything(&store).await);
        for id in &acked {
            assert!(
                stored.iter().any(|s| s == id),
                "seed {seed}: acknowledged {id} is missing after the power loss: {stored:?}"
            );
        }
    }
}
