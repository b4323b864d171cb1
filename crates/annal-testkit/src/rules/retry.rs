//! Idempotent retries: a batch whose ids are stored as exactly this batch returns the original
//! result; any other reuse of a stored id is refused.

use std::sync::Arc;

use annal_core::{AppendError, ExpectedVersion, InvalidEvent, Store, Version};

use crate::fixtures::{append, everything, numbered, stream};

/// Retrying the same batch returns the first result and stores nothing new.
pub async fn retry_returns_original_result(store: Arc<dyn Store>) {
    let s = stream("task-1");
    let batch = vec![
        numbered("task:created", "c-1", 1),
        numbered("task:queued", "c-2", 2),
    ];
    let first = store
        .append(&s, ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    append(&store, "other", vec![numbered("note:added", "o-1", 3)]).await;
    // The retry repeats the original expectation, which no longer holds for a new append.
    let again = store
        .append(&s, ExpectedVersion::NoStream, batch.clone())
        .await
        .unwrap();
    assert_eq!(again, first);
    let again_any = store.append(&s, ExpectedVersion::Any, batch).await.unwrap();
    assert_eq!(again_any, first);
    assert_eq!(everything(&store).await.len(), 3);
    assert_eq!(store.stream_version(&s).await.unwrap(), Version(2));
}

/// An id stored in another stream is a `DuplicateEventId` naming that stream.
pub async fn duplicate_id_in_other_stream_is_refused(store: Arc<dyn Store>) {
    append(
        &store,
        "agent-1",
        vec![numbered("agent:spawned", "shared", 1)],
    )
    .await;
    let error = store
        .append(
            &stream("agent-2"),
            ExpectedVersion::Any,
            vec![numbered("agent:spawned", "shared", 2)],
        )
        .await
        .unwrap_err();
    match error {
        AppendError::DuplicateEventId { id, stored_in } => {
            assert_eq!(id.as_str(), "shared");
            assert_eq!(stored_in, stream("agent-1"));
        }
        other => panic!("expected DuplicateEventId, got {other}"),
    }
    assert_eq!(
        store.stream_version(&stream("agent-2")).await.unwrap(),
        Version::NONE
    );
}

/// A batch mixing stored and new ids is not a retry: it is refused whole.
pub async fn partially_stored_batch_is_refused(store: Arc<dyn Store>) {
    append(&store, "task-1", vec![numbered("task:created", "old", 1)]).await;
    let batch = vec![
        numbered("task:created", "old", 1),
        numbered("task:started", "new", 2),
    ];
    let error = store
        .append(&stream("task-1"), ExpectedVersion::Any, batch)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AppendError::DuplicateEventId { .. }),
        "{error}"
    );
    let reordered = vec![
        numbered("task:started", "new", 2),
        numbered("task:created", "old", 1),
    ];
    let error = store
        .append(&stream("task-1"), ExpectedVersion::Any, reordered)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AppendError::DuplicateEventId { .. }),
        "{error}"
    );
    assert_eq!(everything(&store).await.len(), 1);
}

/// The same id twice in one batch is refused before anything is written.
pub async fn duplicate_id_within_batch_is_refused(store: Arc<dyn Store>) {
    let batch = vec![
        numbered("task:created", "twice", 1),
        numbered("task:started", "twice", 2),
    ];
    let error = store
        .append(&stream("task-1"), ExpectedVersion::Any, batch)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            AppendError::InvalidEvent {
                index: 1,
                reason: InvalidEvent::DuplicateInBatch { .. }
            }
        ),
        "{error}"
    );
    assert!(everything(&store).await.is_empty());
}
