//! Where one appender's time goes: wall time, the cluster's CPU and this process's CPU per
//! event, for the store and for plain `INSERT`s of the same rows into a copy of the events
//! table, alternated three times on the durable throwaway cluster (`N` appends each, 4,000 by
//! default, of `BATCH` events each, 1 by default). CPU comes from `/proc`: the postmaster and
//! its children (the fold's work behind the commits included: the store's figure is read once
//! the fold has caught up), and this process. What it printed is in BENCHMARKS.md.
//! Run: `cargo run --release -p annal-postgres --example cpu_per_append`.

// A measuring tool: a failed setup stops it loudly; the figures are printed.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::Instant;

use annal_core::{ExpectedVersion, Store, StreamId};
use annal_postgres::{PostgresOptions, PostgresStore};
use serde_json::json;
use tokio_postgres::NoTls;

#[path = "../benches/support/event.rs"]
mod bench_event;
use bench_event::{event, note};
#[path = "../benches/support/fold.rs"]
mod bench_fold;
use bench_fold::until_folded;

/// CPU ticks (user + system) of the processes `filter` picks by (pid, parent pid).
fn ticks(filter: impl Fn(u32, u32) -> bool) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        if !filter(pid, fields[1].parse().unwrap()) {
            continue;
        }
        total += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    total
}

static POSTMASTER: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// The cluster's processes: the postmaster and its children.
fn server_ticks() -> u64 {
    let postmaster = *POSTMASTER.get().unwrap();
    ticks(|pid, parent| pid == postmaster || parent == postmaster)
}

fn own_ticks() -> u64 {
    let me = std::process::id();
    ticks(|pid, _| pid == me)
}

const PLAIN_INSERT: &str = "INSERT INTO ceiling (position, stream_id, version, type_id, \
     aggregate_type_id, timestamp, id, source, payload, metadata, causation_id, correlation_id) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
     $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
     $12::text[])";

fn report(label: &str, n: u64, wall: f64, own: u64, server: u64) {
    // Ticks of 10 ms (`CLK_TCK` is 100 on Linux), shown in µs per event.
    let per = |t: u64| t as f64 * 10_000.0 / n as f64;
    println!(
        "{label}: {:.0}/s, {:.1} us wall, client CPU {:.1} us, server CPU {:.1} us per event",
        n as f64 / wall,
        wall * 1e6 / n as f64,
        per(own_ticks() - own),
        per(server_ticks() - server)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let batch: u64 = std::env::var("BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let url = annal_testkit::pg_cluster::durable_cluster()
        .fresh_database()
        .await;
    let store =
        PostgresStore::connect_with(url.parse().unwrap(), PostgresOptions::new().pool_size(4))
            .await
            .unwrap();
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let backend: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let stat = std::fs::read_to_string(format!("/proc/{backend}/stat")).unwrap();
    let parent = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap();
    POSTMASTER.set(parent.parse().unwrap()).unwrap();
    client
        .batch_execute("CREATE TABLE ceiling (LIKE events INCLUDING ALL)")
        .await
        .unwrap();
    let plain = client.prepare(PLAIN_INSERT).await.unwrap();
    let stream = StreamId::new("agent-0").unwrap();
    let mut next = 0u64;
    for round in 0..3 {
        let (own, server, started) = (own_ticks(), server_ticks(), Instant::now());
        store_round(&store, &stream, n, batch, &mut next).await;
        let wall = started.elapsed().as_secs_f64();
        until_folded(&client).await;
        let label = format!("round {round} store");
        report(&label, n * batch, wall, own, server);
        let (own, server, started) = (own_ticks(), server_ticks(), Instant::now());
        plain_round(&client, &plain, n, batch, &mut next).await;
        let wall = started.elapsed().as_secs_f64();
        report(
            &format!("round {round} plain"),
            n * batch,
            wall,
            own,
            server,
        );
    }
}

/// `n` appends of `batch` events each, numbered on from `next`.
async fn store_round(store: &PostgresStore, stream: &StreamId, n: u64, batch: u64, next: &mut u64) {
    for _ in 0..n {
        let events = (0..batch)
            .map(|_| {
                *next += 1;
                event(*next)
            })
            .collect();
        store
            .append(stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }
}

/// `n` plain `INSERT`s of `batch` rows each, numbered on from `next`.
async fn plain_round(
    client: &tokio_postgres::Client,
    plain: &tokio_postgres::Statement,
    n: u64,
    batch: u64,
    next: &mut u64,
) {
    for _ in 0..n {
        let first = *next as i64 + 1;
        *next += batch;
        let rows: Vec<i64> = (first..=*next as i64).collect();
        let count = rows.len();
        let payloads: Vec<String> = rows
            .iter()
            .map(|p| json!({ "n": p, "note": note() }).to_string())
            .collect();
        let ids: Vec<String> = rows.iter().map(|p| format!("0190-{p:012}-0")).collect();
        client
            .execute(
                plain,
                &[
                    &rows,
                    &vec![0i64; count],
                    &rows,
                    &vec![1i64; count],
                    &vec![1i64; count],
                    &vec![1_700_000_000_000i64; count],
                    &ids,
                    &vec!["orchestrator"; count],
                    &payloads,
                    &vec!["{}"; count],
                    &vec![None::<&str>; count],
                    &vec![None::<&str>; count],
                ],
            )
            .await
            .unwrap();
    }
}
