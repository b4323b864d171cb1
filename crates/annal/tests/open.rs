//! `annal::open` on every backend: the location string chooses it, writers create, readers
//! never do, and every failure names the store without its password.

#![allow(clippy::unwrap_used)] // helpers of tests: a failed step is the test failing
#![allow(clippy::too_many_lines)] // a test reads as one story, from its setup to its last check

use std::sync::Arc;

use annal::{
    Access, EventType, ExpectedVersion, NewEvent, OpenError, OpenOptions, Position, Store,
    StreamId, collect, open, open_with,
};
use serde_json::json;

async fn append_and_read_back(store: Arc<dyn Store>) {
    let stream = StreamId::new("task-1").unwrap();
    let event = NewEvent::new(EventType::new("task:created").unwrap(), json!({"n": 1}));
    let appended = store
        .append(&stream, ExpectedVersion::NoStream, vec![event])
        .await
        .unwrap();
    assert_eq!(appended.stream_version.0, 1);
    let read = collect(store.read_all(Position::START).await.unwrap())
        .await
        .unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].aggregate_id, stream);
}

#[tokio::test]
async fn a_path_opens_sqlite_and_a_reader_sees_what_the_writer_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swarm.db");
    let location = path.to_str().unwrap();
    let writer = open(location, Access::Write).await.unwrap();
    append_and_read_back(writer).await;
    let reader = open(location, Access::Read).await.unwrap();
    assert_eq!(reader.head().await.unwrap(), Position(1));
}

#[tokio::test]
async fn ndjson_prefix_opens_a_directory_store() {
    let dir = tempfile::tempdir().unwrap();
    let location = format!("ndjson:{}", dir.path().join("ledger").display());
    append_and_read_back(open(&location, Access::Write).await.unwrap()).await;
    assert!(dir.path().join("ledger/events.ndjson").exists());
}

#[tokio::test]
async fn a_reader_never_creates_a_store() {
    let dir = tempfile::tempdir().unwrap();
    for location in [
        dir.path().join("absent.db").display().to_string(),
        format!("ndjson:{}", dir.path().join("absent").display()),
    ] {
        let error = open(&location, Access::Read).await.err().unwrap();
        assert!(matches!(error, OpenError::NotFound { .. }), "{error}");
        assert!(error.to_string().contains("absent"), "{error}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_second_writer_waits_for_the_lock_then_fails_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let location = annal::Location::parse(dir.path().join("a.db").to_str().unwrap()).unwrap();
    let _first = open_with(&location, OpenOptions::write()).await.unwrap();
    let options = OpenOptions::write().lock_timeout(std::time::Duration::from_millis(50));
    let error = open_with(&location, options).await.err().unwrap();
    assert!(matches!(error, OpenError::Sqlite { .. }), "{error}");
    let chain = format!("{:#}", anyhow_chain(&error));
    assert!(chain.contains("in use by another writer"), "{chain}");
}

#[tokio::test]
async fn bad_locations_are_refused_before_anything_opens() {
    assert!(matches!(
        open("", Access::Write).await.err().unwrap(),
        OpenError::Location(_)
    ));
    let error = open("postgres://u:hunter2@h:notaport/db", Access::Write)
        .await
        .err()
        .unwrap();
    assert!(matches!(error, OpenError::Location(_)), "{error}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[test]
fn a_postgres_url_opens_a_shared_database_and_hides_its_password() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = annal_testkit::pg_cluster::cluster()
            .fresh_database_url()
            .await;
        let error = open(&url, Access::Read).await.err().unwrap();
        assert!(matches!(error, OpenError::NotFound { .. }), "{error}");
        append_and_read_back(open(&url, Access::Write).await.unwrap()).await;
        let reader = open(&url, Access::Read).await.unwrap();
        assert_eq!(reader.head().await.unwrap(), Position(1));
        let wrong = annal_testkit::pg_cluster::with_param(&url, "password", "hunter2");
        let wrong = annal_testkit::pg_cluster::with_dbname(&wrong, "no_such_database");
        let error = open(&wrong, Access::Write).await.err().unwrap();
        let shown = anyhow_chain(&error);
        assert!(!shown.contains("hunter2"), "{shown}");
    });
}

/// The error and its sources, as `{:#}` of anyhow would print them.
fn anyhow_chain(error: &dyn std::error::Error) -> String {
    let mut shown = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        shown.push_str(": ");
        shown.push_str(&next.to_string());
        source = next.source();
    }
    shown
}
