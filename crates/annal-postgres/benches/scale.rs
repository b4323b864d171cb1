//! Costs as the store grows: loads 100,000 and then 1,000,000 events (batches of 1,000; 5
//! event types, 3 aggregate types, 1,000 streams, timestamps one per millisecond) into a
//! throwaway cluster with fsync on, and after each size times the reads whose answers do not
//! grow with the store: the newest 100 of one type, 100 of two types in a time window, `stats`,
//! one stream's 100 events, and one more append. Each figure is the median of 5 tries,
//! printed as a table. Run: `cargo bench -p annal-postgres --bench scale`.

// Benchmark code: a failed setup should stop the run loudly, and the table is printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::future::Future;
use std::time::{Duration, Instant};

use annal_core::{
    AggregateType, Direction, EventType, ExpectedVersion, Filter, NewEvent, ReadStreamOptions,
    Store, StreamId,
};
use annal_postgres::{PostgresOptions, PostgresStore};
use futures::StreamExt;
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

async fn load(store: &PostgresStore, from: u64, to: u64) {
    let mut n = from;
    while n < to {
        let stream = StreamId::new(format!("s-{}", (n / 1_000) % 1_000)).unwrap();
        let batch = (n..n + 1_000)
            .map(|i| {
                NewEvent::new(
                    EventType::new(TYPES[(i % 5) as usize]).unwrap(),
                    json!({"i": i}),
                )
                .with_aggregate_type(AggregateType::new(AGGREGATES[(i % 3) as usize]).unwrap())
                .with_timestamp(START_MS + i as i64)
            })
            .collect();
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

async fn measure(store: &PostgresStore, size: u64) {
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
    let rows = [
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
            median(|| async {
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
    for (name, (time, returned)) in rows {
        println!(
            "| {size} | {name} | {:.2} ms | {returned} |",
            time.as_secs_f64() * 1_000.0
        );
    }
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
        let options = PostgresOptions::new().pool_size(4);
        let store = PostgresStore::connect_with(url.parse().unwrap(), options)
            .await
            .unwrap();
        println!("| events | step | median of 5 | returned |");
        println!("|---|---|---|---|");
        let mut loaded = 0;
        for size in [100_000u64, 1_000_000] {
            let started = Instant::now();
            load(&store, loaded, size).await;
            println!(
                "(loaded {} events in {:.1} s)",
                size - loaded,
                started.elapsed().as_secs_f64()
            );
            loaded = size;
            measure(&store, size).await;
        }
    });
}
