//! Criterion micro-benchmarks of annal-core's hot paths: encoding and decoding an event as JSON,
//! matching a filter, checking a batch at the boundary, and one append and one stream read on
//! the in-memory backend (the disk backends have their own append and read benchmarks).

// A benchmark's set-up failing should stop it at once.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use annal_core::backend::prepare_batch;
use annal_core::{
    EventType, ExpectedVersion, Filter, Limits, MemoryStore, NewEvent, ReadStreamOptions,
    RecordedEvent, Store, StreamId, collect,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;

fn sample_event() -> RecordedEvent {
    let payload = json!({
        "taskId": "task-417", "result": {"ok": true}, "completedAt": 1_700_000_123_450_i64,
        "duration": 3417, "note": "n".repeat(200),
    });
    let batch = vec![
        NewEvent::new(EventType::new("task:completed").unwrap(), payload)
            .with_source("swarm")
            .with_timestamp(1_700_000_123_450),
    ];
    let prepared = prepare_batch(batch, &Limits::default(), 0).unwrap();
    prepared[0].record(
        &StreamId::new("task-417").unwrap(),
        annal_core::Version(12),
        annal_core::Position(11_417),
    )
}

fn codec(c: &mut Criterion) {
    let event = sample_event();
    let text = serde_json::to_string(&event).unwrap();
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode event json", |b| {
        b.iter(|| serde_json::to_string(black_box(&event)))
    });
    group.bench_function("decode event json", |b| {
        b.iter(|| serde_json::from_str::<RecordedEvent>(black_box(&text)))
    });
    // What a consumer that wants the tree pays on top of a decode, which keeps the payload as
    // text: one parse of the payload into a `Value`.
    group.bench_function("payload text to Value", |b| {
        b.iter(|| black_box(&event.payload).to_value())
    });
    group.finish();
}

fn filters(c: &mut Criterion) {
    let event = sample_event();
    let filter = Filter {
        event_types: vec![
            EventType::new("agent:task-completed").unwrap(),
            event.event_type.clone(),
        ],
        timestamp_from: Some(1_700_000_000_000),
        timestamp_to: Some(1_700_001_000_000),
        ..Filter::all()
    };
    let mut group = c.benchmark_group("filter");
    group.throughput(Throughput::Elements(1));
    group.bench_function("match types + time window", |b| {
        b.iter(|| black_box(&filter).matches(black_box(&event)))
    });
    group.finish();
}

fn boundary(c: &mut Criterion) {
    let new_event = NewEvent::new(
        EventType::new("task:completed").unwrap(),
        sample_event().payload.to_value(),
    );
    let mut group = c.benchmark_group("boundary");
    group.throughput(Throughput::Elements(1));
    group.bench_function("prepare one event", |b| {
        b.iter(|| prepare_batch(vec![black_box(new_event.clone())], &Limits::default(), 0))
    });
    group.finish();
}

fn memory_store(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = MemoryStore::new();
    let stream = StreamId::new("task-417").unwrap();
    let payload = sample_event().payload.to_value();
    let mut group = c.benchmark_group("memory store");
    group.throughput(Throughput::Elements(1));
    group.bench_function("append one event", |b| {
        b.iter(|| {
            let event = NewEvent::new(EventType::new("task:completed").unwrap(), payload.clone());
            runtime
                .block_on(store.append(&stream, ExpectedVersion::Any, vec![event]))
                .unwrap()
        })
    });
    let reader = StreamId::new("reader").unwrap();
    let batch: Vec<NewEvent> = (0..100)
        .map(|_| NewEvent::new(EventType::new("task:completed").unwrap(), payload.clone()))
        .collect();
    runtime
        .block_on(store.append(&reader, ExpectedVersion::Any, batch))
        .unwrap();
    group.throughput(Throughput::Elements(100));
    group.bench_function("read a 100-event stream", |b| {
        b.iter(|| {
            runtime.block_on(async {
                collect(
                    store
                        .read_stream(&reader, ReadStreamOptions::forward())
                        .await
                        .unwrap(),
                )
                .await
                .unwrap()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, codec, filters, boundary, memory_store);
criterion_main!(benches);
