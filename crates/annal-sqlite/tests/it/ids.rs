// Goal: the writer's id index answers retries and duplicates the same way for ids still in memory
// and for ids merged into the id runs, across a reopen, after removals, and on stores upgraded
// from schema version 1 (which had no stored ids) and version 2 (one row per id).
// Method: append more events than one merge holds (40,000 in batches of 1,000), reopen, and
// replay early and late batches, reuse their ids elsewhere, truncate, and reuse again. For the
// upgrades, turn a store back into the version 1 or version 2 layout by hand and open it.

use annal_core::{AppendError, EventId, ExpectedVersion, NewEvent, Store, Version};
use annal_sqlite::SqliteStore;

use crate::support::{event, stream};

const BATCHES: u64 = 40;
const BATCH: u64 = 1_000;

fn batch(first: u64) -> Vec<NewEvent> {
    (first..first + BATCH)
        .map(|n| event(n).with_id(EventId::new(format!("id-{n}")).unwrap()))
        .collect()
}

fn indexed_through(path: &std::path::Path) -> i64 {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'ids_indexed_through'",
            [],
            |row| row.get(0),
        )
        .unwrap()
}

#[track_caller]
fn assert_duplicate(result: Result<annal_core::AppendResult, AppendError>, id: &str) {
    match result {
        Err(AppendError::DuplicateEventId { id: found, .. }) => assert_eq!(found.as_str(), id),
        other => panic!("expected a duplicate of {id}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_and_recent_ids_answer_retries_and_duplicates_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.db");
    let mut results = Vec::new();
    {
        let store = SqliteStore::open(&path).unwrap();
        for b in 0..BATCHES {
            let result = store
                .append(
                    &stream("s"),
                    ExpectedVersion::Exact(Version(b * BATCH)),
                    batch(b * BATCH),
                )
                .await
                .unwrap();
            results.push(result);
        }
    }
    // A clean close merges the ids still in memory, so the next open reads none back.
    assert_eq!(indexed_through(&path), (BATCHES * BATCH) as i64);

    let store = SqliteStore::open(&path).unwrap();
    // A merged batch and a recent one: a retry returns the original result and writes nothing.
    for b in [0, BATCHES - 1] {
        let retried = store
            .append(
                &stream("s"),
                ExpectedVersion::Exact(Version(b * BATCH)),
                batch(b * BATCH),
            )
            .await
            .unwrap();
        assert_eq!(retried, results[b as usize]);
    }
    assert_eq!(store.head().await.unwrap().0, BATCHES * BATCH);
    // Looked up by id: a merged id through the runs, a recent one after the mark, and one that
    // was never stored.
    for n in [5, BATCHES * BATCH - 3] {
        let id = EventId::new(format!("id-{n}")).unwrap();
        let found = store.event_by_id(&id).await.unwrap().expect("stored id");
        assert_eq!((found.id, found.position.0), (id, n + 1));
    }
    let absent = EventId::new("id-never").unwrap();
    assert!(store.event_by_id(&absent).await.unwrap().is_none());
    // Reusing a merged id or a recent id anywhere else is a duplicate.
    for n in [5, BATCHES * BATCH - 5] {
        let reused = vec![event(n).with_id(EventId::new(format!("id-{n}")).unwrap())];
        assert_duplicate(
            store
                .append(&stream("other"), ExpectedVersion::Any, reused)
                .await,
            &format!("id-{n}"),
        );
    }
    // Removed events' ids are forgotten, whichever part of the index held them.
    store
        .truncate_before(&stream("s"), Version(BATCHES * BATCH), true)
        .await
        .unwrap();
    for n in [5, BATCHES * BATCH - 5] {
        let reused = vec![event(n).with_id(EventId::new(format!("id-{n}")).unwrap())];
        store
            .append(&stream("other"), ExpectedVersion::Any, reused)
            .await
            .unwrap();
    }
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    let again = vec![event(5).with_id(EventId::new("id-5").unwrap())];
    assert_duplicate(
        store
            .append(&stream("third"), ExpectedVersion::Any, again)
            .await,
        "id-5",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_store_is_upgraded_and_keeps_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .append(&stream("s"), ExpectedVersion::Any, batch(0))
            .await
            .unwrap();
    }
    {
        // The version 1 layout: no id tables, no mark.
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "DROP TABLE id_runs; DROP TABLE id_run_chunks;
                 DELETE FROM meta WHERE key = 'ids_indexed_through';
                 PRAGMA user_version = 1;",
            )
            .unwrap();
    }
    let read_only = SqliteStore::open_with(&path, annal_sqlite::OpenOptions::new().read_only());
    let error = read_only.expect_err("a read-only open cannot upgrade");
    assert!(error.to_string().contains("needs an upgrade"), "{error}");

    let store = SqliteStore::open(&path).unwrap();
    let reused = vec![event(7).with_id(EventId::new("id-7").unwrap())];
    assert_duplicate(
        store
            .append(&stream("other"), ExpectedVersion::Any, reused)
            .await,
        "id-7",
    );
    drop(store);
    let connection = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, 5);
    assert_eq!(
        indexed_through(&path),
        1_000,
        "the 1,000 ids read back from the upgraded store were merged at the clean close"
    );
}

/// Turns the id runs of a closed version 3 store back into version 2's tables (one row per id,
/// further positions of a shared hash in `event_ids_more`), keeping the mark.
fn downgrade_ids_to_version_2(path: &std::path::Path) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .execute_batch(
            "CREATE TABLE event_ids (hash INTEGER PRIMARY KEY, position INTEGER NOT NULL) STRICT;
             CREATE TABLE event_ids_more (hash INTEGER NOT NULL, position INTEGER NOT NULL,
                 PRIMARY KEY (hash, position)) STRICT, WITHOUT ROWID;",
        )
        .unwrap();
    let blobs: Vec<Vec<u8>> = connection
        .prepare("SELECT entries FROM id_run_chunks")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for blob in blobs {
        for entry in blob.chunks_exact(16) {
            let hash = i64::from_le_bytes(entry[..8].try_into().unwrap());
            let position = i64::from_le_bytes(entry[8..].try_into().unwrap());
            let inserted = connection
                .execute(
                    "INSERT INTO event_ids (hash, position) VALUES (?1, ?2) \
                     ON CONFLICT (hash) DO NOTHING",
                    [hash, position],
                )
                .unwrap();
            if inserted == 0 {
                connection
                    .execute(
                        "INSERT INTO event_ids_more (hash, position) VALUES (?1, ?2)",
                        [hash, position],
                    )
                    .unwrap();
            }
        }
    }
    connection
        .execute_batch("DROP TABLE id_runs; DROP TABLE id_run_chunks; PRAGMA user_version = 2;")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_store_with_merged_ids_is_upgraded_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        for n in 0..BATCHES {
            store
                .append(&stream("s"), ExpectedVersion::Any, batch(n * BATCH))
                .await
                .unwrap();
        }
    }
    let mark = indexed_through(&path);
    assert!(mark > 0, "the ids were merged");
    downgrade_ids_to_version_2(&path);

    let store = SqliteStore::open(&path).unwrap();
    // A retry of the first batch, merged before the upgrade, is still recognised.
    let retried = store
        .append(&stream("s"), ExpectedVersion::NoStream, batch(0))
        .await
        .unwrap();
    assert_eq!(retried.stream_version, Version(BATCH));
    let reused = vec![event(3).with_id(EventId::new("id-3").unwrap())];
    assert_duplicate(
        store
            .append(&stream("other"), ExpectedVersion::Any, reused)
            .await,
        "id-3",
    );
    // And so is an id after the mark, still read from the events at the first write.
    let late = BATCHES * BATCH - 1;
    let reused = vec![event(late).with_id(EventId::new(format!("id-{late}")).unwrap())];
    assert_duplicate(
        store
            .append(&stream("other"), ExpectedVersion::Any, reused)
            .await,
        &format!("id-{late}"),
    );
    drop(store);
    let connection = rusqlite::Connection::open(&path).unwrap();
    let (runs, ids): (i64, i64) = connection
        .query_row("SELECT count(*), sum(ids) FROM id_runs", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(runs, 1, "the upgrade stored the merged ids as one run");
    assert_eq!(ids, mark, "every merged id, and only those");
    assert_eq!(
        indexed_through(&path),
        mark,
        "the mark stays: the first write loads only the ids after it"
    );
}

/// A store whose path is not UTF-8 (allowed on Unix) keeps finding its merged ids after a reopen:
/// SQLite cannot hand such a path back as text, and the id filter must then read the table
/// instead of taking the tables for empty.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_path_is_not_utf8_finds_its_merged_ids_after_reopen() {
    use std::os::unix::ffi::OsStrExt;

    let dir = tempfile::tempdir().unwrap();
    let folder = dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"not-utf8-\xff"));
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("ids.db");
    let first = {
        let store = SqliteStore::open(&path).unwrap();
        let mut first = None;
        for b in 0..BATCHES {
            let result = store
                .append(&stream("s"), ExpectedVersion::Any, batch(b * BATCH))
                .await
                .unwrap();
            first.get_or_insert(result);
        }
        first.unwrap()
    };
    assert!(indexed_through(&path) > 0, "a merge happened");
    let store = SqliteStore::open(&path).unwrap();
    let retried = store
        .append(&stream("s"), ExpectedVersion::Any, batch(0))
        .await
        .unwrap();
    assert_eq!(retried, first, "a retry of a merged batch writes nothing");
    assert_eq!(store.head().await.unwrap().0, BATCHES * BATCH);
    let reused = vec![event(5).with_id(EventId::new("id-5").unwrap())];
    assert_duplicate(
        store
            .append(&stream("other"), ExpectedVersion::Any, reused)
            .await,
        "id-5",
    );
}
