//! Read throughput of the SQLite backend: a full read of the log, and a read of one stream,
//! over a store of 100,000 events in 100 streams (events appended in 1,000-event batches).
//!
//! Run: `cargo bench -p annal-sqlite --bench read`.

// Benchmark code: a failed setup should stop the run loudly.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use annal_core::{
    EventType, ExpectedVersion, NewEvent, Position, ReadStreamOptions, Store, StreamId,
};
use annal_sqlite::SqliteStore;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use serde_json::json;

const STREAMS: u64 = 100;
const PER_STREAM: u64 = 1_000;

fn event(n: u64) -> NewEvent {
    let note = "the agent finished the step and wrote its findings to memory; ".repeat(4);
    NewEvent::new(
        EventType::new("agent:step").unwrap(),
        json!({ "n": n, "note": note }),
    )
    .with_source("orchestrator")
}

fn reads(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("bench.db")).unwrap();
    runtime.block_on(async {
        // Interleave the streams batch by batch, so one stream's events are spread out.
        for round in 0..PER_STREAM / 100 {
            for s in 0..STREAMS {
                let stream = StreamId::new(format!("agent-{s}")).unwrap();
                let events: Vec<NewEvent> = (0..100).map(|i| event(round * 100 + i)).collect();
                store
                    .append(&stream, ExpectedVersion::Any, events)
                    .await
                    .unwrap();
            }
        }
    });
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(STREAMS * PER_STREAM));
    group.bench_function("all_100k_events", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut events = store.read_all(Position::START).await.unwrap();
                let mut n = 0u64;
                while let Some(event) = events.next().await {
                    event.unwrap();
                    n += 1;
                }
                assert_eq!(n, STREAMS * PER_STREAM);
            })
        });
    });
    group.throughput(Throughput::Elements(PER_STREAM));
    group.bench_function("one_stream_1000_events", |b| {
        let stream = StreamId::new("agent-7").unwrap();
        b.iter(|| {
            runtime.block_on(async {
                let read = store
                    .read_stream(&stream, ReadStreamOptions::forward())
                    .await
                    .unwrap();
                assert_eq!(read.count().await as u64, PER_STREAM);
            })
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    targets = reads
}
criterion_main!(benches);
