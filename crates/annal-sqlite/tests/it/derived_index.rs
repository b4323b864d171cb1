// Goal: the derived index is derived data: an open rebuilds it when its tables are missing or
// its watermark is beyond the stored events, an upgrade from schema version 4 builds it, and
// `check_index` names a table whose entries disagree with the events. Method: fill a store,
// damage or drop the index with plain SQL between opens, reopen, and compare queries and stats
// with a scan of the log.

use annal_core::{EventType, Filter, Store, collect};
use annal_sqlite::{OpenOptions, SqliteStore};
use serde_json::json;

use crate::support::everything;

const EVENTS: u64 = 300;

async fn filled(path: &std::path::Path) {
    let store = SqliteStore::open_with(path, OpenOptions::new().index_every(16)).unwrap();
    for n in 0..EVENTS {
        let kind = if n % 3 == 0 {
            "task:failed"
        } else {
            "task:created"
        };
        let event = annal_core::NewEvent::new(EventType::new(kind).unwrap(), json!({ "n": n }))
            .with_timestamp(1_000 - n as i64);
        store
            .append(
                &annal_core::StreamId::new(format!("task-{}", n % 7)).unwrap(),
                annal_core::ExpectedVersion::Any,
                vec![event],
            )
            .await
            .unwrap();
    }
}

fn sql(path: &std::path::Path, statements: &str) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(statements)
        .unwrap();
}

fn watermark(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'indexed_through'",
            [],
            |row| row.get(0),
        )
        .unwrap()
}

/// Queries and stats answer what a scan answers, and the index checks clean.
async fn answers_like_a_scan(store: &SqliteStore) {
    assert_eq!(store.check_index().await.unwrap(), Vec::<String>::new());
    let events = everything(store).await;
    let filter = Filter {
        event_types: vec![EventType::new("task:failed").unwrap()],
        timestamp_from: Some(800),
        limit: Some(20),
        offset: 3,
        direction: annal_core::Direction::Backward,
        ..Filter::all()
    };
    let mut expected: Vec<_> = events.iter().filter(|e| filter.matches(e)).collect();
    expected.reverse();
    let expected: Vec<u64> = expected
        .iter()
        .skip(3)
        .take(20)
        .map(|e| e.position.0)
        .collect();
    let found: Vec<u64> = collect(store.query(&filter).await.unwrap())
        .await
        .unwrap()
        .iter()
        .map(|e| e.position.0)
        .collect();
    assert_eq!(found, expected);
    let mut stats = store.stats(3).await.unwrap();
    stats.bytes_on_disk = None;
    assert_eq!(stats, annal_testkit::rules::indexed::recount(&events, 3));
}

#[tokio::test]
async fn missing_index_tables_are_rebuilt_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    filled(&path).await;
    sql(
        &path,
        "DROP TABLE postings; DROP TABLE counts; DELETE FROM meta WHERE key = 'indexed_through';",
    );
    let store = SqliteStore::open_with(&path, OpenOptions::new().index_every(16)).unwrap();
    assert!(
        watermark(&path) > EVENTS as i64 - 16,
        "the open indexed the log again"
    );
    answers_like_a_scan(&store).await;
}

#[tokio::test]
async fn a_watermark_beyond_the_log_is_rebuilt_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    filled(&path).await;
    sql(
        &path,
        "UPDATE meta SET value = 1000000 WHERE key = 'indexed_through'; DELETE FROM postings;",
    );
    let store = SqliteStore::open_with(&path, OpenOptions::new().index_every(16)).unwrap();
    assert!(watermark(&path) <= EVENTS as i64);
    answers_like_a_scan(&store).await;
}

#[tokio::test]
async fn a_version_4_store_gets_its_index_at_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    filled(&path).await;
    sql(
        &path,
        "DROP TABLE postings; DROP TABLE time_blocks; DROP TABLE counts; \
         DROP TABLE stream_counts; DROP TABLE sources; \
         DELETE FROM meta WHERE key IN ('indexed_through', 'indexed_streams'); \
         PRAGMA user_version = 4;",
    );
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 5);
    answers_like_a_scan(&store).await;
}

#[tokio::test]
async fn check_index_names_the_table_that_disagrees() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    filled(&path).await;
    sql(
        &path,
        "DELETE FROM postings WHERE key = (SELECT min(key) FROM postings); \
         UPDATE counts SET events = events + 1;",
    );
    let store = SqliteStore::open_read_only(&path).unwrap();
    let problems = store.check_index().await.unwrap();
    assert!(
        problems.iter().any(|p| p.starts_with("table postings")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("tables counts")),
        "{problems:?}"
    );
}
