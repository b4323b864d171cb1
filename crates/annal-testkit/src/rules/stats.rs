//! Stats: every count correct (the seed's scalar counts were always zero).

use std::sync::Arc;

use annal_core::{Position, Store, StreamCount, Version};
use serde_json::json;

use crate::fixtures::{append, event, stream};
use crate::rules::snapshot::snapshot;

/// Counts, per-type and per-aggregate-type maps, top streams, time and position bounds, and
/// snapshots.
pub async fn stats_are_correct(store: Arc<dyn Store>) {
    let at = |kind: &str, ts: i64| event(kind, json!({})).with_timestamp(ts);
    append(
        &store,
        "agent-1",
        vec![at("agent:spawned", 300), at("agent:started", 400)],
    )
    .await;
    append(&store, "agent-2", vec![at("agent:spawned", 100)]).await;
    append(&store, "task-1", vec![at("task:created", 200)]).await;
    store
        .save_snapshot(snapshot("agent-1", 2, json!({})))
        .await
        .unwrap();
    store
        .truncate_before(&stream("agent-1"), Version(2), false)
        .await
        .unwrap();
    let stats = store.stats(2).await.unwrap();
    assert_eq!(stats.total_events, 3, "the truncated event is not counted");
    assert_eq!(stats.events_by_type["agent:spawned"], 1);
    assert_eq!(stats.events_by_type["agent:started"], 1);
    assert_eq!(stats.events_by_type["task:created"], 1);
    assert_eq!(stats.events_by_aggregate_type["agent"], 2);
    assert_eq!(stats.events_by_aggregate_type["task"], 1);
    assert_eq!(stats.stream_count, 3);
    assert_eq!(
        stats.top_streams,
        vec![
            StreamCount {
                stream: stream("agent-1"),
                events: 1
            },
            StreamCount {
                stream: stream("agent-2"),
                events: 1
            },
        ],
        "ties are ordered by name, and the list is capped"
    );
    assert_eq!(stats.oldest_timestamp, Some(100));
    assert_eq!(stats.newest_timestamp, Some(400));
    assert_eq!(stats.first_position, Some(Position(2)));
    assert_eq!(stats.last_position, Some(Position(4)));
    assert_eq!(stats.snapshot_count, 1);
}

/// Asking for every stream (`usize::MAX`, as a caller listing streams does) right after an append
/// lists them all; a backend that adds to the cap internally must not overflow it.
pub async fn stats_with_no_cap_lists_every_stream(store: Arc<dyn Store>) {
    for name in ["agent-1", "agent-2", "task-1"] {
        append(&store, name, vec![event("agent:spawned", json!({}))]).await;
    }
    append(&store, "agent-2", vec![event("agent:started", json!({}))]).await;
    let stats = store.stats(usize::MAX).await.unwrap();
    let listed: Vec<_> = stats
        .top_streams
        .iter()
        .map(|s| (s.stream.as_str().to_owned(), s.events))
        .collect();
    assert_eq!(
        listed,
        [
            ("agent-2".into(), 2),
            ("agent-1".into(), 1),
            ("task-1".into(), 1)
        ],
        "every stream, most events first, ties by name"
    );
}

/// An empty store reports zeros and no bounds.
pub async fn stats_of_empty_store(store: Arc<dyn Store>) {
    let stats = store.stats(10).await.unwrap();
    assert_eq!(stats.total_events, 0);
    assert!(stats.events_by_type.is_empty());
    assert_eq!(stats.oldest_timestamp, None);
    assert_eq!(stats.last_position, None);
    assert_eq!(stats.snapshot_count, 0);
    assert!(stats.top_streams.is_empty());
}
