//! Bad input: every limit is checked at the boundary with a typed error, and a refused request
//! changes nothing already stored.

use std::sync::Arc;

use annal_core::{
    AggregateType, AppendError, ExpectedVersion, InvalidEvent, InvalidName, Limits, NAME_BYTES_MAX,
    Position, ReadStreamOptions, RetentionError, SnapshotError, Store, StreamId, Version,
};
use serde_json::json;

use crate::fixtures::{all, append, event, everything, numbered, stream, versions};
use crate::rules::snapshot::snapshot;

async fn refused(store: &Arc<dyn Store>, batch: Vec<annal_core::NewEvent>) -> AppendError {
    let before = everything(store).await;
    let error = store
        .append(&stream("task-1"), ExpectedVersion::Any, batch)
        .await
        .expect_err("the append must be refused");
    assert_eq!(
        everything(store).await,
        before,
        "a refused append changed the store"
    );
    error
}

/// Stream ids are checked when built: empty, too long and control characters are refused.
pub async fn invalid_stream_ids_are_refused(_store: Arc<dyn Store>) {
    assert!(matches!(StreamId::new(""), Err(InvalidName::Empty { .. })));
    let long = "s".repeat(NAME_BYTES_MAX + 1);
    assert!(matches!(
        StreamId::new(long),
        Err(InvalidName::TooLong { .. })
    ));
    assert!(matches!(
        StreamId::new("a\0b"),
        Err(InvalidName::ControlCharacter { .. })
    ));
}

/// An empty batch is refused.
pub async fn empty_batch_is_refused(store: Arc<dyn Store>) {
    append(&store, "task-1", vec![numbered("task:created", "keep", 1)]).await;
    assert!(matches!(
        refused(&store, vec![]).await,
        AppendError::EmptyBatch
    ));
}

/// A batch over the store's event limit is refused whole.
pub async fn oversize_batch_is_refused(store: Arc<dyn Store>) {
    let max = Limits::default().batch_events_max;
    let batch = (0..=max)
        .map(|n| event("note:added", json!({ "n": n })))
        .collect();
    let error = refused(&store, batch).await;
    assert!(
        matches!(error, AppendError::BatchTooLarge { len, max: m } if len == max + 1 && m == max)
    );
}

/// Payloads must be JSON objects.
pub async fn non_object_payload_is_refused(store: Arc<dyn Store>) {
    for payload in [json!([1, 2]), json!("text"), json!(3), json!(null)] {
        let error = refused(&store, vec![event("task:created", payload)]).await;
        assert!(
            matches!(
                error,
                AppendError::InvalidEvent {
                    index: 0,
                    reason: InvalidEvent::PayloadNotObject { .. }
                }
            ),
            "{error}"
        );
    }
}

/// Metadata, when given, must be a JSON object.
pub async fn non_object_metadata_is_refused(store: Arc<dyn Store>) {
    let bad = event("task:created", json!({})).with_metadata(json!(["x"]));
    let error = refused(&store, vec![bad]).await;
    assert!(matches!(
        error,
        AppendError::InvalidEvent {
            reason: InvalidEvent::MetadataNotObject { .. },
            ..
        }
    ));
}

/// A payload over the size limit is refused, and the error names sizes.
pub async fn oversize_payload_is_refused(store: Arc<dyn Store>) {
    let max = Limits::default().payload_bytes_max;
    let big = event("memory:stored", json!({ "blob": "x".repeat(max) }));
    let error = refused(&store, vec![numbered("memory:stored", "fine", 1), big]).await;
    match error {
        AppendError::InvalidEvent {
            index: 1,
            reason: InvalidEvent::PayloadTooLarge { bytes, max: m },
        } => {
            assert!(bytes > m);
            assert_eq!(m, max);
        }
        other => panic!("expected PayloadTooLarge, got {other}"),
    }
}

/// Over-long source, causation or correlation ids are refused.
pub async fn oversize_text_fields_are_refused(store: Arc<dyn Store>) {
    let long = "c".repeat(Limits::default().text_bytes_max + 1);
    let error = refused(
        &store,
        vec![event("task:created", json!({})).with_correlation_id(long)],
    )
    .await;
    assert!(matches!(
        error,
        AppendError::InvalidEvent {
            reason: InvalidEvent::TextTooLong {
                field: "correlation id",
                ..
            },
            ..
        }
    ));
}

/// An event type whose domain is empty (`:x`, `:`) names no aggregate type: without one given
/// the event is refused with a typed error (never a panic); with one given it is stored.
pub async fn event_type_with_empty_domain_needs_an_aggregate_type(store: Arc<dyn Store>) {
    append(&store, "task-1", vec![numbered("task:created", "keep", 1)]).await;
    for name in [":x", ":"] {
        let error = refused(
            &store,
            vec![numbered("task:created", "fine", 2), event(name, json!({}))],
        )
        .await;
        assert!(
            matches!(
                &error,
                AppendError::InvalidEvent {
                    index: 1,
                    reason: InvalidEvent::NoAggregateType { event_type },
                } if event_type.as_str() == name
            ),
            "{error:?}"
        );
        let given = event(name, json!({})).with_aggregate_type(AggregateType::new("task").unwrap());
        append(&store, "task-1", vec![given]).await;
    }
    let stored = everything(&store).await;
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[1].event_type.as_str(), ":x");
    assert_eq!(stored[2].aggregate_type.as_str(), "task");
}

/// A batch whose events add up to more than `batch_bytes_max` is refused whole, naming the
/// limit and the event that crossed it.
pub async fn oversize_batch_bytes_are_refused(store: Arc<dyn Store>) {
    let limits = Limits::default();
    // Events of nearly half the largest payload (a KiB of room for the rest of each event),
    // one more than fit in the byte limit: more than 128 of them, so a backend that checks a
    // large batch part by part meets the limit in a later part.
    let blob = "b".repeat(limits.payload_bytes_max / 2 - 1024);
    let n_events = limits.batch_bytes_max / blob.len() + 1;
    assert!(n_events > 128 && n_events <= limits.batch_events_max);
    let batch = (0..n_events)
        .map(|n| event("memory:stored", json!({ "n": n, "blob": blob })))
        .collect();
    let error = refused(&store, batch).await;
    assert!(
        matches!(
            error,
            AppendError::BatchBytesTooLarge { index, max }
                if max == limits.batch_bytes_max && index == n_events - 1
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("batch_bytes_max"), "{error}");
}

/// The largest version and position a caller can name are answered with typed errors or empty
/// reads, never an overflow: `Exact(u64::MAX)` on a new batch and on a retry, deletion
/// expecting it, a snapshot claiming it, reads starting at it, truncation before it.
pub async fn largest_versions_and_positions_do_not_overflow(store: Arc<dyn Store>) {
    let s = stream("task-1");
    let max = ExpectedVersion::Exact(Version(u64::MAX));
    append(&store, "task-1", vec![numbered("task:created", "a", 1)]).await;
    let before = everything(&store).await;
    let retry = vec![numbered("task:created", "a", 1)];
    for batch in [retry, vec![numbered("task:created", "b", 2)]] {
        let error = store.append(&s, max, batch).await.unwrap_err();
        assert!(
            matches!(
                error,
                AppendError::WrongExpectedVersion {
                    actual: Version(1),
                    ..
                }
            ),
            "{error:?}"
        );
    }
    assert_eq!(everything(&store).await, before, "nothing stored");
    let error = store.delete_stream(&s, max).await.unwrap_err();
    assert!(
        matches!(error, RetentionError::WrongExpectedVersion { .. }),
        "{error:?}"
    );
    let error = store
        .save_snapshot(snapshot("task-1", u64::MAX, json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(error, SnapshotError::AheadOfStream { .. }),
        "{error:?}"
    );
    let forward = ReadStreamOptions::forward().from(Version(u64::MAX));
    assert!(
        all(store.read_stream(&s, forward).await.unwrap())
            .await
            .is_empty()
    );
    let backward = ReadStreamOptions::backward().from(Version(u64::MAX));
    assert_eq!(
        versions(&all(store.read_stream(&s, backward).await.unwrap()).await),
        vec![1]
    );
    assert!(
        all(store.read_all(Position(u64::MAX)).await.unwrap())
            .await
            .is_empty()
    );
    let report = store
        .truncate_before(&s, Version(u64::MAX), false)
        .await
        .unwrap();
    assert_eq!(report.removed, 1);
    let result = append(&store, "task-1", vec![numbered("task:created", "c", 3)]).await;
    assert_eq!(
        result.stream_version,
        Version(2),
        "the counter survives truncation"
    );
}
