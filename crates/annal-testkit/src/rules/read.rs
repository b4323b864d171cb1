//! Reads: one stream forward or backward from a version with a limit, and everything from a
//! position, as streams that page through the backend.

use std::sync::Arc;

use annal_core::{Position, ReadStreamOptions, Store, Version};
use futures::StreamExt;

use crate::fixtures::{all, append_many, stream, versions};

/// Forward from a version, with and without a limit.
pub async fn read_stream_forward(store: Arc<dyn Store>) {
    append_many(&store, "agent-1", 5).await;
    append_many(&store, "agent-2", 2).await;
    let s = stream("agent-1");
    let read = |options| {
        let store = Arc::clone(&store);
        let s = s.clone();
        async move { versions(&all(store.read_stream(&s, options).await.unwrap()).await) }
    };
    assert_eq!(
        read(ReadStreamOptions::forward()).await,
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        read(ReadStreamOptions::forward().from(Version(3))).await,
        vec![3, 4, 5]
    );
    assert_eq!(
        read(ReadStreamOptions::forward().from(Version(2)).limit(2)).await,
        vec![2, 3]
    );
    assert_eq!(
        read(ReadStreamOptions::forward().from(Version(9))).await,
        Vec::<u64>::new()
    );
    assert_eq!(
        read(ReadStreamOptions::forward().limit(0)).await,
        Vec::<u64>::new()
    );
}

/// Backward from the end or from a version, with a limit.
pub async fn read_stream_backward(store: Arc<dyn Store>) {
    append_many(&store, "task-1", 5).await;
    let s = stream("task-1");
    let events = all(store
        .read_stream(&s, ReadStreamOptions::backward())
        .await
        .unwrap())
    .await;
    assert_eq!(versions(&events), vec![5, 4, 3, 2, 1]);
    let options = ReadStreamOptions::backward().from(Version(4)).limit(2);
    let events = all(store.read_stream(&s, options).await.unwrap()).await;
    assert_eq!(versions(&events), vec![4, 3]);
}

/// A stream that does not exist reads as empty, not as an error.
pub async fn read_missing_stream_is_empty(store: Arc<dyn Store>) {
    let events = store
        .read_stream(&stream("nobody"), ReadStreamOptions::forward())
        .await
        .unwrap();
    assert!(all(events).await.is_empty());
    assert_eq!(
        store.stream_version(&stream("nobody")).await.unwrap(),
        Version::NONE
    );
}

/// `read_all` starts at a position (inclusive) and returns position order.
pub async fn read_all_from_position(store: Arc<dyn Store>) {
    append_many(&store, "a", 3).await;
    append_many(&store, "b", 3).await;
    let events = all(store.read_all(Position(4)).await.unwrap()).await;
    let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, vec![4, 5, 6]);
    assert!(events.iter().all(|e| e.aggregate_id == stream("b")));
    assert!(
        all(store.read_all(Position(7)).await.unwrap())
            .await
            .is_empty()
    );
}

/// Long reads cross many backend pages without losing or repeating an event, and a reader may
/// stop early.
pub async fn long_reads_page_through(store: Arc<dyn Store>) {
    let batch: Vec<_> = (0..2_500u64)
        .map(|n| crate::fixtures::event("note:added", serde_json::json!({ "n": n })))
        .collect();
    crate::fixtures::append(&store, "long", batch).await;
    let events = all(store
        .read_stream(&stream("long"), ReadStreamOptions::forward())
        .await
        .unwrap())
    .await;
    assert_eq!(versions(&events), (1..=2_500).collect::<Vec<_>>());
    let back = all(store
        .read_stream(&stream("long"), ReadStreamOptions::backward())
        .await
        .unwrap())
    .await;
    assert_eq!(back.len(), 2_500);
    assert_eq!(back[0].version, Version(2_500));
    let mut everything = store.read_all(Position::START).await.unwrap();
    let mut last = 0;
    let mut count = 0;
    while let Some(event) = everything.next().await {
        let event = event.unwrap();
        assert!(event.position.0 > last, "positions strictly increase");
        last = event.position.0;
        count += 1;
        if count == 1_000 {
            break;
        }
    }
    assert_eq!(count, 1_000);
}

/// `event_by_id` finds a readable event by its id, and nothing for an id never stored or an
/// event removed.
pub async fn event_by_id_finds_readable_events(store: Arc<dyn Store>) {
    let at = |id: &str| {
        crate::fixtures::event("note:added", serde_json::json!({}))
            .with_id(crate::fixtures::event_id(id))
    };
    crate::fixtures::append(&store, "a", vec![at("e-1"), at("e-2")]).await;
    crate::fixtures::append(&store, "b", vec![at("e-3")]).await;
    let found = store
        .event_by_id(&crate::fixtures::event_id("e-2"))
        .await
        .unwrap()
        .expect("e-2 is stored");
    assert_eq!(
        (found.aggregate_id, found.version),
        (stream("a"), Version(2))
    );
    let missing = crate::fixtures::event_id("e-9");
    assert!(store.event_by_id(&missing).await.unwrap().is_none());
    store
        .truncate_before(&stream("a"), Version(2), true)
        .await
        .unwrap();
    let removed = crate::fixtures::event_id("e-1");
    assert!(store.event_by_id(&removed).await.unwrap().is_none());
}
