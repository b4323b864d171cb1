//! Goal: measure the NDJSON backend's append throughput with durability (sequential single-event
//! appends from one task; 64 concurrent appenders sharing group commits; the same without fsync;
//! batches of 1,000 into one stream, long enough to include the derived index's passes, one per
//! 65,536 events) and its full-read throughput over 100,000 events, against the seed ledger's 705 appends/s and
//! 572 ms per 100k read. Method: criterion on fresh temp directories, with RunEvent-shaped
//! payloads of about 430 bytes (the size of workload wl1's), generated here.
// Benchmark code: a failed setup should stop the run loudly.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_core::{EventId, EventType, ExpectedVersion, NewEvent, Position, Store, StreamId};
use annal_ndjson::{Durability, NdjsonStore, OpenOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use serde_json::{Value, json};

const CONCURRENT_APPENDERS: u64 = 64;
const APPENDS_PER_APPENDER: u64 = 32;
const READ_EVENTS: u64 = 100_000;
const BATCH_EVENTS: u64 = 1_000;

/// A RunEvent-shaped payload of about 430 bytes as compact JSON.
fn payload(i: u64) -> Value {
    json!({
        "eventId": format!("run-{i}"),
        "taskId": format!("task-{}", i % 1000),
        "guidanceHash": format!("gh-{}", i % 7),
        "retrievedRuleIds": [format!("R{:03}", i % 50), format!("R{:03}", (i + 17) % 50)],
        "toolsUsed": ["Read", "Edit", "Bash"],
        "filesTouched": [format!("src/mod{}/file{}.ts", i % 50, i % 20)],
        "diffSummary": {"linesAdded": i % 200, "linesRemoved": i % 50, "filesChanged": 1 + i % 5},
        "testResults": {"ran": true, "passed": i % 30, "failed": 0, "skipped": i % 3},
        "violations": [],
        "outcomeAccepted": true,
        "reworkLines": i % 25,
        "intent": "feature",
        "timestamp": 1_700_000_000_000u64 + i,
        "durationMs": 1000 + i % 5000,
        "sessionId": format!("session-{:08}", i % 97),
    })
}

fn event(i: u64) -> NewEvent {
    NewEvent::new(EventType::new("run:recorded").unwrap(), payload(i))
        .with_id(EventId::new(format!("run-{i}")).unwrap())
}

fn stream(i: u64) -> StreamId {
    StreamId::new(format!("run-task-{}", i % 1000)).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn open(dir: &tempfile::TempDir, durability: Durability) -> NdjsonStore {
    NdjsonStore::open_with(
        dir.path().join("store"),
        OpenOptions::new().durability(durability),
    )
    .unwrap()
}

fn sequential(c: &mut Criterion) {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, Durability::Durable);
    let mut next = 0u64;
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("sequential_durable", |b| {
        b.iter(|| {
            next += 1;
            runtime
                .block_on(store.append(&stream(next), ExpectedVersion::Any, vec![event(next)]))
                .unwrap()
        });
    });
    group.finish();
}

fn concurrent(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(
        CONCURRENT_APPENDERS * APPENDS_PER_APPENDER,
    ));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    for (name, durability) in [
        ("concurrent_64_durable", Durability::Durable),
        ("concurrent_64_relaxed", Durability::Relaxed),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(&dir, durability));
        let mut round = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    round += 1;
                    let base = round * CONCURRENT_APPENDERS * APPENDS_PER_APPENDER;
                    runtime.block_on(append_concurrently(&store, base));
                }
                start.elapsed()
            });
        });
    }
    group.finish();
}

fn batches(c: &mut Criterion) {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, Durability::Durable);
    let mut next = 0u64;
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(BATCH_EVENTS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("batches_1000_durable", |b| {
        b.iter(|| {
            let events = (0..BATCH_EVENTS).map(|k| event(next + k)).collect();
            let task = stream(next / BATCH_EVENTS);
            next += BATCH_EVENTS;
            runtime
                .block_on(store.append(&task, ExpectedVersion::Any, events))
                .unwrap()
        });
    });
    group.finish();
}

async fn append_concurrently(store: &Arc<NdjsonStore>, base: u64) {
    let mut tasks = Vec::new();
    for appender in 0..CONCURRENT_APPENDERS {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            for k in 0..APPENDS_PER_APPENDER {
                let i = base + appender * APPENDS_PER_APPENDER + k;
                store
                    .append(&stream(i), ExpectedVersion::Any, vec![event(i)])
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

fn read_all(c: &mut Criterion) {
    let runtime = runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, Durability::Relaxed);
    runtime.block_on(async {
        for chunk in 0..READ_EVENTS / 1000 {
            let events = (0..1000).map(|k| event(chunk * 1000 + k)).collect();
            store
                .append(&stream(chunk), ExpectedVersion::Any, events)
                .await
                .unwrap();
        }
        store.flush().await.unwrap();
    });
    let bytes = std::fs::metadata(dir.path().join("store/events.ndjson"))
        .unwrap()
        .len();
    eprintln!(
        "read_all: {READ_EVENTS} events, {} payload bytes, {} bytes per line on average",
        payload(READ_EVENTS / 2).to_string().len(),
        bytes / READ_EVENTS
    );
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(READ_EVENTS));
    group.sample_size(10);
    group.bench_function("read_all_100k", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut events = store.read_all(Position::START).await.unwrap();
                let mut n = 0u64;
                while let Some(event) = events.next().await {
                    event.unwrap();
                    n += 1;
                }
                assert_eq!(n, READ_EVENTS);
            })
        });
    });
    group.bench_function("open_100k", |b| {
        b.iter(|| {
            let path = dir.path().join("store");
            NdjsonStore::open_read_only(&path).unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, sequential, concurrent, batches, read_all);
criterion_main!(benches);
