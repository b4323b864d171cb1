// Goal: a damaged or incomplete file is never opened for writing and never changed: a page
// wrecked after a clean close (found by `quick_check`, which runs because the file changed
// since), a file cut short (found at the open's first read), a database copied without
// the WAL that held its newest commits; values on disk that the writer cannot use answer
// `Corrupted` naming table and value, never a dead writer thread or a wrapped counter.
// Method: build small stores, damage them byte for byte or through a plain SQLite connection,
// open them, and compare bytes and sidecar files before and after.

use std::path::Path;

use annal_core::{AppendError, ExpectedVersion, StorageError, Store};
use annal_sqlite::{OpenError, OpenOptions, SqliteStore};

use crate::support::{append_one, event, everything, stream};

const PAGE: usize = 4096;

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A closed store of `events` events with 200-byte payloads, in one stream.
async fn closed_store(path: &Path, events: u64) {
    let store = SqliteStore::open(path).unwrap();
    let filler = "x".repeat(200);
    for chunk in 0..events.div_ceil(500) {
        let batch = (0..500.min(events - chunk * 500))
            .map(|n| {
                annal_core::NewEvent::new(
                    annal_core::EventType::new("agent:step").unwrap(),
                    serde_json::json!({ "n": chunk * 500 + n, "filler": filler }),
                )
            })
            .collect();
        store
            .append(&stream("s"), ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
}

/// Opens `path` with `options`, expects `check` to hold for the error, which names the file,
/// and asserts the directory's files and the database's bytes are exactly as before.
#[track_caller]
fn assert_refused(path: &Path, options: OpenOptions, check: impl Fn(&OpenError) -> bool) {
    let before = std::fs::read(path).unwrap();
    let dir = path.parent().unwrap();
    let files = files_in(dir);
    let error = SqliteStore::open_with(path, options).unwrap_err();
    assert!(check(&error), "unexpected error: {error} ({error:?})");
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
    assert!(
        std::fs::read(path).unwrap() == before,
        "the file was modified"
    );
    assert_eq!(files_in(dir), files, "files appeared or went");
}

#[tokio::test]
async fn a_page_damaged_after_a_clean_close_is_refused_for_writing_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    closed_store(&path, 2_000).await;
    let mut bytes = std::fs::read(&path).unwrap();
    let pages = bytes.len() / PAGE;
    assert!(pages > 50, "{pages} pages");
    // A leaf page of the events table in the middle of the file, away from the right edge that
    // every open reads: only a read of every page sees it. (0x0D marks a table leaf page.)
    let leaf = (pages / 3..pages)
        .find(|page| bytes[page * PAGE] == 0x0D)
        .expect("a table leaf page");
    bytes[leaf * PAGE..(leaf + 1) * PAGE].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();
    assert_refused(&path, OpenOptions::new(), |e| {
        matches!(
            e,
            OpenError::FailedCheck {
                check: "quick_check",
                ..
            }
        )
    });
    let deep = SqliteStore::integrity_check(&path).unwrap_err();
    assert!(
        matches!(
            deep,
            OpenError::FailedCheck {
                check: "integrity_check",
                ..
            }
        ),
        "{deep}"
    );
}

#[tokio::test]
async fn a_clean_store_passes_the_deep_check_and_reopens_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    closed_store(&path, 600).await;
    SqliteStore::integrity_check(&path).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(everything(&store).await.len(), 600);
}

#[tokio::test]
async fn a_file_cut_short_is_refused_by_every_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    closed_store(&path, 2_000).await;
    let bytes = std::fs::read(&path).unwrap();
    // Whole pages gone from the end, as a copy that stopped early leaves it.
    std::fs::write(&path, &bytes[..bytes.len() - 8 * PAGE]).unwrap();
    for options in [OpenOptions::new(), OpenOptions::new().read_only()] {
        assert_refused(&path, options, |e| matches!(e, OpenError::Damaged { .. }));
    }
}

#[tokio::test]
async fn a_new_store_copied_without_its_wal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let store = SqliteStore::open(&path).unwrap();
    let wal = dir.path().join("annal.db-wal");
    assert!(wal.exists(), "a new store's WAL exists from its open on");
    assert!(
        std::fs::metadata(&path).unwrap().len() > 4096,
        "the open copied the schema and the marker into the database file"
    );
    for n in 0..10 {
        append_one(&store, "agent-1", n).await;
    }
    let copies = tempfile::tempdir().unwrap();
    let copy = copies.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    for options in [OpenOptions::new(), OpenOptions::new().read_only()] {
        assert_refused(&copy, options, |e| {
            matches!(e, OpenError::MissingWal { .. })
        });
    }
    drop(store);
    // Closed cleanly, the database file holds everything: a copy of it alone is a whole store.
    std::fs::copy(&path, &copy).unwrap();
    let reopened = SqliteStore::open(&copy).unwrap();
    assert_eq!(everything(&reopened).await.len(), 10);
}

#[tokio::test]
async fn a_reopened_store_copied_without_its_wal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    closed_store(&path, 100).await;
    let store = SqliteStore::open(&path).unwrap();
    append_one(&store, "agent-1", 1).await;
    let copies = tempfile::tempdir().unwrap();
    let copy = copies.path().join("copy.db");
    std::fs::copy(&path, &copy).unwrap();
    assert_refused(&copy, OpenOptions::new(), |e| {
        matches!(e, OpenError::MissingWal { .. })
    });
}

#[tokio::test]
async fn an_id_mark_above_the_head_is_corrupted_not_a_dead_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    closed_store(&path, 10).await;
    set_meta(&path, "ids_indexed_through", 1_000_000);
    let store = SqliteStore::open(&path).unwrap();
    let error = store
        .append(&stream("s"), ExpectedVersion::Any, vec![event(1)])
        .await
        .unwrap_err();
    match &error {
        AppendError::Storage(StorageError::Corrupted { location, reason }) => {
            assert!(location.contains("ids_indexed_through"), "{location}");
            assert!(reason.contains("1000000"), "{reason}");
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
    // The writer thread lives on and keeps answering, refusing writes until a reopen.
    let again = store
        .append(&stream("s"), ExpectedVersion::Any, vec![event(2)])
        .await
        .unwrap_err();
    assert!(
        matches!(again, AppendError::Storage(StorageError::Poisoned { .. })),
        "{again:?}"
    );
    assert_eq!(everything(&store).await.len(), 10, "nothing was written");
}

#[tokio::test]
async fn a_negative_stream_version_is_refused_at_open_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    closed_store(&path, 10).await;
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute("UPDATE streams SET version = -5", [])
        .unwrap();
    drop(connection);
    assert_refused(&path, OpenOptions::new(), |e| {
        matches!(e, OpenError::FailedCheck { .. })
            && e.to_string().contains("streams row 1")
            && e.to_string().contains("-5")
    });
}

#[tokio::test]
async fn the_last_position_is_never_passed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    closed_store(&path, 10).await;
    set_meta(&path, "head_floor", i64::MAX - 1);
    let store = SqliteStore::open(&path).unwrap();
    let last = append_one(&store, "agent-1", 1).await;
    assert_eq!(last.last_position.0, i64::MAX as u64);
    let error = store
        .append(&stream("agent-1"), ExpectedVersion::Any, vec![event(2)])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("no position left"), "{error}");
    assert_eq!(
        everything(&store).await.len(),
        11,
        "nothing more was written"
    );
    // Refusing it poisoned nothing: the store still takes other work.
    store.flush().await.unwrap();
}

#[tokio::test]
async fn a_negative_snapshot_version_or_checkpoint_is_corrupted_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    closed_store(&path, 10).await;
    let projection = annal_core::ProjectionName::new("counter").unwrap();
    {
        let store = SqliteStore::open(&path).unwrap();
        let snapshot = annal_core::Snapshot {
            aggregate_id: stream("s"),
            aggregate_type: annal_core::AggregateType::new("agent").unwrap(),
            version: annal_core::Version(5),
            state: serde_json::json!({}),
            timestamp: 0,
        };
        store.save_snapshot(snapshot).await.unwrap();
        let saved = annal_core::SavedProjection {
            checkpoint: annal_core::Position(10),
            state: serde_json::json!({}),
        };
        store.save_projection(&projection, &saved).await.unwrap();
    }
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection
        .execute_batch("UPDATE snapshots SET version = -4; UPDATE projections SET checkpoint = -6")
        .unwrap();
    drop(connection);
    let store = SqliteStore::open(&path).unwrap();
    let corrupted = |error: &annal_core::ReadError, location: &str, value: &str| match error {
        annal_core::ReadError::Storage(StorageError::Corrupted {
            location: at,
            reason,
        }) => at.contains(location) && reason.contains(value),
        _ => false,
    };
    let loaded = store.load_snapshot(&stream("s")).await.unwrap_err();
    assert!(
        corrupted(&loaded, "snapshots row of stream s", "-4"),
        "{loaded:?}"
    );
    let loaded = store.load_projection(&projection).await.unwrap_err();
    assert!(
        corrupted(&loaded, "projections row counter", "-6"),
        "{loaded:?}"
    );
    // The writer reads the same row before a truncation: refused, naming it, nothing removed.
    let refused = store
        .truncate_before(&stream("s"), annal_core::Version(3), false)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, annal_core::RetentionError::Storage(StorageError::Corrupted { location, reason })
            if location.contains("snapshots row") && reason.contains("-4")),
        "{refused:?}"
    );
    assert_eq!(everything(&store).await.len(), 10, "nothing was removed");
}

fn set_meta(path: &Path, key: &str, value: i64) {
    let connection = rusqlite::Connection::open(path).unwrap();
    let changed = connection
        .execute(
            "UPDATE meta SET value = ?2 WHERE key = ?1",
            rusqlite::params![key, value],
        )
        .unwrap();
    assert_eq!(changed, 1, "meta row {key}");
}
