// Goal: finding an event by id answers from the index of ids that every open builds, in the
// writer's process, in a read-only follower, after a compaction and after a reopen, and the
// writer's retries and duplicate checks still see every stored id. Method: appends, retention
// and reopens on a real directory, each lookup checked against the event stored.

use std::time::Duration;

use annal_core::{AppendError, EventId, ExpectedVersion, Position, Store};
use annal_ndjson::{NdjsonStore, OpenOptions};

use crate::support::{append_ids, event, stream};

async fn found(store: &NdjsonStore, id: &str) -> Option<(String, u64, u64)> {
    let event = store
        .event_by_id(&EventId::new(id).unwrap())
        .await
        .unwrap()?;
    assert_eq!(
        event.id.as_str(),
        id,
        "the event found carries the id asked for"
    );
    Some((
        event.aggregate_id.to_string(),
        event.version.0,
        event.position.0,
    ))
}

async fn until_head(store: &NdjsonStore, head: Position) {
    let started = tokio::time::Instant::now();
    while store.head().await.unwrap() < head {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never reached {head:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn events_are_found_by_id_in_writer_follower_after_retention_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let writer = NdjsonStore::open(&path).unwrap();
    append_ids(&writer, "a", &["a1", "a2"]).await;
    append_ids(&writer, "b", &["b1"]).await;
    assert_eq!(found(&writer, "a2").await, Some(("a".into(), 2, 2)));
    assert_eq!(found(&writer, "b1").await, Some(("b".into(), 1, 3)));
    assert_eq!(found(&writer, "nope").await, None);

    let follower = NdjsonStore::open_with(
        &path,
        OpenOptions::new()
            .read_only()
            .poll_interval(Duration::from_millis(2)),
    )
    .unwrap();
    assert_eq!(found(&follower, "a1").await, Some(("a".into(), 1, 1)));
    append_ids(&writer, "c", &["c1"]).await;
    until_head(&follower, Position(4)).await;
    assert_eq!(found(&follower, "c1").await, Some(("c".into(), 1, 4)));

    // Retention rewrites the log: the removed event is gone, the others are found at their
    // positions, and an id appended after it is found too.
    writer
        .delete_stream(&stream("b"), ExpectedVersion::Any)
        .await
        .unwrap();
    assert_eq!(found(&writer, "b1").await, None);
    assert_eq!(found(&writer, "c1").await, Some(("c".into(), 1, 4)));
    append_ids(&writer, "d", &["d1"]).await;
    assert_eq!(found(&writer, "d1").await, Some(("d".into(), 1, 5)));

    // The writer's duplicate check reads the same index: an id stored before the compaction,
    // sent again to another stream, is refused; sent again as the same batch, it is a retry.
    let refused = writer
        .append(&stream("e"), ExpectedVersion::Any, vec![event("a1")])
        .await
        .unwrap_err();
    assert!(
        matches!(refused, AppendError::DuplicateEventId { .. }),
        "{refused:?}"
    );
    let retried = append_ids(&writer, "d", &["d1"]).await;
    assert_eq!(retried.first_position, Position(5));
    drop(follower);
    drop(writer);

    let reopened = NdjsonStore::open(&path).unwrap();
    assert_eq!(found(&reopened, "a2").await, Some(("a".into(), 2, 2)));
    assert_eq!(found(&reopened, "b1").await, None);
    let retried = append_ids(&reopened, "c", &["c1"]).await;
    assert_eq!(retried.first_position, Position(4));
    assert_eq!(reopened.head().await.unwrap(), Position(5));
}
