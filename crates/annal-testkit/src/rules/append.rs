//! Appends: atomic batches, versions from 1, global positions, expected versions.

use std::collections::BTreeSet;
use std::sync::Arc;

use annal_core::{AppendError, ExpectedVersion, Position, ReadStreamOptions, Store, Version};
use serde_json::json;

use crate::fixtures::{all, append, event, event_id, everything, numbered, stream, versions};

/// A batch gets consecutive versions from 1 and consecutive positions; the result reports them.
pub async fn append_assigns_versions_and_positions(store: Arc<dyn Store>) {
    let batch = vec![
        numbered("task:created", "a", 1),
        numbered("task:started", "b", 2),
    ];
    let result = append(&store, "task-1", batch).await;
    assert_eq!(result.first_position, Position(1));
    assert_eq!(result.last_position, Position(2));
    assert_eq!(result.stream_version, Version(2));
    let events = all(store
        .read_stream(&stream("task-1"), ReadStreamOptions::forward())
        .await
        .unwrap())
    .await;
    assert_eq!(versions(&events), vec![1, 2]);
    assert_eq!(events[0].id, event_id("a"), "batch order is kept");
    assert_eq!(events[1].position, Position(2));
    assert_eq!(store.head().await.unwrap(), Position(2));
}

/// Positions are global: they interleave across streams in commit order.
pub async fn positions_are_global_across_streams(store: Arc<dyn Store>) {
    let a = append(&store, "agent-1", vec![numbered("agent:spawned", "a1", 1)]).await;
    let b = append(&store, "task-1", vec![numbered("task:created", "t1", 2)]).await;
    let c = append(&store, "agent-1", vec![numbered("agent:started", "a2", 3)]).await;
    assert!(a.last_position < b.first_position && b.last_position < c.first_position);
    assert_eq!(c.stream_version, Version(2));
    let events = everything(&store).await;
    let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, vec![1, 2, 3]);
}

/// A batch with one invalid event stores none of its events.
pub async fn batch_is_atomic(store: Arc<dyn Store>) {
    let batch = vec![
        numbered("task:created", "ok-1", 1),
        numbered("task:started", "ok-2", 2),
        event("task:completed", json!("not an object")),
    ];
    let error = store
        .append(&stream("task-1"), ExpectedVersion::Any, batch)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AppendError::InvalidEvent { index: 2, .. }),
        "{error}"
    );
    assert_eq!(
        store.stream_version(&stream("task-1")).await.unwrap(),
        Version::NONE
    );
    assert_eq!(store.head().await.unwrap(), Position::START);
    assert!(everything(&store).await.is_empty());
}

/// `NoStream` succeeds only on a stream that never held an event; a mismatch reports the
/// actual version and writes nothing.
pub async fn expected_no_stream(store: Arc<dyn Store>) {
    let s = stream("agent-1");
    store
        .append(
            &s,
            ExpectedVersion::NoStream,
            vec![numbered("agent:spawned", "a", 1)],
        )
        .await
        .unwrap();
    let error = store
        .append(
            &s,
            ExpectedVersion::NoStream,
            vec![numbered("agent:spawned", "b", 2)],
        )
        .await
        .unwrap_err();
    match error {
        AppendError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(stream, s);
            assert_eq!(expected, ExpectedVersion::NoStream);
            assert_eq!(actual, Version(1));
        }
        other => panic!("expected WrongExpectedVersion, got {other}"),
    }
    assert_eq!(
        everything(&store).await.len(),
        1,
        "the refused append wrote nothing"
    );
}

/// `Exact(v)` succeeds only when the stream is at `v`.
pub async fn expected_exact(store: Arc<dyn Store>) {
    let s = stream("task-1");
    let exact = |v| ExpectedVersion::Exact(Version(v));
    store
        .append(&s, exact(0), vec![numbered("task:created", "a", 1)])
        .await
        .unwrap();
    store
        .append(&s, exact(1), vec![numbered("task:started", "b", 2)])
        .await
        .unwrap();
    let error = store
        .append(&s, exact(1), vec![numbered("task:failed", "c", 3)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            AppendError::WrongExpectedVersion {
                actual: Version(2),
                ..
            }
        ),
        "{error}"
    );
    let error = store
        .append(&s, exact(5), vec![numbered("task:failed", "d", 4)])
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        AppendError::WrongExpectedVersion {
            actual: Version(2),
            ..
        }
    ));
    let events = all(store
        .read_stream(&s, ReadStreamOptions::forward())
        .await
        .unwrap())
    .await;
    assert_eq!(versions(&events), vec![1, 2]);
}

/// `StreamExists` fails on a missing stream and succeeds once it has an event; `Any` always
/// succeeds.
pub async fn expected_stream_exists_and_any(store: Arc<dyn Store>) {
    let s = stream("swarm-1");
    let error = store
        .append(
            &s,
            ExpectedVersion::StreamExists,
            vec![numbered("swarm:scaled", "a", 1)],
        )
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        AppendError::WrongExpectedVersion {
            actual: Version(0),
            ..
        }
    ));
    store
        .append(
            &s,
            ExpectedVersion::Any,
            vec![numbered("swarm:initialized", "b", 2)],
        )
        .await
        .unwrap();
    let result = store
        .append(
            &s,
            ExpectedVersion::StreamExists,
            vec![numbered("swarm:scaled", "c", 3)],
        )
        .await
        .unwrap();
    assert_eq!(result.stream_version, Version(2));
    let result = store
        .append(
            &s,
            ExpectedVersion::Any,
            vec![numbered("swarm:scaled", "d", 4)],
        )
        .await
        .unwrap();
    assert_eq!(result.stream_version, Version(3));
}

/// Of many concurrent appends that all expect the same version, exactly one wins.
pub async fn concurrent_expected_version_has_one_winner(store: Arc<dyn Store>) {
    let s = stream("task-race");
    let mut tasks = Vec::new();
    for n in 0..16u64 {
        let store = Arc::clone(&store);
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let batch = vec![numbered("task:created", &format!("racer-{n}"), n)];
            store.append(&s, ExpectedVersion::NoStream, batch).await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("append task runs") {
            Ok(_) => winners += 1,
            Err(AppendError::WrongExpectedVersion {
                actual: Version(1), ..
            }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(store.stream_version(&s).await.unwrap(), Version(1));
}

/// Concurrent appends with `Any` get gap-free versions and distinct positions.
pub async fn concurrent_appends_are_gap_free(store: Arc<dyn Store>) {
    let s = stream("agent-busy");
    let mut tasks = Vec::new();
    for n in 0..32u64 {
        let store = Arc::clone(&store);
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let batch = vec![
                numbered("agent:started", &format!("x-{n}"), n),
                numbered("agent:stopped", &format!("y-{n}"), n),
            ];
            store
                .append(&s, ExpectedVersion::Any, batch)
                .await
                .expect("Any never conflicts")
        }));
    }
    for task in tasks {
        task.await.expect("append task runs");
    }
    let events = all(store
        .read_stream(&s, ReadStreamOptions::forward())
        .await
        .unwrap())
    .await;
    assert_eq!(versions(&events), (1..=64).collect::<Vec<_>>());
    let positions: BTreeSet<u64> = events.iter().map(|e| e.position.0).collect();
    assert_eq!(positions.len(), 64);
    // Each batch stays contiguous: its two events sit at adjacent versions.
    for pair in events.chunks(2) {
        assert_eq!(
            pair[0].id.as_str().replace("x-", ""),
            pair[1].id.as_str().replace("y-", "")
        );
    }
}

/// Every field given at append comes back; omitted ones get their documented defaults.
pub async fn envelope_round_trips_with_defaults(store: Arc<dyn Store>) {
    let full = event(
        "memory:stored",
        json!({"key": "k", "nested": {"list": [1, 2.5, null]}}),
    )
    .with_id(event_id("full"))
    .with_aggregate_type(annal_core::AggregateType::new("memory").unwrap())
    .with_timestamp(1_700_000_000_123)
    .with_source("agent-7")
    .with_metadata(json!({"trace": "t-1"}))
    .with_causation_id("cmd-1")
    .with_correlation_id("run-1");
    let bare = event("task:created", json!({}));
    append(&store, "mixed", vec![full.clone(), bare]).await;
    let events = everything(&store).await;
    let stored = &events[0];
    assert_eq!(stored.id, event_id("full"));
    assert_eq!(stored.payload, full.payload);
    assert_eq!(stored.timestamp, 1_700_000_000_123);
    assert_eq!(stored.source, "agent-7");
    assert_eq!(stored.metadata, json!({"trace": "t-1"}));
    assert_eq!(stored.causation_id.as_deref(), Some("cmd-1"));
    assert_eq!(stored.correlation_id.as_deref(), Some("run-1"));
    assert_eq!(stored.aggregate_id, stream("mixed"));
    let defaulted = &events[1];
    assert_eq!(
        defaulted.aggregate_type.as_str(),
        "task",
        "the type's domain"
    );
    assert_eq!(defaulted.metadata, json!({}));
    assert_eq!(defaulted.source, "");
    assert_eq!(defaulted.causation_id, None);
    assert!(
        defaulted.timestamp > 1_600_000_000_000,
        "stamped by the store's clock"
    );
    assert_ne!(defaulted.id, stored.id);
}
