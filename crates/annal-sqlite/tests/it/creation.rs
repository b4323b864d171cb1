// Goal: a store whose creation was interrupted (a torn first page, a file copied before its
// schema, a database missing the WAL it was created through) is set aside and created anew by
// the next writer when the lock file records that creation as never finished; the same file
// without that record is refused untouched, and a read-only open never sets anything aside.
// Method: build each unfinished file from a real new store's bytes, write the lock file's record
// by hand, open, and compare the directory and the bytes before and after.

use std::path::{Path, PathBuf};

use annal_sqlite::{OpenOptions, SqliteStore};

use crate::support::{append_one, everything};

const UNDER_WAY: &str = "pid 1\ncreation under way\n";

fn lock_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.lock", path.display()))
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What interrupted creations leave, by name: the bytes of a database file. The directory of
/// the store they come from is returned too: while it lives, no file made from these bytes can
/// take the inode number the store's own file had (and that its `writer_file` names).
fn unfinished_files() -> (tempfile::TempDir, Vec<(&'static str, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let store = SqliteStore::open(&path).unwrap();
    // Taken while the writer is open: `writer_open = 1` is in the file, the WAL is not copied.
    let without_wal = std::fs::read(&path).unwrap();
    drop(store);
    let whole = std::fs::read(&path).unwrap();
    let torn = whole[..50].to_vec();
    let mut zeroed = torn.clone();
    zeroed.resize(4096, 0);
    let files = vec![
        ("a torn header", torn),
        ("a first page zero after 50 bytes", zeroed),
        ("a database missing its WAL", without_wal),
    ];
    (dir, files)
}

#[tokio::test]
async fn a_writer_sets_an_interrupted_creation_aside_and_creates_the_store_anew() {
    let (_source, files) = unfinished_files();
    for (what, bytes) in files {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("annal.db");
        std::fs::write(&path, &bytes).unwrap();
        std::fs::write(lock_path(&path), UNDER_WAY).unwrap();

        let read_only = SqliteStore::open_with(&path, OpenOptions::new().read_only());
        assert!(read_only.is_err(), "{what}: a read-only open refuses it");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}: read-only");

        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
        append_one(&store, "s", 1).await;
        assert_eq!(everything(&store).await.len(), 1, "{what}");
        let aside = dir.path().join("annal.db.unfinished-1");
        assert_eq!(std::fs::read(&aside).unwrap(), bytes, "{what}: kept aside");
        let record = std::fs::read_to_string(lock_path(&path)).unwrap();
        assert!(
            !record.contains("creation"),
            "{what}: record left: {record}"
        );
        drop(store);

        let reopened = SqliteStore::open(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(everything(&reopened).await.len(), 1, "{what}: reopened");
    }
}

#[test]
fn the_same_files_without_the_record_are_refused_untouched() {
    let (_source, files) = unfinished_files();
    for (what, bytes) in files {
        for lock_text in [None, Some("pid 1")] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("annal.db");
            std::fs::write(&path, &bytes).unwrap();
            if let Some(text) = lock_text {
                std::fs::write(lock_path(&path), text).unwrap();
            }
            let files = files_in(dir.path());
            let Err(error) = SqliteStore::open(&path).map(|_| ()) else {
                panic!("{what}: opened");
            };
            assert!(
                error.to_string().contains(&path.display().to_string()),
                "{what}: {error}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{what}: {error}");
            assert_eq!(files_in(dir.path()), files, "{what}: files changed");
        }
    }
}

#[tokio::test]
async fn a_creation_interrupted_after_its_schema_is_kept_and_finished() {
    // The record outlived a creation that got as far as a whole store: the store is opened as
    // it is (nothing set aside) and the record goes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    drop(SqliteStore::open(&path).unwrap());
    std::fs::write(lock_path(&path), UNDER_WAY).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    append_one(&store, "s", 1).await;
    drop(store);
    assert_eq!(files_in(dir.path()), ["annal.db", "annal.db.lock"]);
    let record = std::fs::read_to_string(lock_path(&path)).unwrap();
    assert!(!record.contains("creation"), "record left: {record}");
}
