// Goal: opening refuses what is not an annal store, or is newer or damaged, and never changes
// such a file; the writer lock names the file and is released on drop; the lock wait works.
// Method: write foreign files byte for byte, open them, and compare the bytes (and the sidecar
// files present) before and after.

use std::path::Path;
use std::time::{Duration, Instant};

use annal_core::Store;
use annal_sqlite::{OpenError, OpenOptions, SqliteStore};

use crate::support::{append_one, everything};

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Opens `path` for writing and read-only, expects both to fail with `check`, and asserts the
/// file and its directory are exactly as before.
#[track_caller]
fn check_refused(path: &Path, check: impl Fn(&OpenError) -> bool) {
    let before = std::fs::read(path).unwrap();
    let dir = path.parent().unwrap();
    let files = files_in(dir);
    for read_only in [false, true] {
        let options = if read_only {
            OpenOptions::new().read_only()
        } else {
            OpenOptions::new()
        };
        let error = SqliteStore::open_with(path, options).unwrap_err();
        assert!(check(&error), "unexpected error: {error}");
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
    }
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "the file was modified"
    );
    assert_eq!(
        files_in(dir),
        files,
        "files appeared next to the refused file"
    );
}

#[test]
fn random_bytes_are_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.db");
    let bytes: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    check_refused(&path, |e| matches!(e, OpenError::NotAnnalStore { .. }));
}

#[test]
fn seed_events_db_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    {
        // The seed's schema, as sql.js wrote it: a SQLite file without annal's markers.
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "CREATE TABLE events (id TEXT PRIMARY KEY, type TEXT NOT NULL, aggregate_id TEXT \
                 NOT NULL, aggregate_type TEXT NOT NULL, version INTEGER NOT NULL, timestamp \
                 INTEGER NOT NULL, source TEXT NOT NULL, payload TEXT NOT NULL, metadata TEXT, \
                 causation_id TEXT, correlation_id TEXT);
                 INSERT INTO events VALUES ('e1', 'agent:spawned', 'agent-1', 'agent', 1, 5, \
                 'swarm', '{}', '{}', NULL, NULL);",
            )
            .unwrap();
    }
    check_refused(
        &path,
        |e| matches!(e, OpenError::NotAnnalStore { reason, .. } if reason.contains("application id")),
    );
}

#[test]
fn newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    drop(SqliteStore::open(&path).unwrap());
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch("PRAGMA user_version = 99")
            .unwrap();
    }
    check_refused(&path, |e| {
        matches!(e, OpenError::NewerSchema { found: 99, .. })
    });
}

#[test]
fn damaged_file_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    drop(SqliteStore::open(&path).unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() >= 4096 * 2,
        "the store has more than its header page"
    );
    // Wreck the schema page past the 100-byte file header: the header still says SQLite.
    for byte in &mut bytes[100..4096] {
        *byte = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    check_refused(&path, |e| {
        matches!(
            e,
            OpenError::Damaged { .. } | OpenError::NotAnnalStore { .. }
        )
    });
}

#[test]
fn read_only_open_of_missing_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.db");
    let error = SqliteStore::open_read_only(&path).unwrap_err();
    assert!(matches!(error, OpenError::NotFound { .. }), "{error}");
    assert!(
        files_in(dir.path()).is_empty(),
        "a read-only open created files"
    );
}

#[tokio::test]
async fn second_writer_in_process_gets_in_use_and_reopen_after_drop_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let first = SqliteStore::open(&path).unwrap();
    append_one(&first, "agent-1", 1).await;
    let error = SqliteStore::open(&path).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, OpenError::InUse { .. }), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("in use"), "{message}");
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    drop(first);
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(everything(&again).await.len(), 1);
}

#[test]
fn lock_timeout_waits_for_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let first = SqliteStore::open(&path).unwrap();
    let started = Instant::now();
    let error = SqliteStore::open_with(
        &path,
        OpenOptions::new().lock_timeout(Duration::from_millis(200)),
    )
    .unwrap_err();
    assert!(matches!(error, OpenError::InUse { .. }), "{error}");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "gave up before the timeout"
    );
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        drop(first);
    });
    let second = SqliteStore::open_with(
        &path,
        OpenOptions::new().lock_timeout(Duration::from_secs(10)),
    );
    releaser.join().unwrap();
    assert!(
        second.is_ok(),
        "the waiting open got the lock once it was released"
    );
}

#[tokio::test]
async fn memory_path_works_and_vanishes() {
    let store = SqliteStore::open(annal_sqlite::MEMORY_PATH).unwrap();
    append_one(&store, "agent-1", 1).await;
    let dir = store.path().parent().unwrap().to_path_buf();
    assert!(dir.exists());
    assert_eq!(store.stats(5).await.unwrap().bytes_on_disk, None);
    drop(store);
    assert!(
        !dir.exists(),
        "the private store's directory is removed on drop"
    );
}

// Regression (review finding): the lock was named from the path string, so a symlink or another
// spelling of the same file let a second writer in.
#[tokio::test]
async fn other_spellings_of_the_path_share_the_writer_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let first = SqliteStore::open(&path).unwrap();
    append_one(&first, "agent-1", 1).await;
    let link = dir.path().join("link.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let error = SqliteStore::open(&link).unwrap_err();
    assert!(matches!(error, OpenError::InUse { .. }), "{error}");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let dotted = dir.path().join("sub").join("..").join("annal.db");
    let error = SqliteStore::open(&dotted).unwrap_err();
    assert!(matches!(error, OpenError::InUse { .. }), "{error}");
    drop(first);
    assert_eq!(
        everything(&SqliteStore::open(&link).unwrap()).await.len(),
        1
    );
}
