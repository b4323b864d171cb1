// Goal: counters the writer reads that it cannot use answer `Corrupted` naming the table and
// the value, never a clamp to 0 (which reused positions and versions), and the last position
// is never passed; nothing is written in either case.
// Method: a fresh database per test, its rows changed behind the store's back with SQL.

use annal_core::{
    AppendError, EventType, ExpectedVersion, NewEvent, StorageError, Store, StreamId,
};
use annal_postgres::PostgresStore;
use serde_json::json;

use annal_testkit::pg_cluster::cluster;

async fn sql(url: &str, statement: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    client.batch_execute(statement).await.unwrap();
    let count: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    drop(client);
    let _ = driver.await;
    count
}

async fn append(
    store: &PostgresStore,
    stream: &str,
) -> Result<annal_core::AppendResult, AppendError> {
    let event = NewEvent::new(EventType::new("probe:sent").unwrap(), json!({}));
    store
        .append(
            &StreamId::new(stream).unwrap(),
            ExpectedVersion::Any,
            vec![event],
        )
        .await
}

#[track_caller]
fn assert_corrupted(
    result: Result<annal_core::AppendResult, AppendError>,
    location: &str,
    value: &str,
) {
    match result {
        Err(AppendError::Storage(StorageError::Corrupted {
            location: found,
            reason,
        })) => {
            assert!(found.contains(location), "{found}");
            assert!(reason.contains(value), "{reason}");
        }
        other => panic!("expected Corrupted at {location}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_negative_head_or_version_is_corrupted_and_writes_nothing() {
    let url = cluster().fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    append(&store, "a").await.unwrap();
    let stored = sql(&url, "UPDATE streams SET version = -3").await;
    assert_corrupted(append(&store, "a").await, "streams row", "-3");
    assert_eq!(sql(&url, "UPDATE streams SET version = 1").await, stored);
    sql(&url, "UPDATE meta SET value = -7 WHERE key = 'head'").await;
    assert_corrupted(append(&store, "b").await, "meta row head", "-7");
    assert_eq!(sql(&url, "SELECT 1").await, stored, "nothing was written");
}

#[tokio::test]
async fn the_last_position_is_never_passed() {
    let url = cluster().fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    sql(
        &url,
        "UPDATE meta SET value = 9223372036854775806 WHERE key = 'head'",
    )
    .await;
    let last = append(&store, "a").await.unwrap();
    assert_eq!(last.last_position.0, i64::MAX as u64);
    let refused = append(&store, "a").await.unwrap_err();
    assert!(
        refused.to_string().contains("no position left"),
        "{refused}"
    );
    assert_eq!(sql(&url, "SELECT 1").await, 1, "nothing more was written");
}

#[tokio::test]
async fn a_negative_maintained_count_is_corrupted_not_zero() {
    let url = cluster().fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    append(&store, "a").await.unwrap();
    // Whether or not the fold has counted the event yet, the figure read is 1 - 1,000.
    sql(
        &url,
        "UPDATE counts SET events = events - 1000 WHERE kind = 'all'",
    )
    .await;
    match store.stats(10).await {
        Err(annal_core::ReadError::Storage(StorageError::Corrupted { location, reason })) => {
            assert!(location.contains("table counts"), "{location}");
            assert!(reason.contains("-999"), "{reason}");
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
}
