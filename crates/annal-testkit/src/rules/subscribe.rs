//! Subscriptions: history then live, in position order, each event exactly once, with filters,
//! and no loss for a slow consumer.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use annal_core::{EventStream, Filter, Position, RecordedEvent, Store};
use futures::StreamExt;
use serde_json::json;

use crate::fixtures::{append, append_many, event, event_type};

/// Takes `count` events from `events`, failing if they do not arrive within ten seconds.
pub async fn take(events: &mut EventStream, count: usize) -> Vec<RecordedEvent> {
    let mut taken = Vec::with_capacity(count);
    while taken.len() < count {
        let next = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} events arrived", taken.len()));
        match next {
            Some(Ok(event)) => taken.push(event),
            Some(Err(error)) => panic!("subscription failed: {error}"),
            None => panic!("subscription ended after {} of {count} events", taken.len()),
        }
    }
    taken
}

/// Asserts that nothing more arrives for a short while.
pub async fn assert_quiet(events: &mut EventStream) {
    let next = tokio::time::timeout(Duration::from_millis(200), events.next()).await;
    if let Ok(Some(event)) = next {
        panic!("unexpected extra event: {event:?}");
    }
}

/// History first, then events appended after subscribing, in order.
pub async fn subscribe_history_then_live(store: Arc<dyn Store>) {
    append_many(&store, "agent-1", 3).await;
    let mut events = store
        .subscribe(Position::START, Filter::all())
        .await
        .unwrap();
    let history = take(&mut events, 3).await;
    assert_eq!(
        history.iter().map(|e| e.position.0).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    append_many(&store, "agent-2", 2).await;
    let live = take(&mut events, 2).await;
    assert_eq!(
        live.iter().map(|e| e.position.0).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert_quiet(&mut events).await;
}

/// A subscription starts at the given position (inclusive).
pub async fn subscribe_from_position(store: Arc<dyn Store>) {
    append_many(&store, "task-1", 5).await;
    let mut events = store.subscribe(Position(4), Filter::all()).await.unwrap();
    let got = take(&mut events, 2).await;
    assert_eq!(
        got.iter().map(|e| e.position.0).collect::<Vec<_>>(),
        vec![4, 5]
    );
    assert_quiet(&mut events).await;
}

/// Only the events the filter selects are delivered, live ones included.
pub async fn subscribe_with_filter(store: Arc<dyn Store>) {
    let filter = Filter {
        event_types: vec![event_type("task:failed")],
        ..Filter::all()
    };
    let mut events = store.subscribe(Position::START, filter).await.unwrap();
    append(&store, "task-1", vec![event("task:created", json!({}))]).await;
    append(
        &store,
        "task-1",
        vec![event("task:failed", json!({"why": "x"}))],
    )
    .await;
    append(&store, "task-2", vec![event("task:completed", json!({}))]).await;
    let got = take(&mut events, 1).await;
    assert_eq!(got[0].payload, json!({"why": "x"}));
    assert_quiet(&mut events).await;
}

/// A consumer that does not read while thousands of events commit still gets every one.
pub async fn slow_subscriber_loses_nothing(store: Arc<dyn Store>) {
    let mut events = store
        .subscribe(Position::START, Filter::all())
        .await
        .unwrap();
    for chunk in 0..10u64 {
        let batch = (0..500u64)
            .map(|n| event("note:added", json!({ "n": chunk * 500 + n })))
            .collect();
        append(&store, "flood", batch).await;
    }
    let got = take(&mut events, 5_000).await;
    let positions: Vec<u64> = got.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, (1..=5_000).collect::<Vec<_>>());
}

/// With concurrent writers, a subscriber sees every acknowledged event once, in strictly
/// increasing position: it never sees a position below one it has already seen.
pub async fn subscriber_sees_commits_in_order_under_concurrency(store: Arc<dyn Store>) {
    let mut events = store
        .subscribe(Position::START, Filter::all())
        .await
        .unwrap();
    let mut writers = Vec::new();
    for writer in 0..8u64 {
        let store = Arc::clone(&store);
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0..50u64 {
                let result = append(
                    &store,
                    &format!("w-{writer}"),
                    vec![event("note:added", json!({ "n": n }))],
                )
                .await;
                acked.push(result.last_position.0);
            }
            acked
        }));
    }
    let got = take(&mut events, 400).await;
    let mut acknowledged = BTreeSet::new();
    for writer in writers {
        acknowledged.extend(writer.await.expect("writer runs"));
    }
    let positions: Vec<u64> = got.iter().map(|e| e.position.0).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "positions strictly increase"
    );
    assert_eq!(positions.into_iter().collect::<BTreeSet<_>>(), acknowledged);
    assert_quiet(&mut events).await;
}
