//! Small builders shared by the rules: named events, streams and quick appends.

use std::sync::Arc;

use annal_core::{
    AppendResult, EventId, EventStream, EventType, ExpectedVersion, NewEvent, RecordedEvent, Store,
    StreamId, collect,
};
use serde_json::{Value, json};

/// A stream id from a literal known to be valid.
pub fn stream(name: &str) -> StreamId {
    StreamId::new(name).expect("test stream names are valid")
}

/// An event type from a literal known to be valid.
pub fn event_type(name: &str) -> EventType {
    EventType::new(name).expect("test event types are valid")
}

/// An event id from a literal known to be valid.
pub fn event_id(name: &str) -> EventId {
    EventId::new(name).expect("test event ids are valid")
}

/// An event of `kind` with `payload`.
pub fn event(kind: &str, payload: Value) -> NewEvent {
    NewEvent::new(event_type(kind), payload)
}

/// An event of `kind` with a fixed id and timestamp, and `{"n": n}` as payload.
pub fn numbered(kind: &str, id: &str, n: u64) -> NewEvent {
    event(kind, json!({ "n": n }))
        .with_id(event_id(id))
        .with_timestamp(1_000 + n as i64)
}

/// Appends `events` with `ExpectedVersion::Any`, panicking on failure.
pub async fn append(
    store: &Arc<dyn Store>,
    stream_name: &str,
    events: Vec<NewEvent>,
) -> AppendResult {
    store
        .append(&stream(stream_name), ExpectedVersion::Any, events)
        .await
        .unwrap_or_else(|error| panic!("append to {stream_name} failed: {error}"))
}

/// Appends `count` single-event batches of `note:added` to `stream_name`.
pub async fn append_many(store: &Arc<dyn Store>, stream_name: &str, count: u64) {
    for n in 0..count {
        append(
            store,
            stream_name,
            vec![event("note:added", json!({ "n": n }))],
        )
        .await;
    }
}

/// Collects a read, panicking on a read error.
pub async fn all(events: EventStream) -> Vec<RecordedEvent> {
    collect(events)
        .await
        .unwrap_or_else(|error| panic!("read failed: {error}"))
}

/// Every readable event of the store, by position.
pub async fn everything(store: &Arc<dyn Store>) -> Vec<RecordedEvent> {
    all(store
        .read_all(annal_core::Position::START)
        .await
        .expect("read_all starts"))
    .await
}

/// The ids of `events`, in order.
pub fn ids(events: &[RecordedEvent]) -> Vec<String> {
    events.iter().map(|event| event.id.to_string()).collect()
}

/// The versions of `events`, in order.
pub fn versions(events: &[RecordedEvent]) -> Vec<u64> {
    events.iter().map(|event| event.version.0).collect()
}
