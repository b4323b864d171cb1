// Shared helpers for the integration tests: events, appends and reads with short names.

use annal_core::{
    AggregateType, EventId, EventType, ExpectedVersion, NewEvent, Position, RecordedEvent,
    Snapshot, Store, StreamId, Version, collect,
};
use serde_json::json;

pub(crate) fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

pub(crate) fn event(id: &str) -> NewEvent {
    NewEvent::new(EventType::new("agent:step").unwrap(), json!({ "id": id }))
        .with_id(EventId::new(id).unwrap())
}

pub(crate) async fn append_ids(
    store: &dyn Store,
    name: &str,
    ids: &[&str],
) -> annal_core::AppendResult {
    let events = ids.iter().map(|id| event(id)).collect();
    store
        .append(&stream(name), ExpectedVersion::Any, events)
        .await
        .unwrap()
}

pub(crate) async fn everything(store: &dyn Store) -> Vec<RecordedEvent> {
    collect(store.read_all(Position::START).await.unwrap())
        .await
        .unwrap()
}

pub(crate) fn ids(events: &[RecordedEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.to_string()).collect()
}

pub(crate) fn snapshot_of(stream_name: &str, version: u64) -> Snapshot {
    Snapshot {
        aggregate_id: stream(stream_name),
        aggregate_type: AggregateType::new("thing").unwrap(),
        version: Version(version),
        state: json!({ "seen": version }),
        timestamp: 1,
    }
}
