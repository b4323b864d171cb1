// Goal: a read-only connection never creates, migrates or writes: it refuses a database without
// annal's schema with a clear error (leaving it empty), and reads a store a writer created.

use annal_core::{EventType, ExpectedVersion, NewEvent, Position, Store, StreamId, collect};
use annal_postgres::{ConnectError, PostgresOptions, PostgresStore};
use serde_json::json;

use annal_testkit::pg_cluster::cluster;

#[tokio::test]
async fn read_only_needs_an_existing_store_and_creates_nothing() {
    let url = cluster().fresh_database().await;
    let read_only =
        || PostgresStore::connect_with(url.parse().unwrap(), PostgresOptions::new().read_only());
    let error = read_only().await.unwrap_err();
    assert!(matches!(error, ConnectError::NotFound), "{error}");
    assert!(error.to_string().contains("no annal store"), "{error}");
    // Still nothing there: a second read-only attempt fails the same way.
    assert!(matches!(
        read_only().await.unwrap_err(),
        ConnectError::NotFound
    ));

    let writer = PostgresStore::connect(&url).await.unwrap();
    let stream = StreamId::new("task-1").unwrap();
    let event = NewEvent::new(EventType::new("task:created").unwrap(), json!({"n": 1}));
    writer
        .append(&stream, ExpectedVersion::NoStream, vec![event])
        .await
        .unwrap();

    let reader = read_only().await.unwrap();
    let events = collect(reader.read_all(Position::START).await.unwrap())
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, json!({"n": 1}));
}
