// Goal: the statistics are maintained with the events, not recounted, and stay exact after
// every kind of removal and after a transaction that dies before its commit. Method: a store
// with several types, aggregate types and streams; after appends, a truncation, a stream
// deletion, store-wide retention, and an insert whose connection is killed before COMMIT,
// `stats` must equal the same figures counted from a full read of the log.

use std::collections::BTreeMap;

use annal_core::{
    AggregateType, EventType, ExpectedVersion, NewEvent, Position, RetentionPolicy, Stats, Store,
    StreamId, Version,
};
use annal_postgres::PostgresStore;
use futures::StreamExt;
use serde_json::json;

use annal_testkit::pg_cluster::cluster;

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
    let top: u64 = stats.top_streams.iter().map(|s| s.events).sum();
    assert!(
        stats.top_streams.len() <= 3 && top <= counted.total_events,
        "{step}: top"
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
