//! The SIGKILL test: an acknowledged append survives `kill -9` of the writer process, and a
//! crash never leaves a partial batch or a gap.
//!
//! Method: run the backend's probe (`write` mode: four concurrent tasks appending batches of
//! three events to one store), kill it with SIGKILL at a random moment, 20 times; after each
//! kill, reopen the store (running its recovery), let the backend check what only it knows,
//! and check that every acknowledged id is there, every batch is whole, positions run from 1
//! without a gap, and each writer's stream has versions from 1 without a gap up to its
//! counter. The seed of the kill times is printed; `ANNAL_SEED` replays it.

use std::future::Future;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use annal_core::{ReadStreamOptions, Store, StreamId, collect};

use crate::faults::check::{Outcome, Promises, check_store};
use crate::faults::{Random, seed};

/// Kills per test.
const RUNS: u64 = 20;
/// Concurrent appending tasks in the probe, each with its stream `w<task>`.
const TASKS: u64 = 4;
/// Events per batch.
const BATCH: usize = 3;

/// A durable backend, as the SIGKILL test sees it.
pub trait KillTarget {
    /// The backend's store.
    type Store: Store;

    /// The backend's probe binary (its `src/bin/probe.rs`, calling [`super::probe_main`]).
    fn probe(&self) -> PathBuf;

    /// The store's name in a fresh temporary directory (a file or a directory).
    fn store_name(&self) -> &'static str;

    /// Environment for the probe: the backend's settings that make kills land in more of its
    /// code.
    fn probe_env(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// Opens the store for writing after a kill, and checks what only this backend can (what
    /// its recovery did, its derived structures against its log); panics on a broken promise.
    fn reopen(&mut self, path: &Path) -> impl Future<Output = Self::Store>;

    /// Runs after the last kill, every check passed: the backend's last checks and tallies.
    fn finish(&mut self, path: &Path) -> impl Future<Output = ()>;
}

/// Runs the SIGKILL test against `target`; panics with the seed and the kill on a broken
/// promise.
pub async fn sigkill_test(mut target: impl KillTarget) {
    let seed = seed("crash test");
    let mut random = Random::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(target.store_name());
    let mut promises = Promises::default();
    for run in 0..RUNS {
        let delay = Duration::from_millis(30 + random.below(300));
        let stdout = write_then_kill(&target, &path, run, delay).await;
        promises.absorb(&Outcome::parse(&stdout, BATCH));
        let store = target.reopen(&path).await;
        if let Err(failure) = check_store(&store, &promises, BATCH).await {
            panic!("ANNAL_SEED={seed}, after kill {run}: {failure}");
        }
        check_writer_streams(&store).await;
        drop(store);
    }
    // The count shows the kills met real work, in the test's output even when it passes.
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{} batches acknowledged over {RUNS} kills",
            promises.acked.len()
        );
    }
    assert!(
        promises.acked.len() > RUNS as usize,
        "the writers acknowledged too little to test"
    );
    target.finish(&path).await;
}

/// Runs the probe in `write` mode for `delay`, kills it with SIGKILL, and returns what it
/// printed (a last line cut by the kill included; [`Outcome::parse`] drops it).
async fn write_then_kill(
    target: &impl KillTarget,
    path: &Path,
    run: u64,
    delay: Duration,
) -> String {
    let mut child = Command::new(target.probe())
        .arg("write")
        .arg(path)
        .args([run.to_string(), TASKS.to_string(), BATCH.to_string()])
        .envs(target.probe_env())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // Read on a thread, so a full pipe never stalls the writer.
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        // A pipe cut by the kill ends the output; what was read is what counts.
        let _ = stdout.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    });
    tokio::time::sleep(delay).await;
    // The probe appends until killed: one that ended on its own failed.
    if let Some(status) = child.try_wait().unwrap() {
        panic!("run {run}: the probe ended with {status} before the kill (its stderr is above)");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

/// Each writer's stream holds versions from 1 without a gap, and its counter is its last
/// version (0 for a stream whose first batch never committed).
async fn check_writer_streams(store: &dyn Store) {
    for task in 0..TASKS {
        let stream = StreamId::new(format!("w{task}")).unwrap();
        let read = store
            .read_stream(&stream, ReadStreamOptions::forward())
            .await
            .unwrap();
        let versions: Vec<u64> = collect(read)
            .await
            .unwrap()
            .iter()
            .map(|e| e.version.0)
            .collect();
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "{stream} has gaps"
        );
        let counter = store.stream_version(&stream).await.unwrap().0;
        assert_eq!(
            counter,
            versions.len() as u64,
            "{stream}'s counter matches its events"
        );
    }
}
