// Goal: the statistics are maintained, not recounted, and stay exact after every kind of
// removal, after a transaction that dies before its commit, and whichever of a removal and the
// fold (which counts new events behind the commits) takes the statistics' lock first. Method: a
// store with several types, aggregate types and streams; after appends, a truncation, a stream
// deletion, store-wide retention, an insert whose connection is killed before COMMIT, and a
// truncation queued behind a fold, `stats` must equal the same figures counted from a full read
// of the log, top streams included.

use std::collections::BTreeMap;

use annal_core::{
    AggregateType, EventType, ExpectedVersion, NewEvent, Position, RetentionPolicy, Stats, Store,
    StreamCount, StreamId, Version,
};
use annal_postgres::PostgresStore;
use futures::StreamExt;
use serde_json::json;

use annal_testkit::pg_cluster::cluster;

use crate::watermark::{hold_fold, plain, until_counted, until_waiting, watermark_and_head};

/// The figures of `stats` that come from the events, counted from a full read.
async fn recount(store: &PostgresStore) -> Stats {
    let mut stats = Stats::default();
    let mut per_stream: BTreeMap<String, u64> = BTreeMap::new();
    let mut events = store.read_all(Position::START).await.unwrap();
    while let Some(event) = events.next().await {
        let event = event.unwrap();
        stats.total_events += 1;
        *stats
            .events_by_type
            .entry(event.event_type.to_string())
            .or_default() += 1;
        *stats
            .events_by_aggregate_type
            .entry(event.aggregate_type.to_string())
            .or_default() += 1;
        *per_stream
            .entry(event.aggregate_id.to_string())
            .or_default() += 1;
        let stamp = Some(event.timestamp);
        stats.oldest_timestamp = stats.oldest_timestamp.min(stamp).or(stamp);
        stats.newest_timestamp = stats.newest_timestamp.max(stamp);
        stats.first_position = stats.first_position.or(Some(event.position));
        stats.last_position = Some(event.position);
    }
    stats.stream_count = per_stream.len() as u64;
    let mut top: Vec<StreamCount> = per_stream
        .into_iter()
        .map(|(name, events)| StreamCount {
            stream: StreamId::new(name).unwrap(),
            events,
        })
        .collect();
    // Most events first, ties by name in byte order (BTreeMap order, kept by the stable sort).
    top.sort_by_key(|count| std::cmp::Reverse(count.events));
    top.truncate(3);
    stats.top_streams = top;
    stats
}

async fn assert_exact(store: &PostgresStore, step: &str) {
    let stats = store.stats(3).await.unwrap();
    let counted = recount(store).await;
    assert_eq!(stats.total_events, counted.total_events, "{step}: total");
    assert_eq!(
        stats.events_by_type, counted.events_by_type,
        "{step}: types"
    );
    assert_eq!(
        stats.events_by_aggregate_type, counted.events_by_aggregate_type,
        "{step}: aggregate types"
    );
    assert_eq!(stats.stream_count, counted.stream_count, "{step}: streams");
    assert_eq!(
        stats.oldest_timestamp, counted.oldest_timestamp,
        "{step}: oldest"
    );
    assert_eq!(
        stats.newest_timestamp, counted.newest_timestamp,
        "{step}: newest"
    );
    assert_eq!(
        stats.first_position, counted.first_position,
        "{step}: first"
    );
    assert_eq!(stats.last_position, counted.last_position, "{step}: last");
    assert_eq!(
        stats.top_streams, counted.top_streams,
        "{step}: top streams"
    );
}

fn event(kind: &str, aggregate: &str, stamp: i64) -> NewEvent {
    NewEvent::new(EventType::new(kind).unwrap(), json!({}))
        .with_aggregate_type(AggregateType::new(aggregate).unwrap())
        .with_timestamp(stamp)
}

#[tokio::test]
async fn stats_stay_exact_through_appends_removals_and_a_dead_transaction() {
    let url = cluster().fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let kinds = ["task:created", "task:done", "agent:step"];
    for n in 0..60i64 {
        let stream = StreamId::new(format!("s-{}", n % 7)).unwrap();
        let kind = kinds[(n % 3) as usize];
        let aggregate = if n % 2 == 0 { "task" } else { "agent" };
        let batch = vec![
            event(kind, aggregate, 1_000 + n),
            event(kind, aggregate, 5_000 - n),
        ];
        store
            .append(&stream, ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
    assert_exact(&store, "appends").await;
    let top = store.stats(3).await.unwrap().top_streams;
    assert_eq!(top.len(), 3);
    assert!(
        top.windows(2).all(|w| w[0].events >= w[1].events),
        "top streams by count"
    );

    let s1 = StreamId::new("s-1").unwrap();
    store.truncate_before(&s1, Version(5), true).await.unwrap();
    assert_exact(&store, "truncate").await;
    let s2 = StreamId::new("s-2").unwrap();
    store
        .delete_stream(&s2, ExpectedVersion::Any)
        .await
        .unwrap();
    assert_exact(&store, "delete").await;
    let policy = RetentionPolicy {
        before_timestamp: Some(1_020),
        max_events: Some(80),
        force: true,
    };
    store.retain(policy).await.unwrap();
    assert_exact(&store, "retain").await;

    // An insert whose connection dies before COMMIT: its trigger ran, its counts must vanish
    // with its rows.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    client
        .batch_execute(
            "BEGIN; INSERT INTO events (position, stream_id, version, type_id, \
             aggregate_type_id, timestamp, id, source, payload, metadata) \
             SELECT 1000000, id, 1000, (SELECT min(id) FROM types), \
             (SELECT min(id) FROM aggregate_types), 7, 'dead', '', '{}', '{}' \
             FROM streams ORDER BY id LIMIT 1",
        )
        .await
        .unwrap();
    drop(client);
    let _ = driver.await;
    assert_exact(&store, "dead transaction").await;
    store
        .append(
            &s2,
            ExpectedVersion::Any,
            vec![event("task:done", "task", 9)],
        )
        .await
        .unwrap();
    assert_exact(&store, "append after removals").await;
}

#[tokio::test]
async fn a_removal_queued_behind_a_fold_uncounts_what_the_fold_counted() {
    let url = cluster().fresh_database().await;
    let store = std::sync::Arc::new(PostgresStore::connect(&url).await.unwrap());
    let observer = plain(&url).await;
    let stream = StreamId::new("s-0").unwrap();
    let other = StreamId::new("s-1").unwrap();
    for n in 0..10 {
        for target in [&stream, &other] {
            let batch = vec![event("task:done", "task", n)];
            store
                .append(target, ExpectedVersion::Any, batch)
                .await
                .unwrap();
        }
    }
    assert_exact(&store, "before the fold").await;

    // Hold the statistics' lock, so the next fold waits for it with new events to count.
    let mut holder = plain(&url).await;
    let held = hold_fold(&mut holder).await;
    for n in 10..25 {
        let batch = vec![event("agent:step", "agent", n)];
        store
            .append(&stream, ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
    // Past the watermark: read from the tail.
    assert_exact(&store, "new events not yet counted").await;
    let (watermark, head) = watermark_and_head(&observer).await;
    assert!(watermark < head, "the fold cannot have counted them yet");
    until_waiting(&observer, 1).await;

    // A truncation of events on both sides of the watermark, queued behind the fold.
    let truncating = {
        let store = std::sync::Arc::clone(&store);
        let stream = stream.clone();
        tokio::spawn(async move { store.truncate_before(&stream, Version(20), true).await })
    };
    until_waiting(&observer, 2).await;
    held.commit().await.unwrap();
    truncating.await.unwrap().unwrap();
    assert_exact(&store, "truncation after the fold").await;

    until_counted(&observer).await;
    assert_exact(&store, "everything counted").await;
}

#[tokio::test]
async fn the_check_finds_damaged_counts_and_time_bounds_and_nothing_in_a_sound_store() {
    let url = cluster().fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    for n in 0..12i64 {
        let stream = StreamId::new(format!("s-{}", n % 3)).unwrap();
        let batch = vec![event("task:done", "task", 1_000 + n)];
        store
            .append(&stream, ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
    assert_eq!(store.check_index().await.unwrap(), Vec::<String>::new());

    let observer = plain(&url).await;
    until_counted(&observer).await;
    observer
        .batch_execute(
            "UPDATE counts SET events = events + 2 WHERE kind = 'type'; \
             UPDATE stream_counts SET events = events + 1 \
                 WHERE stream_id = (SELECT id FROM streams WHERE name = 's-1'); \
             UPDATE time_chunks SET max_ts = 1000",
        )
        .await
        .unwrap();
    let problems = store.check_index().await.unwrap();
    let named = |text: &str| problems.iter().any(|problem| problem.contains(text));
    assert!(named("table counts (type "), "{problems:?}");
    assert!(named("table stream_counts (\"s-1\")"), "{problems:?}");
    assert!(named("table time_chunks (run 0)"), "{problems:?}");
    assert_eq!(problems.len(), 3, "{problems:?}");
}
