//! Bad input: every limit is checked at the boundary with a typed error, and a refused request
//! changes nothing already stored.

use std::sync::Arc;

use annal_core::{
    AppendError, ExpectedVersion, InvalidEvent, InvalidName, Limits, NAME_BYTES_MAX, Store,
    StreamId,
};
use serde_json::json;

use crate::fixtures::{append, event, everything, numbered, stream};

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
