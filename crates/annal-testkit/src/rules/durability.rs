//! Rules for stores with a disk: what was acknowledged survives closing and reopening, and a
//! read-only handle follows a writer's commits. Backends without a disk skip this module; the
//! crash variant (kill -9 mid-write) lives with each disk backend, as it needs a real process.

use std::sync::Arc;

use annal_core::{
    AppendError, ExpectedVersion, Filter, Position, ProjectionName, ReadStreamOptions,
    SavedProjection, StorageError, Store, Version,
};
use serde_json::json;

use crate::fixtures::{all, append, append_many, event, everything, numbered, stream, versions};
use crate::harness::Reopen;
use crate::rules::snapshot::snapshot;
use crate::rules::subscribe::take;

/// Events, snapshots, projection checkpoints and stream counters survive close and reopen;
/// versions and positions continue where they stopped.
pub async fn acknowledged_state_survives_reopen(location: &dyn Reopen) {
    let name = ProjectionName::new("durable-projection").unwrap();
    {
        let store = location.open().await;
        append_many(&store, "agent-1", 4).await;
        append(&store, "task-1", vec![numbered("task:created", "t-1", 1)]).await;
        store
            .save_snapshot(snapshot("agent-1", 3, json!({"at": 3})))
            .await
            .unwrap();
        let saved = SavedProjection {
            checkpoint: Position(5),
            state: json!({"seen": 5}),
        };
        store.save_projection(&name, &saved).await.unwrap();
        store
            .delete_stream(&stream("task-1"), ExpectedVersion::Any)
            .await
            .unwrap();
    }
    let store = location.open().await;
    let events = all(store
        .read_stream(&stream("agent-1"), ReadStreamOptions::forward())
        .await
        .unwrap())
    .await;
    assert_eq!(versions(&events), vec![1, 2, 3, 4]);
    assert_eq!(
        store
            .load_snapshot(&stream("agent-1"))
            .await
            .unwrap()
            .unwrap()
            .version,
        Version(3)
    );
    let saved = store.load_projection(&name).await.unwrap().unwrap();
    assert_eq!(saved.state, json!({"seen": 5}));
    assert_eq!(
        store.stream_version(&stream("task-1")).await.unwrap(),
        Version(1)
    );
    assert_eq!(store.head().await.unwrap(), Position(5));
    let result = append(&store, "task-1", vec![event("task:created", json!({}))]).await;
    assert_eq!(
        result.stream_version,
        Version(2),
        "the deleted stream's counter survived"
    );
    assert_eq!(
        result.first_position,
        Position(6),
        "positions are not reused after reopen"
    );
}

/// A read-only handle reads what the writer committed and follows new commits live.
pub async fn read_only_follows_writer(location: &dyn Reopen) {
    let writer = location.open().await;
    append_many(&writer, "agent-1", 2).await;
    let reader = location.open_read_only().await;
    assert_eq!(everything(&reader).await.len(), 2);
    let mut live = reader
        .subscribe(Position::START, Filter::all())
        .await
        .unwrap();
    assert_eq!(take(&mut live, 2).await.len(), 2);
    append_many(&writer, "agent-2", 3).await;
    let got = take(&mut live, 3).await;
    assert_eq!(
        got.iter().map(|e| e.position.0).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
}

/// A read-only handle refuses writes with `ReadOnly` and changes nothing.
pub async fn read_only_refuses_writes(location: &dyn Reopen) {
    let writer = location.open().await;
    append_many(&writer, "agent-1", 1).await;
    let reader: Arc<dyn Store> = location.open_read_only().await;
    let error = reader
        .append(
            &stream("agent-1"),
            ExpectedVersion::Any,
            vec![event("agent:started", json!({}))],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, AppendError::Storage(StorageError::ReadOnly)),
        "{error}"
    );
    assert_eq!(everything(&writer).await.len(), 1);
}
