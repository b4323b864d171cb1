//! Append throughput of the PostgreSQL backend against a plain-INSERT ceiling on the same
//! server, in the same run: one event per call from 1, 16 and 64 concurrent tasks (each on its
//! own stream; the writer task groups them into one transaction per group), batches of 1,000
//! into one stream, and the ceiling, plain `INSERT`s of the same rows into a copy of the events
//! table (same columns and indexes, no store machinery): one row per transaction from 1, 16
//! and 64 connections, and 1,000 rows per transaction. A last case runs 3 processes (the
//! `annal-postgres-probe` binary) of 16 appenders each against one database, alternating with
//! its ceiling, 3 processes of 16 connections of one-row `INSERT`s, and prints the rates.
//! While each case runs, the sessions' wait events are sampled from `pg_stat_activity` every
//! 10 ms and printed as a histogram: what bounds the figure.
//!
//! The server is a throwaway cluster with fsync on (durable commits, as in production), on a
//! Unix socket; `ANNAL_PG_URL` points the run at another server. Run:
//! `cargo bench -p annal-postgres --bench append`.

// Benchmark code: a failed setup should stop the run loudly; the multi-process case and the
// wait events are printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use annal_core::{ExpectedVersion, NewEvent, Store, StreamId};
use annal_postgres::{PostgresOptions, PostgresStore};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use tokio_postgres::{Client, NoTls};

#[path = "support/event.rs"]
mod bench_event;
use bench_event::{event, note};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn stream(n: u64) -> StreamId {
    StreamId::new(format!("agent-{n}")).unwrap()
}

async fn store(url: &str) -> Arc<PostgresStore> {
    let config = url.parse().unwrap();
    let options = PostgresOptions::new().pool_size(4);
    Arc::new(PostgresStore::connect_with(config, options).await.unwrap())
}

fn configure(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group
}

/// One event per call from `tasks` concurrent tasks, each on its own stream.
fn concurrent_appends(c: &mut Criterion) {
    let runtime = runtime();
    let mut group = configure(c);
    for tasks in [1u64, 16, 64] {
        let url = runtime.block_on(annal_testkit::pg_cluster::durable_cluster().fresh_database());
        let store = runtime.block_on(store(&url));
        group.throughput(Throughput::Elements(tasks));
        let label = format!("store {tasks} tasks");
        with_waits(&runtime, &url, &label, || {
            group.bench_function(BenchmarkId::new("store_single_events", tasks), |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let started = Instant::now();
                        let workers: Vec<_> = (0..tasks)
                            .map(|task| {
                                let store = Arc::clone(&store);
                                tokio::spawn(async move {
                                    for n in 0..iters {
                                        store
                                            .append(
                                                &stream(task),
                                                ExpectedVersion::Any,
                                                vec![event(n)],
                                            )
                                            .await
                                            .unwrap();
                                    }
                                })
                            })
                            .collect();
                        for worker in workers {
                            worker.await.unwrap();
                        }
                        started.elapsed()
                    })
                });
            })
        });
    }
    group.finish();
}

/// Batches of 1,000 events into one stream.
fn batches(c: &mut Criterion) {
    const BATCH: u64 = 1_000;
    let runtime = runtime();
    let url = runtime.block_on(annal_testkit::pg_cluster::durable_cluster().fresh_database());
    let store = runtime.block_on(store(&url));
    let mut group = configure(c);
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("store_batch_1000", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
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

/// A connection of the ceiling, on a copy of the events table.
async fn plain_client(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

const PLAIN_INSERT: &str = "INSERT INTO ceiling (position, stream_id, version, type_id, \
     aggregate_type_id, timestamp, id, source, payload, metadata, causation_id, correlation_id) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
     $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
     $12::text[])";

/// Inserts `n` rows from `next` on in one statement (one transaction), as the store's rows
/// look: a UUID-like time-ordered id, the 300-byte payload, `{}` metadata.
async fn plain_insert(
    client: &Client,
    statement: &tokio_postgres::Statement,
    first: i64,
    n: i64,
    stream_id: i64,
) {
    let positions: Vec<i64> = (first..first + n).collect();
    let ids: Vec<String> = positions
        .iter()
        .map(|p| format!("0190-{p:012}-{stream_id}"))
        .collect();
    let payloads: Vec<String> = positions
        .iter()
        .map(|p| json!({ "n": p, "note": note() }).to_string())
        .collect();
    let ones = vec![1i64; positions.len()];
    let streams = vec![stream_id; positions.len()];
    let timestamps = vec![1_700_000_000_000i64; positions.len()];
    let sources = vec!["orchestrator"; positions.len()];
    let metadata = vec!["{}"; positions.len()];
    let none: Vec<Option<&str>> = vec![None; positions.len()];
    client
        .execute(
            statement,
            &[
                &positions,
                &streams,
                &positions,
                &ones,
                &ones,
                &timestamps,
                &ids,
                &sources,
                &payloads,
                &metadata,
                &none,
                &none,
            ],
        )
        .await
        .unwrap();
}

/// The ceiling: plain INSERTs of the same rows, with no locks, checks or group machinery.
fn ceiling(c: &mut Criterion) {
    let runtime = runtime();
    let url = runtime.block_on(annal_testkit::pg_cluster::durable_cluster().fresh_database());
    let next = Arc::new(AtomicI64::new(1));
    runtime.block_on(async {
        // Creates annal's schema, then a copy of the events table with every index.
        drop(store(&url).await);
        plain_client(&url)
            .await
            .batch_execute("CREATE TABLE ceiling (LIKE events INCLUDING ALL)")
            .await
            .unwrap();
    });
    let mut group = configure(c);
    for connections in [1i64, 16, 64] {
        let clients: Vec<Arc<Client>> = runtime.block_on(async {
            let mut clients = Vec::new();
            for _ in 0..connections {
                clients.push(Arc::new(plain_client(&url).await));
            }
            clients
        });
        group.throughput(Throughput::Elements(connections as u64));
        let label = format!("plain {connections} connections");
        with_waits(&runtime, &url, &label, || {
            group.bench_function(
                BenchmarkId::new("plain_insert_single_rows", connections),
                |b| {
                    b.iter_custom(|iters| {
                        runtime.block_on(async {
                            let started = Instant::now();
                            let workers: Vec<_> = clients
                                .iter()
                                .enumerate()
                                .map(|(stream_id, client)| {
                                    let (client, next) = (Arc::clone(client), Arc::clone(&next));
                                    tokio::spawn(async move {
                                        let statement = client.prepare(PLAIN_INSERT).await.unwrap();
                                        for _ in 0..iters {
                                            let first = next.fetch_add(1, Ordering::Relaxed);
                                            plain_insert(
                                                &client,
                                                &statement,
                                                first,
                                                1,
                                                stream_id as i64,
                                            )
                                            .await;
                                        }
                                    })
                                })
                                .collect();
                            for worker in workers {
                                worker.await.unwrap();
                            }
                            started.elapsed()
                        })
                    });
                },
            )
        });
    }
    let client = runtime.block_on(plain_client(&url));
    let statement = runtime.block_on(client.prepare(PLAIN_INSERT)).unwrap();
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("plain_insert_batch_1000", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let first = next.fetch_add(1_000, Ordering::Relaxed);
                    let started = Instant::now();
                    plain_insert(&client, &statement, first, 1_000, 1_000).await;
                    elapsed += started.elapsed();
                }
                elapsed
            })
        });
    });
    group.finish();
}

/// Samples the wait events of the database's active sessions every 10 ms until `stop` is set;
/// returns (wait event, samples) sorted by count, "CPU" for an active session not waiting.
async fn sample_waits(url: String, stop: Arc<std::sync::atomic::AtomicBool>) -> Vec<(String, u64)> {
    let client = plain_client(&url).await;
    let mut counts: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    while !stop.load(Ordering::Relaxed) {
        let rows = client
            .query(
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity \
                 WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        for row in rows {
            *counts.entry(row.get(0)).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    counts
}

/// Runs `f` while sampling wait events, and prints them under `label`.
fn with_waits<T>(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    label: &str,
    f: impl FnOnce() -> T,
) -> T {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = runtime.spawn(sample_waits(url.to_owned(), Arc::clone(&stop)));
    let result = f();
    stop.store(true, Ordering::Relaxed);
    let waits = runtime.block_on(sampler).unwrap();
    let total: u64 = waits.iter().map(|(_, n)| n).sum::<u64>().max(1);
    let shown: Vec<String> = waits
        .iter()
        .take(6)
        .map(|(event, n)| format!("{event} {:.0}%", *n as f64 * 100.0 / total as f64))
        .collect();
    println!("waits {label}: {}", shown.join(", "));
    result
}

/// 3 processes × 16 appenders against one database, alternating with 3 processes × 16
/// connections of plain one-row `INSERT`s; prints each rate and the ratio.
fn processes(_: &mut Criterion) {
    const PROCESSES: usize = 3;
    const TASKS: &str = "16";
    const MILLIS: u64 = 4_000;
    let runtime = runtime();
    let url = runtime.block_on(annal_testkit::pg_cluster::durable_cluster().fresh_database());
    runtime.block_on(async {
        drop(store(&url).await);
        plain_client(&url)
            .await
            .batch_execute("CREATE TABLE ceiling (LIKE events INCLUDING ALL)")
            .await
            .unwrap();
    });
    let run = |mode: &str, round: usize| -> f64 {
        let children: Vec<_> = (0..PROCESSES)
            .map(|p| {
                std::process::Command::new(env!("CARGO_BIN_EXE_annal-postgres-probe"))
                    .args([
                        mode,
                        &url,
                        &format!("r{round}p{p}"),
                        TASKS,
                        &MILLIS.to_string(),
                    ])
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut total = 0u64;
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "{mode} probe failed");
            let text = String::from_utf8(output.stdout).unwrap();
            let count = text.trim().strip_prefix("count ").unwrap();
            total += count.parse::<u64>().unwrap();
        }
        // Each child counts over its own window of MILLIS after connecting.
        total as f64 / (MILLIS as f64 / 1_000.0)
    };
    for round in 0..3 {
        let store = with_waits(&runtime, &url, "3x16 store", || run("bench-store", round));
        let plain = with_waits(&runtime, &url, "3x16 plain", || run("bench-plain", round));
        println!(
            "append/3_processes_x16 round {round}: store {store:.0}/s, plain INSERT {plain:.0}/s, ratio {:.2}",
            store / plain
        );
    }
}

criterion_group!(benches, concurrent_appends, batches, ceiling, processes);
criterion_main!(benches);
