// Goal: every one of the 23 agent-swarm event types survives the NDJSON store unchanged (typed
// value, byte-identical payload JSON, envelope extras), also when a read-only open reads the
// directory back. Method: the backend-independent check of `annal_swarm::testing`.

use std::sync::Arc;

use annal_core::{Position, Store, collect};
use annal_ndjson::NdjsonStore;
use annal_swarm::events::DomainEvent;
use annal_swarm::testing::check_round_trip;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_swarm_event_type_round_trips_and_reads_back_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = NdjsonStore::open(&path).unwrap();
    check_round_trip(Arc::new(store.clone())).await.unwrap();
    let reader = NdjsonStore::open_read_only(&path).unwrap();
    let events = collect(reader.read_all(Position::START).await.unwrap())
        .await
        .unwrap();
    assert!(events.len() >= 23, "found {} events", events.len());
    for event in &events {
        let decoded = DomainEvent::decode(event);
        assert!(decoded.is_ok(), "{} does not decode", event.event_type);
    }
}
