// Shared helpers for the integration tests: events, appends and reads with short names.

use annal_core::{
    EventType, ExpectedVersion, NewEvent, Position, RecordedEvent, Store, StreamId, collect,
};
use serde_json::json;

pub(crate) fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

pub(crate) fn event(n: u64) -> NewEvent {
    NewEvent::new(EventType::new("agent:step").unwrap(), json!({ "n": n }))
}

pub(crate) async fn append_one(store: &dyn Store, name: &str, n: u64) -> annal_core::AppendResult {
    store
        .append(&stream(name), ExpectedVersion::Any, vec![event(n)])
        .await
        .unwrap()
}

pub(crate) async fn everything(store: &dyn Store) -> Vec<RecordedEvent> {
    collect(store.read_all(Position::START).await.unwrap())
        .await
        .unwrap()
}
