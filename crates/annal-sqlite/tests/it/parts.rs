// Large batches are appended in parts: the writer inserts the first parts while the caller still
// checks the later ones. The outcome must be that of the whole batch: a refusal found in a late
// part writes nothing (not even the names the early parts created), leaves neighbours alone, and
// keeps the error of the whole batch.

use std::sync::Arc;

use annal_core::{
    AppendError, AppendResult, EventId, EventType, ExpectedVersion, InvalidEvent, NewEvent,
    Position, Store, Version, collect,
};
use annal_sqlite::SqliteStore;
use serde_json::json;

use crate::support::{everything, stream};

/// A batch of `len` events of type `event_type`, ids `<prefix>-<n>`.
fn batch(prefix: &str, event_type: &str, len: u64) -> Vec<NewEvent> {
    (0..len)
        .map(|n| {
            NewEvent::new(EventType::new(event_type).unwrap(), json!({ "n": n }))
                .with_id(EventId::new(format!("{prefix}-{n}")).unwrap())
        })
        .collect()
}

/// Appends `events` to the stream `name`.
async fn append(
    store: &SqliteStore,
    name: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<AppendResult, AppendError> {
    store.append(&stream(name), expected, events).await
}

fn open(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(dir.path().join("parts.db")).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_is_stored_whole_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let result = append(
        &store,
        "big",
        ExpectedVersion::NoStream,
        batch("a", "agent:step", 1_000),
    )
    .await
    .unwrap();
    assert_eq!(result.first_position, Position(1));
    assert_eq!(result.last_position, Position(1_000));
    assert_eq!(result.stream_version, Version(1_000));
    let events = everything(store.as_ref()).await;
    for (n, event) in events.iter().enumerate() {
        assert_eq!(event.id.as_str(), format!("a-{n}"));
        assert_eq!(event.version, Version(n as u64 + 1));
        assert_eq!(event.position, Position(n as u64 + 1));
    }
    assert_eq!(events.len(), 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_event_in_a_late_part_writes_nothing_and_spares_the_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append(
        &store,
        "before",
        ExpectedVersion::Any,
        batch("b", "agent:step", 3),
    )
    .await
    .unwrap();
    // A new stream, a new event type and aggregate type in the early parts; event 900 is bad.
    let mut bad = batch("c", "brandnew:made", 1_000);
    bad[900] = NewEvent::new(EventType::new("brandnew:made").unwrap(), json!([1, 2]))
        .with_id(EventId::new("c-900").unwrap());
    let neighbour = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            append(
                &store,
                "neighbour",
                ExpectedVersion::Any,
                batch("n", "agent:step", 200),
            )
            .await
        })
    };
    let error = append(&store, "fresh", ExpectedVersion::NoStream, bad)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            AppendError::InvalidEvent {
                index: 900,
                reason: InvalidEvent::PayloadNotObject { .. }
            }
        ),
        "{error:?}"
    );
    neighbour.await.unwrap().unwrap();
    let stored = everything(store.as_ref()).await;
    assert_eq!(stored.len(), 203, "the refused batch left no row");
    let positions: Vec<u64> = stored.iter().map(|event| event.position.0).collect();
    assert_eq!(positions, (1..=203).collect::<Vec<_>>(), "no hole");
    assert_eq!(
        store.stream_version(&stream("fresh")).await.unwrap(),
        Version(0)
    );
    let stats = store.stats(10).await.unwrap();
    assert_eq!(stats.stream_count, 2);
    assert!(!stats.events_by_type.contains_key("brandnew:made"));
    // The names the refused batch created are forgotten with it: using them again works, and
    // the events read back with their names.
    append(
        &store,
        "fresh",
        ExpectedVersion::NoStream,
        batch("d", "brandnew:made", 300),
    )
    .await
    .unwrap();
    let fresh = collect(
        store
            .read_stream(&stream("fresh"), Default::default())
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(fresh.len(), 300);
    assert!(
        fresh
            .iter()
            .all(|event| event.event_type.as_str() == "brandnew:made"
                && event.aggregate_type.as_str() == "brandnew")
    );
    drop(store);
    // And after a reopen, where the names come from the tables.
    let store = open(&dir);
    let stats = store.stats(10).await.unwrap();
    assert_eq!(stats.total_events, 503);
    assert_eq!(stats.events_by_type.get("brandnew:made"), Some(&300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_across_parts_and_stored_ids_in_late_parts_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    append(
        &store,
        "first",
        ExpectedVersion::Any,
        batch("old", "agent:step", 10),
    )
    .await
    .unwrap();
    // Index 700 repeats index 5, in another part.
    let mut twice = batch("t", "agent:step", 1_000);
    twice[700] = batch("t", "agent:step", 6).pop().unwrap();
    let error = append(&store, "second", ExpectedVersion::Any, twice)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            AppendError::InvalidEvent {
                index: 700,
                reason: InvalidEvent::DuplicateInBatch { .. }
            }
        ),
        "{error:?}"
    );
    // A stored id in a late part (the first part is new): refused like a whole batch would be.
    let mut reused = batch("u", "agent:step", 1_000);
    reused[800] = batch("old", "agent:step", 4).pop().unwrap();
    let error = append(&store, "second", ExpectedVersion::Any, reused)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, AppendError::DuplicateEventId { .. }),
        "{error:?}"
    );
    assert_eq!(everything(store.as_ref()).await.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_large_batch_returns_the_first_result_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let first = append(
        &store,
        "big",
        ExpectedVersion::NoStream,
        batch("r", "agent:step", 1_000),
    )
    .await
    .unwrap();
    let again = append(
        &store,
        "big",
        ExpectedVersion::NoStream,
        batch("r", "agent:step", 1_000),
    )
    .await
    .unwrap();
    assert_eq!(again, first);
    assert_eq!(everything(store.as_ref()).await.len(), 1_000);
    // A wrong expected version with a bad late event: the bad event is reported, as for any batch.
    let mut bad = batch("w", "agent:step", 500);
    bad[400] = NewEvent::new(EventType::new("agent:step").unwrap(), json!("text"))
        .with_id(EventId::new("w-400").unwrap());
    let error = append(&store, "big", ExpectedVersion::Exact(Version(3)), bad)
        .await
        .unwrap_err();
    assert!(
        matches!(error, AppendError::InvalidEvent { index: 400, .. }),
        "{error:?}"
    );
    let error = append(
        &store,
        "big",
        ExpectedVersion::Exact(Version(3)),
        batch("x", "agent:step", 500),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, AppendError::WrongExpectedVersion { .. }),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_late_event_is_reported_even_when_the_writer_refuses_everything() {
    // A store poisoned by a failed write refuses every append that reaches its writer, but a
    // batch with a bad event never reaches it whole: the caller gets the bad event, whichever
    // part it is in.
    let dir = tempfile::tempdir().unwrap();
    let options = annal_sqlite::OpenOptions::new().max_size_bytes(256 * 1024);
    let store = SqliteStore::open_with(dir.path().join("poisoned.db"), options).unwrap();
    let big = "x".repeat(16 * 1024);
    for n in 0.. {
        assert!(n < 1_000, "the size cap never bit");
        let event = NewEvent::new(
            EventType::new("agent:step").unwrap(),
            json!({ "blob": big }),
        );
        let appended = append(&store, "filler", ExpectedVersion::Any, vec![event]).await;
        if appended.is_err() {
            break;
        }
    }
    for len in [100, 1_000] {
        let mut bad = batch("p", "agent:step", len);
        let index = len as usize - 10;
        bad[index] = NewEvent::new(EventType::new("agent:step").unwrap(), json!(null));
        let error = append(&store, "after", ExpectedVersion::Any, bad)
            .await
            .unwrap_err();
        assert!(
            matches!(
                &error,
                AppendError::InvalidEvent { index: i, reason: InvalidEvent::PayloadNotObject { .. } }
                    if *i == index
            ),
            "a batch of {len}: {error:?}"
        );
    }
}
