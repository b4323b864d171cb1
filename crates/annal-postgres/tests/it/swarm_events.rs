// Goal: every one of the 23 agent-swarm event types survives the PostgreSQL store unchanged
// (typed value, byte-identical payload JSON, envelope extras), also through a second, read-only
// connection. Method: the backend-independent check of `annal_swarm::testing`.

use std::sync::Arc;

use annal_core::{Position, Store, collect};
use annal_postgres::{PostgresOptions, PostgresStore};
use annal_swarm::events::DomainEvent;
use annal_swarm::testing::check_round_trip;
use annal_testkit::pg_cluster::cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_swarm_event_type_round_trips_and_reads_back_on_another_connection() {
    let url = cluster().fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    check_round_trip(Arc::new(store)).await.unwrap();
    let options = PostgresOptions::new().read_only();
    let reader = PostgresStore::connect_with(url.parse().unwrap(), options)
        .await
        .unwrap();
    let events = collect(reader.read_all(Position::START).await.unwrap())
        .await
        .unwrap();
    assert!(events.len() >= 23, "found {} events", events.len());
    for event in &events {
        let decoded = DomainEvent::decode(event);
        assert!(decoded.is_ok(), "{} does not decode", event.event_type);
    }
}
