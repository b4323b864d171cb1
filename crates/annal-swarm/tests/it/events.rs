//! Domain events: typed -> stored -> typed.
//!
//! Goal: every one of the 23 event types survives a store unchanged (typed value, byte-identical
//! payload JSON, envelope extras), unknown types stay readable, and a bad payload is reported,
//! not hidden. Method: the backend-independent check in `annal_swarm::testing` over a
//! MemoryStore and a SqliteStore (reopened read-only), plus targeted cases for the envelope the constructors build.

use annal_core::{EventType, ExpectedVersion, NewEvent, ReadStreamOptions, collect};
use annal_swarm::events::{DomainEvent, EventKind, agent, swarm};
use annal_swarm::projections::AgentState;
use annal_swarm::testing::{check_round_trip, sample_drafts};
use serde_json::json;

use crate::support::{given, id, store, t};

#[tokio::test]
async fn every_event_type_round_trips_through_the_memory_store() {
    check_round_trip(store()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_round_trips_through_the_sqlite_store_and_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swarm.db");
    let store = annal_sqlite::SqliteStore::open(&path).unwrap();
    check_round_trip(std::sync::Arc::new(store)).await.unwrap();
    // The same events, read back by a fresh process's view of the file, decode the same.
    let reopened: std::sync::Arc<dyn annal_core::Store> =
        std::sync::Arc::new(annal_sqlite::SqliteStore::open_read_only(&path).unwrap());
    let events = collect(
        reopened
            .read_all(annal_core::Position::START)
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(events.len() >= 23, "found {} events", events.len());
    for event in &events {
        assert!(
            DomainEvent::decode(event).is_ok(),
            "{} does not decode",
            event.event_type
        );
    }
}

#[test]
fn the_samples_cover_all_23_types_with_23_constructors() {
    let drafts = sample_drafts();
    assert_eq!(drafts.len(), 23);
    let mut kinds: Vec<EventKind> = drafts
        .iter()
        .map(|draft| EventKind::from_event_type(draft.event.event_type.as_str()).unwrap())
        .collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds.len(), 23);
}

#[tokio::test]
async fn constructors_fill_the_envelope_and_let_the_caller_extend_it() {
    let store = store();
    let coder = id("agent-1");
    let draft = agent::spawned(&coder, "coder", "core", vec!["coding".into()], t(0));
    assert_eq!(draft.stream, coder);
    assert_eq!(draft.event.source, "swarm");
    assert_eq!(draft.event.timestamp, Some(t(0)));
    assert_eq!(
        draft.event.aggregate_type.as_ref().unwrap().as_str(),
        "agent"
    );
    draft
        .with_source("orchestrator")
        .with_causation_id("cmd-1")
        .with_correlation_id("run-9")
        .with_metadata(json!({"host": "a"}))
        .append(&*store)
        .await
        .unwrap();
    let events = collect(
        store
            .read_stream(&coder, ReadStreamOptions::forward())
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].version.0, 1);
    assert_eq!(events[0].source, "orchestrator");
    assert_eq!(events[0].causation_id.as_deref(), Some("cmd-1"));
    assert_eq!(events[0].correlation_id.as_deref(), Some("run-9"));
    assert_eq!(events[0].metadata, json!({"host": "a"}));
    assert_eq!(events[0].payload.to_value()["agentId"], "agent-1");
    assert_eq!(
        events[0].payload.to_value()["capabilities"],
        json!(["coding"])
    );
}

#[tokio::test]
async fn each_swarm_has_its_own_stream() {
    // The seed wrote every swarm to the stream `swarm`, so two swarms shared one version count.
    let store = store();
    let (a, b) = (id("swarm-a"), id("swarm-b"));
    let first = swarm::initialized(&a, "mesh", 4, json!({}), t(0))
        .append(&*store)
        .await
        .unwrap();
    let second = swarm::initialized(&b, "star", 8, json!({}), t(1))
        .append(&*store)
        .await
        .unwrap();
    assert_eq!(first.stream_version.0, 1);
    assert_eq!(second.stream_version.0, 1);
}

#[tokio::test]
async fn a_retried_draft_with_an_id_is_stored_once() {
    let store = store();
    let coder = id("agent-1");
    let draft = agent::started(&coder, t(0)).with_id(annal_core::EventId::new("e-1").unwrap());
    let first = draft.clone().append(&*store).await.unwrap();
    let again = draft.append(&*store).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(store.stream_version(&coder).await.unwrap().0, 1);
}

#[tokio::test]
async fn unknown_event_types_stay_readable() {
    let store = store();
    let stream = id("plugin-1");
    let payload = json!({"anything": [1, 2, 3]});
    let event = NewEvent::new(EventType::new("plugin:custom").unwrap(), payload.clone());
    store
        .append(&stream, ExpectedVersion::Any, vec![event])
        .await
        .unwrap();
    let events = collect(store.read_all(annal_core::Position::START).await.unwrap())
        .await
        .unwrap();
    let decoded = DomainEvent::decode(&events[0]).unwrap();
    assert_eq!(
        decoded,
        DomainEvent::Unknown {
            event_type: "plugin:custom".into(),
            payload
        }
    );
    assert_eq!(decoded.kind(), None);
    assert_eq!(decoded.event_type(), "plugin:custom");
}

#[tokio::test]
async fn a_known_type_with_a_bad_payload_is_an_error_and_projections_count_it() {
    let scenario = given(vec![]).await;
    let stream = id("agent-1");
    let bad = NewEvent::new(
        EventType::new("agent:spawned").unwrap(),
        json!({"agentId": 7}),
    );
    scenario
        .store
        .append(&stream, ExpectedVersion::Any, vec![bad])
        .await
        .unwrap();
    let events = collect(
        scenario
            .store
            .read_all(annal_core::Position::START)
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let error = DomainEvent::decode(&events[0]).unwrap_err();
    assert_eq!(error.event_type, "agent:spawned");

    let agents: AgentState = scenario.then().await;
    assert!(agents.is_empty());
    assert_eq!(agents.ignored_events(), 1);
}
