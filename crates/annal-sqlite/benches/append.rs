//! Append throughput of the SQLite backend, all durable (`synchronous=FULL`, fsync per commit):
//! one event per call from one task; one event per call from 64 concurrent tasks (group
//! commit); batches of 1,000 into one stream; single events interleaved over 1,000 streams with
//! many appends in flight; and the ceiling, a plain rusqlite insert loop of the same rows into
//! the same schema in 1,000-row transactions.
//!
//! Each benchmark appends to one store in a temp dir that grows across iterations, as a real
//! log does. Run: `cargo bench -p annal-sqlite --bench append`.

// Benchmark code: a failed setup should stop the run loudly.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_core::{EventType, ExpectedVersion, NewEvent, Store, StreamId};
use annal_sqlite::SqliteStore;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use serde_json::json;

/// A payload of about 300 bytes of JSON, the size the measurements in `docs/sqlite-schema.md`
/// used.
fn event(n: u64) -> NewEvent {
    let note = "the agent finished the step and wrote its findings to memory; ".repeat(4);
    NewEvent::new(
        EventType::new("agent:step").unwrap(),
        json!({ "n": n, "note": note }),
    )
    .with_source("orchestrator")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn open() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bench.db")).unwrap();
    (dir, Arc::new(store))
}

fn stream(n: u64) -> StreamId {
    StreamId::new(format!("agent-{n}")).unwrap()
}

fn single_task(c: &mut Criterion) {
    let runtime = runtime();
    let (_dir, store) = open();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_event_per_call_one_task", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for n in 0..iters {
                    store
                        .append(&stream(0), ExpectedVersion::Any, vec![event(n)])
                        .await
                        .unwrap();
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

fn concurrent_tasks(c: &mut Criterion) {
    const TASKS: u64 = 64;
    const PER_TASK: u64 = 50;
    let runtime = runtime();
    let (_dir, store) = open();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(TASKS * PER_TASK));
    group.bench_function("one_event_per_call_64_tasks", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|task| {
                            let store = Arc::clone(&store);
                            tokio::spawn(async move {
                                for n in 0..PER_TASK {
                                    let stream = stream(task);
                                    store
                                        .append(&stream, ExpectedVersion::Any, vec![event(n)])
                                        .await
                                        .unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

fn batches(c: &mut Criterion) {
    const BATCH: u64 = 1_000;
    let runtime = runtime();
    let (_dir, store) = open();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("batch_1000_one_stream", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    // Building the events is the caller's work, not the store's.
                    let events: Vec<NewEvent> = (0..BATCH).map(event).collect();
                    let started = Instant::now();
                    store
                        .append(&stream(0), ExpectedVersion::Any, events)
                        .await
                        .unwrap();
                    elapsed += started.elapsed();
                }
                elapsed
            })
        });
    });
    group.finish();
}

fn interleaved_pipelined(c: &mut Criterion) {
    const STREAMS: u64 = 1_000;
    const EVENTS: u64 = 20_000;
    const IN_FLIGHT: usize = 4_096;
    let runtime = runtime();
    let (_dir, store) = open();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function("interleaved_1000_streams_pipelined", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let started = Instant::now();
                for _ in 0..iters {
                    futures::stream::iter(0..EVENTS)
                        .map(|n| {
                            let store = Arc::clone(&store);
                            async move {
                                let stream = stream(n % STREAMS);
                                store
                                    .append(&stream, ExpectedVersion::Any, vec![event(n)])
                                    .await
                            }
                        })
                        .buffer_unordered(IN_FLIGHT)
                        .for_each(|result| {
                            result.unwrap();
                            futures::future::ready(())
                        })
                        .await;
                }
                started.elapsed()
            })
        });
    });
    group.finish();
}

/// The ceiling: the same rows, the same schema and settings, inserted by a plain loop in
/// 1,000-row durable transactions, with none of the store's machinery.
fn ceiling(c: &mut Criterion) {
    const BATCH: u64 = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    // Let the store create the schema, then insert behind its back.
    drop(SqliteStore::open(&path).unwrap());
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -16384;
             PRAGMA wal_autocheckpoint = 8192;
             INSERT INTO streams (id, name, version) VALUES (1, 'agent-0', 0);
             INSERT INTO types (id, name) VALUES (1, 'agent:step');
             INSERT INTO aggregate_types (id, name) VALUES (1, 'agent');",
        )
        .unwrap();
    let mut position = 0i64;
    let mut group = c.benchmark_group("ceiling");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("rusqlite_insert_loop_1000", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let rows: Vec<(String, String)> = (0..BATCH)
                    .map(|n| (uuid_like(position as u64 + n), event(n).payload.to_string()))
                    .collect();
                let started = Instant::now();
                connection.execute_batch("BEGIN").unwrap();
                {
                    let mut insert = connection
                        .prepare_cached(
                            "INSERT INTO events (position, stream_id, version, type_id, \
                             aggregate_type_id, timestamp, id, source, payload, metadata, \
                             causation_id, correlation_id) \
                             VALUES (?1, 1, ?1, 1, 1, 0, ?2, 'orchestrator', ?3, '{}', NULL, NULL)",
                        )
                        .unwrap();
                    for (id, payload) in &rows {
                        position += 1;
                        insert
                            .execute(rusqlite::params![position, id, payload])
                            .unwrap();
                    }
                }
                connection
                    .execute("UPDATE streams SET version = ?1 WHERE id = 1", [position])
                    .unwrap();
                connection.execute_batch("COMMIT").unwrap();
                elapsed += started.elapsed();
            }
            elapsed
        });
    });
    group.finish();
}

/// A time-ordered id of the same length and shape as a UUID v7 string.
fn uuid_like(n: u64) -> String {
    format!("01900000-0000-7000-8000-{n:012x}")
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    targets = single_task, concurrent_tasks, batches, interleaved_pipelined, ceiling
}
criterion_main!(benches);
