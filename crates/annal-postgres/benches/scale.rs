//! Costs as the store grows: loads 100,000 and then 1,000,000 events (batches of 1,000; 5
//! event types, 3 aggregate types, 1,000 streams, timestamps one per millisecond; every 5
//! events a task whose events share a correlation id, each caused by the one before) into a
//! throwaway cluster with fsync on, and after each size, once the fold has caught up, times the
//! reads whose answers do not
//! grow with the store: the newest 100 of one type, 100 of two types in a time window, `stats`,
//! one stream's 100 events, the trace of a task's event, one more append, and a reopen
//! (connecting a new store and its first read). Each time is the median of 5 tries, printed
//! as a table with the bytes per event on disk (annal's tables with their indexes) and the
//! peak RSS of this process. Run: `cargo bench -p annal-postgres --bench scale`
//! (`ANNAL_SCALE_SIZES=100000,1000000,10000000` for other sizes, multiples of 1,000).

// Benchmark code: a failed setup should stop the run loudly, and the table is printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::future::Future;
use std::time::{Duration, Instant};

use annal_core::{
    AggregateType, Direction, EventId, EventType, ExpectedVersion, Filter, NewEvent,
    ReadStreamOptions, Store, StreamId, TraceLimits,
};
use annal_postgres::{PostgresOptions, PostgresStore};
use futures::StreamExt;

#[path = "support/fold.rs"]
mod bench_fold;
use bench_fold::until_folded;
use serde_json::json;

const TYPES: [&str; 5] = [
    "task:created",
    "task:done",
    "agent:step",
    "memory:write",
    "run:end",
];
const AGGREGATES: [&str; 3] = ["task", "agent", "run"];
const START_MS: i64 = 1_700_000_000_000;
/// Events per task: they share a correlation id, and each but the first is caused by the
/// event before it.
const TASK_EVENTS: u64 = 5;

/// The `i`-th event of the load.
fn load_event(i: u64) -> NewEvent {
    let task = i / TASK_EVENTS;
    let event = NewEvent::new(
        EventType::new(TYPES[(i % 5) as usize]).unwrap(),
        json!({"i": i}),
    )
    .with_id(EventId::new(format!("evt-{i}")).unwrap())
    .with_aggregate_type(AggregateType::new(AGGREGATES[(i % 3) as usize]).unwrap())
    .with_timestamp(START_MS + i as i64)
    .with_correlation_id(format!("task-{task}"));
    if i.is_multiple_of(TASK_EVENTS) {
        event
    } else {
        event.with_causation_id(format!("evt-{}", i - 1))
    }
}

async fn load(store: &PostgresStore, from: u64, to: u64) {
    let mut n = from;
    while n < to {
        let stream = StreamId::new(format!("s-{}", (n / 1_000) % 1_000)).unwrap();
        let batch = (n..n + 1_000).map(load_event).collect();
        store
            .append(&stream, ExpectedVersion::Any, batch)
            .await
            .unwrap();
        n += 1_000;
    }
}

/// The median of 5 runs of `f`, and the number of events its last run returned.
async fn median<F, Fut>(mut f: F) -> (Duration, usize)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = usize>,
{
    let mut times = Vec::new();
    let mut returned = 0;
    for _ in 0..5 {
        let started = Instant::now();
        returned = f().await;
        times.push(started.elapsed());
    }
    times.sort();
    (times[2], returned)
}

async fn count(filter: &Filter, store: &PostgresStore) -> usize {
    store.query(filter).await.unwrap().count().await
}

/// One row of the table: the step, its figure, and how many events it returned.
type Row = (&'static str, String, usize);

fn millis((time, returned): (Duration, usize)) -> (String, usize) {
    (format!("{:.2} ms", time.as_secs_f64() * 1_000.0), returned)
}

/// The timed reads and the append on the store of `size` events.
async fn measure(store: &PostgresStore, size: u64) -> Vec<Row> {
    let mut newest = Filter::all();
    newest.event_types = vec![EventType::new("task:done").unwrap()];
    newest.direction = Direction::Backward;
    newest.limit = Some(100);
    let mut window = Filter::all();
    window.event_types = vec![
        EventType::new("task:done").unwrap(),
        EventType::new("run:end").unwrap(),
    ];
    window.timestamp_from = Some(START_MS + size as i64 / 2);
    window.timestamp_to = Some(START_MS + size as i64 / 2 + 3_600_000);
    window.limit = Some(100);
    // An event in the middle of a task in the middle of the log: one cause, effects and
    // correlated events on either side.
    let traced = EventId::new(format!("evt-{}", size / 2 + 2)).unwrap();
    let timed = [
        (
            "query type, newest 100",
            median(|| count(&newest, store)).await,
        ),
        (
            "query 2 types + window, 100",
            median(|| count(&window, store)).await,
        ),
        (
            "stats",
            median(|| async { store.stats(10).await.unwrap().total_events as usize }).await,
        ),
        (
            "read one stream, 100 events",
            median(|| read_stream(store)).await,
        ),
        (
            "trace of a task event",
            median(|| async {
                let trace = annal_core::trace(store, &traced, TraceLimits::default())
                    .await
                    .unwrap();
                1 + trace.causes.len() + trace.effects.len()
            })
            .await,
        ),
        (
            "append one event",
            median(|| async {
                // On the load's clock: one timestamp far from its neighbours would widen the
                // position range of every later time window (docs/postgres-ordering.md).
                let event = NewEvent::new(EventType::new("run:end").unwrap(), json!({}))
                    .with_timestamp(START_MS + size as i64);
                let stream = StreamId::new("one-more").unwrap();
                store
                    .append(&stream, ExpectedVersion::Any, vec![event])
                    .await
                    .unwrap();
                1
            })
            .await,
        ),
    ];
    timed
        .into_iter()
        .map(|(name, figure)| {
            let (value, returned) = millis(figure);
            (name, value, returned)
        })
        .collect()
}

/// Reads the first 100 events of one stream, answering how many it read.
async fn read_stream(store: &PostgresStore) -> usize {
    let options = ReadStreamOptions {
        limit: Some(100),
        ..ReadStreamOptions::default()
    };
    let stream = StreamId::new("s-7").unwrap();
    store
        .read_stream(&stream, options)
        .await
        .unwrap()
        .count()
        .await
}

/// Connecting a new store to the database (schema check, pool) and its first read.
async fn reopen(url: &str) -> Row {
    let figure = median(|| async {
        let store = PostgresStore::connect_with(url.parse().unwrap(), options())
            .await
            .unwrap();
        read_stream(&store).await
    })
    .await;
    let (value, returned) = millis(figure);
    ("reopen: connect + first read", value, returned)
}

/// Bytes on disk per event: annal's tables with their indexes and TOAST, and `events` alone.
async fn bytes_per_event(url: &str) -> Vec<Row> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT (SELECT sum(pg_total_relation_size(oid))::BIGINT FROM pg_class \
                 WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace), \
             pg_total_relation_size('events'), \
             (SELECT events FROM counts WHERE kind = 'all' AND id = 0)",
            &[],
        )
        .await
        .unwrap();
    let (all, events, count): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    let per_event = |bytes: i64| format!("{:.0} B", bytes as f64 / count as f64);
    vec![
        (
            "bytes per event, all tables",
            per_event(all),
            count as usize,
        ),
        (
            "bytes per event, events table",
            per_event(events),
            count as usize,
        ),
    ]
}

/// This process's peak resident set size (`VmHWM`), if the system reports it.
fn peak_rss() -> Option<Row> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        "peak RSS of the bench",
        format!("{:.0} MiB", kib / 1024.0),
        0,
    ))
}

/// The sizes to measure: `ANNAL_SCALE_SIZES` (comma-separated, increasing), by default
/// 100,000 and 1,000,000.
fn sizes() -> Vec<u64> {
    std::env::var("ANNAL_SCALE_SIZES").map_or_else(
        |_| vec![100_000, 1_000_000],
        |sizes| {
            sizes
                .split(',')
                .map(|size| size.trim().parse().expect("ANNAL_SCALE_SIZES: numbers"))
                .collect()
        },
    )
}

fn options() -> PostgresOptions {
    PostgresOptions::new().pool_size(4)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = annal_testkit::pg_cluster::durable_cluster()
            .fresh_database()
            .await;
        let store = PostgresStore::connect_with(url.parse().unwrap(), options())
            .await
            .unwrap();
        let (observer, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        println!("| events | step | median of 5 | returned |");
        println!("|---|---|---|---|");
        let mut loaded = 0;
        for size in sizes() {
            let started = Instant::now();
            load(&store, loaded, size).await;
            let loaded_in = started.elapsed().as_secs_f64();
            // The reads are measured at rest: right after a load the fold is still at work.
            let folded_in = until_folded(&observer).await.as_secs_f64();
            println!(
                "(loaded {} events in {loaded_in:.1} s; the fold caught up {folded_in:.1} s later)",
                size - loaded,
            );
            loaded = size;
            let mut rows = measure(&store, size).await;
            rows.push(reopen(&url).await);
            rows.extend(bytes_per_event(&url).await);
            rows.extend(peak_rss());
            for (name, value, returned) in rows {
                println!("| {size} | {name} | {value} | {returned} |");
            }
        }
    });
}
