//! What the derived index costs the append path, against no index and against SQLite indexes
//! maintained in every commit: fresh stores, the variants alternated round by round in one
//! process, so they share the machine's load (`docs/sqlite-schema.md` records the figures).
//!
//! `cargo bench -p annal-sqlite --bench index_cost [-- ROUNDS BATCH_EVENTS SINGLE_EVENTS]`

// Its output is the report: a table on stdout.
#![allow(clippy::print_stdout)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_core::{EventType, ExpectedVersion, NewEvent, Store, StreamId};
use annal_sqlite::{OpenOptions, SqliteStore};
use serde_json::json;

const TYPES: [&str; 8] = [
    "task:created",
    "task:started",
    "task:completed",
    "task:failed",
    "agent:spawned",
    "agent:started",
    "memory:stored",
    "swarm:scaled",
];

#[derive(Clone, Copy, Debug)]
enum Variant {
    /// The writer never indexes (what the append path cost before the index).
    NoIndex,
    /// The derived index, indexed in bulk every 4,096 events (the default).
    Derived,
    /// SQLite indexes on type, aggregate type, source and timestamp, in every commit.
    InCommit,
}

fn event(n: u64) -> NewEvent {
    let kind = TYPES[(n % TYPES.len() as u64) as usize];
    NewEvent::new(
        EventType::new(kind).expect("valid type"),
        json!({ "n": n, "note": "x".repeat(240) }),
    )
    .with_source("swarm")
}

fn open(path: &Path, variant: Variant) -> Arc<dyn Store> {
    let options = match variant {
        Variant::Derived => OpenOptions::new(),
        Variant::NoIndex | Variant::InCommit => OpenOptions::new().index_every(u64::MAX),
    };
    if let Variant::InCommit = variant {
        drop(SqliteStore::open(path).expect("create"));
        let connection = rusqlite::Connection::open(path).expect("open for the indexes");
        connection
            .execute_batch(
                "CREATE INDEX IF NOT EXISTS x_type ON events (type_id);
                 CREATE INDEX IF NOT EXISTS x_aggregate ON events (aggregate_type_id);
                 CREATE INDEX IF NOT EXISTS x_source ON events (source);
                 CREATE INDEX IF NOT EXISTS x_time ON events (timestamp);",
            )
            .expect("indexes");
    }
    Arc::new(SqliteStore::open_with(path, options).expect("open"))
}

/// CPU time of every thread of this process so far (`/proc/self/task/*/schedstat`, in ns):
/// unlike wall time, barely moved by other processes on a shared machine.
fn cpu_time() -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            total += stat
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(total)
}

/// Events per second of wall time, and per second of CPU time of the whole process (the
/// writer, WAL copier and reader threads included; threads that ended are not counted, so
/// each store stays open until its CPU time is read).
async fn batches(path: &Path, variant: Variant, events: u64) -> (f64, f64) {
    let store = open(path, variant);
    let stream = StreamId::new("batches").expect("valid stream");
    let mut elapsed = Duration::ZERO;
    let cpu_before = cpu_time();
    for first in (0..events).step_by(1_000) {
        let batch = (first..first + 1_000).map(event).collect();
        let started = Instant::now();
        store
            .append(&stream, ExpectedVersion::Any, batch)
            .await
            .expect("append");
        elapsed += started.elapsed();
    }
    let cpu = cpu_time().saturating_sub(cpu_before);
    (
        events as f64 / elapsed.as_secs_f64(),
        events as f64 / cpu.as_secs_f64(),
    )
}

async fn singles(path: &Path, variant: Variant, events: u64) -> f64 {
    let store = open(path, variant);
    let per_task = events / 64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..64u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let stream = StreamId::new(format!("writer-{task}")).expect("valid stream");
            for n in 0..per_task {
                store
                    .append(&stream, ExpectedVersion::Any, vec![event(n)])
                    .await
                    .expect("append");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    (per_task * 64) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rounds = args.first().copied().unwrap_or(3);
    let batch_events = args.get(1).copied().unwrap_or(100_000);
    let single_events = args.get(2).copied().unwrap_or(16_384);
    let variants = [Variant::NoIndex, Variant::Derived, Variant::InCommit];
    println!(
        "round\tvariant\tbatches of 1,000 (events/s)\t(events/CPU-s)\t64 tasks, single events (events/s)"
    );
    let mut ratios: Vec<[f64; 5]> = Vec::new();
    for round in 0..rounds {
        let mut rates = [((0.0, 0.0), 0.0); 3];
        for i in 0..variants.len() {
            // Rotate the order, so no variant always runs first (on a colder disk cache).
            let at = (i + round as usize) % variants.len();
            let variant = variants[at];
            let dir = tempfile::tempdir().expect("temp dir");
            let batch = batches(&dir.path().join("b.db"), variant, batch_events).await;
            let single = singles(&dir.path().join("s.db"), variant, single_events).await;
            rates[at] = (batch, single);
            println!(
                "{round}\t{variant:?}\t{:.0}\t{:.0}\t{single:.0}",
                batch.0, batch.1
            );
        }
        let (none, derived, commit) = (rates[0], rates[1], rates[2]);
        ratios.push([
            derived.0.0 / none.0.0,
            derived.1 / none.1,
            commit.0.0 / none.0.0,
            commit.1 / none.1,
            derived.0.1 / none.0.1,
        ]);
    }
    // Medians of the per-round ratios: each round's variants shared the machine's load.
    let median = |column: usize| {
        let mut values: Vec<f64> = ratios.iter().map(|r| r[column]).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "median ratio to NoIndex over {rounds} rounds: Derived batches {:.3} (per CPU-s {:.3}), \
         singles {:.3}; InCommit batches {:.3}, singles {:.3}",
        median(0),
        median(4),
        median(1),
        median(2),
        median(3)
    );
}
