// Goal: a power loss keeps every acknowledged event (WAL mode, synchronous=FULL), leaves no
// batch half-visible, and leaves a file that opens. Method: annal_testkit::faults::power_loss
// runs the probe (`write` mode: four tasks appending batches of three) under the LD_PRELOAD
// shim, which journals every write, fsync, create, rename and unlink of the store's files,
// SQLite's own included; it kills the probe after a random delay and replaces the directory
// with what a power loss at that moment leaves (each file as of its last fsync plus a random
// prefix of its later writes, the next one maybe torn; each directory as of its last fsync
// plus a random prefix of its later changes; the mmap'ed -shm dropped). The seed is printed;
// ANNAL_SEED replays it; ANNAL_FAULT_RUNS=<n> makes a longer hunt.
// A second test runs the probe with relaxed durability (acknowledged before the fsync) and
// checks that the same oracle reports lost acknowledged events.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use annal_core::{EventId, ExpectedVersion, Store};
use annal_sqlite::SqliteStore;
use annal_testkit::faults::check::{Outcome, Promises, check_store};
use annal_testkit::faults::power::PowerLoss;
use annal_testkit::faults::{
    EIO, FaultPlan, Random, Target, Verdict, power_loss, preload, runs, seed, shim,
};

use crate::processes::probe;
use crate::support::{event, stream};

const RUNS: u64 = 16;

/// Runs `runs` power losses on a fresh store, the probe given `probe_env`.
async fn power_losses(seed: u64, runs: u64, probe_env: &[(&str, &str)]) -> Verdict {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
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
        probe_env,
    };
    power_loss(&target, seed, runs, dir.path()).await
}

#[tokio::test]
async fn power_loss_keeps_every_acknowledged_event() {
    let seed = seed("sqlite power_loss");
    match power_losses(seed, runs(RUNS), &[]).await {
        Ok(summary) => println!("{summary}"),
        Err(failure) => panic!("{failure}"),
    }
}

/// The same with a WAL copy every 64 KiB of appends instead of every 16 MiB, so failed fsyncs
/// and power losses also land inside WAL copies (a copy writes pages into the database file
/// and syncs it before the WAL starts over).
#[tokio::test]
async fn power_loss_inside_wal_copies_keeps_every_acknowledged_event() {
    let seed = seed("sqlite power_loss wal copies");
    let env = [("ANNAL_PROBE_WAL_COPY_BYTES", "65536")];
    match power_losses(seed, runs(RUNS), &env).await {
        Ok(summary) => println!("{summary}"),
        Err(failure) => panic!("{failure}"),
    }
}

#[tokio::test]
async fn power_loss_catches_acknowledgments_before_the_fsync() {
    let seed = seed("sqlite power_loss relaxed");
    let verdict = power_losses(seed, RUNS, &[("ANNAL_PROBE_DURABILITY", "relaxed")]).await;
    let failure = verdict.expect_err("relaxed durability loses acknowledged events");
    assert!(failure.contains("is missing"), "{failure}");
}

/// Found by the power-loss hunt: a writer's WAL fsync failed (its commit failed, the writer was
/// poisoned), and the writer opened next, in another process, read the failed commit's frames
/// from the page cache, where a failed writeback leaves them though the disk never gets them.
/// SQLite took them for committed, and the open's WAL copy wrote their pages into the database
/// file and synced it. After a power loss the WAL ended before those frames, and SQLite copied
/// the older frames it held over the newer pages: a table and its index from different commits
/// ("wrong # of entries in index"). The open now writes the WAL back and syncs it before using
/// it, so the WAL it read is the one a power loss leaves. Each run fails another of the first
/// WAL fsyncs (the open's WAL start-over, then appends' commits).
#[tokio::test]
async fn a_reopen_after_a_failed_wal_fsync_survives_a_power_loss() {
    for at in [5, 6, 7, 9, 12] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        std::fs::create_dir(&root).unwrap();
        let path = root.join("annal.db");
        let store = SqliteStore::open(&path).unwrap();
        // Batches of three with ids `<batch>-<i>`, as the probe appends them, which the check
        // takes apart into batches.
        for n in 0..20 {
            let events = (0..3)
                .map(|i| event(n * 3 + i).with_id(EventId::new(format!("b{n}-{i}")).unwrap()))
                .collect();
            store
                .append(&stream(&format!("agent-{n}")), ExpectedVersion::Any, events)
                .await
                .unwrap();
        }
        drop(store);
        let state = PowerLoss::start(&root).unwrap();
        let journal = dir.path().join("journal.bin");
        let stdout = append_until_a_wal_fsync_fails(&root, &path, &journal, at);
        let mut promises = Promises::default();
        promises.absorb(&Outcome::parse(&stdout, 3));
        open_then_kill(&root, &path, &journal);
        let wal = root.join("annal.db-wal");
        let read = std::fs::read(&wal).unwrap();
        state
            .crash(&journal, &mut Random::new(at), &|path: &Path| {
                path.to_string_lossy().ends_with("-shm")
            })
            .unwrap();
        // What the reopened writer read and built on is what the power loss left.
        assert!(
            std::fs::read(&wal).unwrap() == read,
            "WAL fsync {at} failed: the WAL a writer opened on is not on the disk"
        );
        let store = SqliteStore::open(&path)
            .unwrap_or_else(|error| panic!("WAL fsync {at} failed; reopening: {error}"));
        check_store(&store, &promises, 3)
            .await
            .unwrap_or_else(|error| panic!("WAL fsync {at} failed: {error}"));
        drop(store);
        SqliteStore::integrity_check(&path)
            .unwrap_or_else(|error| panic!("WAL fsync {at} failed: {error}"));
    }
}

/// Runs the probe's `faults` mode on the store at `path` (in `root`), journaled into
/// `journal`, with the WAL fsync numbered `at` failing; returns its stdout once it ended.
fn append_until_a_wal_fsync_fails(root: &Path, path: &Path, journal: &Path, at: u64) -> String {
    let mut command = probe();
    command.arg("faults").arg(path).args(["0", "4", "3", "15"]);
    preload(
        &mut command,
        &shim(Path::new(env!("CARGO_TARGET_TMPDIR"))),
        root,
    );
    command
        .env("ANNAL_FAULT_JOURNAL", journal)
        .env("ANNAL_FAULT_SUFFIX", "-wal");
    let plan = FaultPlan {
        at,
        ops: "s".into(),
        errno: EIO,
        sticky: false,
        partial: false,
    };
    plan.apply(&mut command);
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("annal-fault-shim:"),
        "fsync {at} never came: {stderr}"
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Opens a writer on the store at `path` in a child process journaled into `journal`, and
/// kills it once the open has returned (the open's WAL copy done), as a crash would.
fn open_then_kill(root: &Path, path: &Path, journal: &Path) {
    let mut command = probe();
    command
        .arg("hold")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    preload(
        &mut command,
        &shim(Path::new(env!("CARGO_TARGET_TMPDIR"))),
        root,
    );
    command.env("ANNAL_FAULT_JOURNAL", journal);
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the writer did not open");
    child.kill().unwrap();
    child.wait().unwrap();
}
