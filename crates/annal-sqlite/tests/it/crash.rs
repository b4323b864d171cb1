// Goal: an acknowledged append survives kill -9 of the writer process, and a crash never leaves a
// partial batch or a gap. Method: run a child writer (annal-sqlite-probe `write`) with several
// concurrent tasks appending multi-event batches to the same file, kill it with SIGKILL at a
// random moment, 20 times; after each kill, reopen and check every acknowledged id is there,
// every batch is whole, versions and positions are contiguous, and the derived index and its
// maintained statistics equal a recount (the probe indexes every 7 events, so kills land in
// groups that index); at the end, the same after a retention pass. The seed of the kill times
// is printed; ANNAL_SEED replays it.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use annal_core::{ReadStreamOptions, RetentionPolicy, Store, collect};
use annal_sqlite::{OpenOptions, SqliteStore};

use crate::processes::probe;
use crate::support::{everything, stream};

const RUNS: u64 = 20;
const TASKS: u64 = 4;
const BATCH: usize = 3;

/// xorshift64: enough randomness for kill times, and replayable from a printed seed.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test]
async fn acknowledged_appends_survive_sigkill() {
    let seed = std::env::var("ANNAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("crash test seed: ANNAL_SEED={seed}");
    let mut random = seed;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let mut acknowledged: Vec<(String, Vec<String>)> = Vec::new();
    for run in 0..RUNS {
        let mut child = probe()
            .args([
                "write",
                path.to_str().unwrap(),
                &run.to_string(),
                &TASKS.to_string(),
            ])
            .arg(BATCH.to_string())
            .env("ANNAL_PROBE_INDEX_EVERY", "7")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Read acknowledgments on a thread; the last line may be cut by the kill.
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => lines.push(line),
                    Err(_) => break,
                }
            }
            lines
        });
        let delay = Duration::from_millis(30 + next_random(&mut random) % 300);
        tokio::time::sleep(delay).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        for line in lines {
            // Only whole lines count: a line cut by the kill was never fully acknowledged to us.
            let mut words = line.split(' ');
            if words.next() != Some("ack") {
                continue;
            }
            let stream_name = words.next().unwrap().to_owned();
            let _version = words.next().unwrap();
            let ids: Vec<String> = words.map(str::to_owned).collect();
            if ids.len() == BATCH {
                acknowledged.push((stream_name, ids));
            }
        }
        check_store(&path, &acknowledged).await;
    }
    println!(
        "{} batches acknowledged over {RUNS} kills",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() > RUNS as usize,
        "the writers acknowledged too little to test"
    );
    let store = SqliteStore::open_with(&path, OpenOptions::new().index_every(7)).unwrap();
    let policy = RetentionPolicy {
        max_events: Some(events_now(&store).await / 2),
        ..RetentionPolicy::default()
    };
    store.retain(policy).await.unwrap();
    store
        .truncate_before(&stream("w1"), annal_core::Version(5), true)
        .await
        .unwrap();
    check_index(&store).await;
}

async fn events_now(store: &SqliteStore) -> u64 {
    everything(store).await.len() as u64
}

/// The derived index agrees with the log, and the maintained statistics with a recount.
async fn check_index(store: &SqliteStore) {
    assert_eq!(store.check_index().await.unwrap(), Vec::<String>::new());
    let events = everything(store).await;
    let mut stats = store.stats(3).await.unwrap();
    stats.bytes_on_disk = None;
    stats.snapshot_count = 0;
    assert_eq!(stats, annal_testkit::rules::indexed::recount(&events, 3));
}

async fn check_store(path: &std::path::Path, acknowledged: &[(String, Vec<String>)]) {
    let store = SqliteStore::open(path).unwrap();
    check_index(&store).await;
    let events = everything(&store).await;
    let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
    assert_eq!(
        positions,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "positions have gaps"
    );
    let stored: HashSet<(String, String)> = events
        .iter()
        .map(|e| (e.aggregate_id.to_string(), e.id.to_string()))
        .collect();
    for (stream_name, ids) in acknowledged {
        for id in ids {
            assert!(
                stored.contains(&(stream_name.clone(), id.clone())),
                "acknowledged event {id} in {stream_name} is missing after the kill"
            );
        }
    }
    let mut batches: BTreeMap<String, usize> = BTreeMap::new();
    for event in &events {
        let id = event.id.as_str();
        let batch = id.rsplit_once('-').unwrap().0.to_owned();
        *batches.entry(batch).or_default() += 1;
    }
    for (batch, n_events) in batches {
        assert_eq!(n_events, BATCH, "batch {batch} is partial");
    }
    for task in 0..TASKS {
        let name = format!("w{task}");
        let read = store
            .read_stream(&stream(&name), ReadStreamOptions::forward())
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
            "{name} has gaps"
        );
        let version = store.stream_version(&stream(&name)).await.unwrap().0;
        assert_eq!(
            version,
            versions.len() as u64,
            "{name}'s counter matches its events"
        );
    }
}
