//! Retention: truncation, soft deletion and store-wide policies. Positions and versions are
//! never reused, and events a snapshot does not cover are kept unless forced.

use std::sync::Arc;

use annal_core::{
    ExpectedVersion, Position, ReadStreamOptions, RetentionError, RetentionPolicy, Store, Version,
};
use serde_json::json;

use crate::fixtures::{all, append, append_many, event, everything, stream, versions};
use crate::rules::snapshot::snapshot;

async fn stream_versions(store: &Arc<dyn Store>, name: &str) -> Vec<u64> {
    versions(
        &all(store
            .read_stream(&stream(name), ReadStreamOptions::forward())
            .await
            .unwrap())
        .await,
    )
}

/// `truncate_before` removes older versions; the stream keeps counting after them.
pub async fn truncate_removes_older_versions(store: Arc<dyn Store>) {
    append_many(&store, "run-1", 6).await;
    let report = store
        .truncate_before(&stream("run-1"), Version(4), false)
        .await
        .unwrap();
    assert_eq!(report.removed, 3);
    assert_eq!(stream_versions(&store, "run-1").await, vec![4, 5, 6]);
    let result = append(&store, "run-1", vec![event("note:added", json!({}))]).await;
    assert_eq!(result.stream_version, Version(7));
    assert_eq!(
        result.first_position,
        Position(7),
        "positions are not reused"
    );
}

/// Truncating past a snapshot is refused unless forced; up to it is allowed.
pub async fn truncate_respects_snapshot(store: Arc<dyn Store>) {
    append_many(&store, "agent-1", 6).await;
    store
        .save_snapshot(snapshot("agent-1", 3, json!({})))
        .await
        .unwrap();
    let error = store
        .truncate_before(&stream("agent-1"), Version(6), false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RetentionError::ProtectedBySnapshot {
                snapshot: Version(3),
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        stream_versions(&store, "agent-1").await,
        vec![1, 2, 3, 4, 5, 6],
        "nothing removed"
    );
    store
        .truncate_before(&stream("agent-1"), Version(4), false)
        .await
        .unwrap();
    assert_eq!(stream_versions(&store, "agent-1").await, vec![4, 5, 6]);
    store
        .truncate_before(&stream("agent-1"), Version(6), true)
        .await
        .unwrap();
    assert_eq!(stream_versions(&store, "agent-1").await, vec![6]);
}

/// Deleting a stream removes its events and snapshot from every read, keeps its version
/// counter, and never reuses positions.
pub async fn delete_stream_hides_everything(store: Arc<dyn Store>) {
    append_many(&store, "task-1", 3).await;
    append_many(&store, "task-2", 1).await;
    store
        .save_snapshot(snapshot("task-1", 2, json!({})))
        .await
        .unwrap();
    let report = store
        .delete_stream(&stream("task-1"), ExpectedVersion::Exact(Version(3)))
        .await
        .unwrap();
    assert_eq!(report.removed, 3);
    assert!(stream_versions(&store, "task-1").await.is_empty());
    assert_eq!(store.load_snapshot(&stream("task-1")).await.unwrap(), None);
    assert_eq!(everything(&store).await.len(), 1);
    assert_eq!(
        store.stream_version(&stream("task-1")).await.unwrap(),
        Version(3)
    );
    let result = append(&store, "task-1", vec![event("task:created", json!({}))]).await;
    assert_eq!(result.stream_version, Version(4));
    assert_eq!(result.first_position, Position(5));
    assert_eq!(stream_versions(&store, "task-1").await, vec![4]);
}

/// Deleting with a wrong expected version is refused and removes nothing.
pub async fn delete_stream_checks_expected_version(store: Arc<dyn Store>) {
    append_many(&store, "task-1", 2).await;
    let error = store
        .delete_stream(&stream("task-1"), ExpectedVersion::Exact(Version(1)))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        RetentionError::WrongExpectedVersion {
            actual: Version(2),
            ..
        }
    ));
    assert_eq!(stream_versions(&store, "task-1").await, vec![1, 2]);
}

/// `max_events` keeps the newest events by position.
pub async fn retain_keeps_newest_events(store: Arc<dyn Store>) {
    append_many(&store, "run-a", 5).await;
    append_many(&store, "run-b", 5).await;
    let policy = RetentionPolicy {
        max_events: Some(4),
        ..RetentionPolicy::default()
    };
    let report = store.retain(policy).await.unwrap();
    assert_eq!(report.removed, 6);
    let positions: Vec<u64> = everything(&store)
        .await
        .iter()
        .map(|e| e.position.0)
        .collect();
    assert_eq!(positions, vec![7, 8, 9, 10]);
    assert_eq!(store.stats(10).await.unwrap().total_events, 4);
}

/// `before_timestamp` removes older events; snapshot-uncovered events survive unless forced.
pub async fn retain_by_age_respects_snapshots(store: Arc<dyn Store>) {
    for n in 0..4i64 {
        let old = event("note:added", json!({})).with_timestamp(1_000 + n);
        append(&store, "log", vec![old.clone()]).await;
        append(&store, "agent-1", vec![old]).await;
    }
    store
        .save_snapshot(snapshot("agent-1", 2, json!({})))
        .await
        .unwrap();
    let policy = RetentionPolicy {
        before_timestamp: Some(1_003),
        ..RetentionPolicy::default()
    };
    let report = store.retain(policy).await.unwrap();
    assert_eq!(report.removed, 5, "log v1-3 and agent-1 v1-2");
    assert_eq!(report.protected, 1, "agent-1 v3 is newer than its snapshot");
    assert_eq!(stream_versions(&store, "log").await, vec![4]);
    assert_eq!(stream_versions(&store, "agent-1").await, vec![3, 4]);
    let forced = RetentionPolicy {
        force: true,
        ..policy
    };
    assert_eq!(store.retain(forced).await.unwrap().removed, 1);
    assert_eq!(stream_versions(&store, "agent-1").await, vec![4]);
}

/// Timestamps are the caller's and need not grow with the version: an age cutoff removes only
/// the longest prefix of each stream older than it, so every stream stays a contiguous suffix
/// of its versions (never a hole in the middle), also combined with a count limit.
pub async fn retain_by_age_keeps_every_stream_a_suffix(store: Arc<dyn Store>) {
    // Stream "mixed": old, old, young, old, young. Stream "old": all old. Stream "young": all
    // young but one old event at the end.
    let stamps: [(&str, i64); 9] = [
        ("mixed", 1_000),
        ("old", 1_000),
        ("mixed", 1_001),
        ("young", 9_000),
        ("mixed", 9_000),
        ("old", 1_002),
        ("mixed", 1_002),
        ("young", 1_000),
        ("mixed", 9_001),
    ];
    for (name, timestamp) in stamps {
        let event = event("note:added", json!({})).with_timestamp(timestamp);
        append(&store, name, vec![event]).await;
    }
    let policy = RetentionPolicy {
        before_timestamp: Some(5_000),
        ..RetentionPolicy::default()
    };
    let report = store.retain(policy).await.unwrap();
    assert_eq!(report.removed, 4, "mixed v1-2 and old v1-2");
    assert_eq!(report.protected, 0);
    assert_eq!(stream_versions(&store, "mixed").await, vec![3, 4, 5]);
    assert!(stream_versions(&store, "old").await.is_empty());
    assert_eq!(stream_versions(&store, "young").await, vec![1, 2]);
    assert_eq!(
        store.retain(policy).await.unwrap().removed,
        0,
        "a second pass is a no-op"
    );
    // With a count limit as well: the oldest position (young v1) goes by count. Young v2 is
    // older than the cutoff but came after a younger event when the pass began, so it stays
    // this time, and goes in the next pass by age, once it is the stream's first event.
    let both = RetentionPolicy {
        max_events: Some(4),
        ..policy
    };
    assert_eq!(store.retain(both).await.unwrap().removed, 1);
    assert_eq!(stream_versions(&store, "young").await, vec![2]);
    assert_eq!(store.retain(policy).await.unwrap().removed, 1);
    assert!(stream_versions(&store, "young").await.is_empty());
    assert_eq!(stream_versions(&store, "mixed").await, vec![3, 4, 5]);
}
