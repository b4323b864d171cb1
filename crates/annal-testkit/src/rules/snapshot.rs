//! Snapshots: the newest state per stream, never replaced by an older one, and aggregates loaded
//! as snapshot plus the events after it.

use std::sync::Arc;

use annal_core::{AggregateType, Snapshot, SnapshotError, Store, StreamId, Version};
use serde_json::{Value, json};

use crate::fixtures::{all, append_many, stream, versions};

/// A snapshot of `name` at `version` with `state`.
pub fn snapshot(name: &str, version: u64, state: Value) -> Snapshot {
    Snapshot {
        aggregate_id: stream(name),
        aggregate_type: AggregateType::new("agent").expect("valid"),
        version: Version(version),
        state,
        timestamp: 1_700_000_000_000,
    }
}

/// A saved snapshot loads back equal; a stream without one loads `None`.
pub async fn snapshot_round_trips(store: Arc<dyn Store>) {
    append_many(&store, "agent-1", 5).await;
    let saved = snapshot(
        "agent-1",
        5,
        json!({"status": "active", "tasks": ["t1", "t2"]}),
    );
    store.save_snapshot(saved.clone()).await.unwrap();
    assert_eq!(
        store.load_snapshot(&stream("agent-1")).await.unwrap(),
        Some(saved)
    );
    assert_eq!(store.load_snapshot(&stream("agent-2")).await.unwrap(), None);
}

/// A newer snapshot replaces an older one; an older one is refused and changes nothing.
pub async fn older_snapshot_is_refused(store: Arc<dyn Store>) {
    append_many(&store, "agent-1", 10).await;
    store
        .save_snapshot(snapshot("agent-1", 5, json!({"v": 5})))
        .await
        .unwrap();
    store
        .save_snapshot(snapshot("agent-1", 10, json!({"v": 10})))
        .await
        .unwrap();
    let error = store
        .save_snapshot(snapshot("agent-1", 5, json!({"v": 5})))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SnapshotError::Stale {
                stored: Version(10),
                offered: Version(5),
                ..
            }
        ),
        "{error}"
    );
    let loaded = store
        .load_snapshot(&stream("agent-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.version, Version(10));
    assert_eq!(loaded.state, json!({"v": 10}));
}

/// A snapshot ahead of its stream, at version 0, or with a non-object state is refused.
pub async fn invalid_snapshots_are_refused(store: Arc<dyn Store>) {
    append_many(&store, "agent-1", 2).await;
    let error = store
        .save_snapshot(snapshot("agent-1", 3, json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SnapshotError::AheadOfStream {
                actual: Version(2),
                ..
            }
        ),
        "{error}"
    );
    let error = store
        .save_snapshot(snapshot("agent-1", 0, json!({})))
        .await
        .unwrap_err();
    assert!(matches!(error, SnapshotError::VersionZero), "{error}");
    let error = store
        .save_snapshot(snapshot("agent-1", 1, json!([1])))
        .await
        .unwrap_err();
    assert!(matches!(error, SnapshotError::StateNotObject), "{error}");
    assert_eq!(store.load_snapshot(&stream("agent-1")).await.unwrap(), None);
}

/// Loading an aggregate gives the snapshot and only the events after its version (the seed
/// re-applied the snapshot's own event).
pub async fn load_aggregate_starts_after_snapshot(store: Arc<dyn Store>) {
    append_many(&store, "agent-1", 7).await;
    let id: StreamId = stream("agent-1");
    let fresh = store.load_aggregate(&id).await.unwrap();
    assert!(fresh.snapshot.is_none());
    assert_eq!(
        versions(&all(fresh.events).await),
        (1..=7).collect::<Vec<_>>()
    );
    store
        .save_snapshot(snapshot("agent-1", 5, json!({"upTo": 5})))
        .await
        .unwrap();
    let loaded = store.load_aggregate(&id).await.unwrap();
    assert_eq!(loaded.snapshot.map(|s| s.version), Some(Version(5)));
    assert_eq!(versions(&all(loaded.events).await), vec![6, 7]);
}
