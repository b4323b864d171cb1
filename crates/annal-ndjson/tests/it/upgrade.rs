// Goal: a store format version 1 wrote opens, reads and grows under format version 2 without
// losing or changing anything: its lines stay readable without checksums (and byte for byte
// the same), every new line carries one, a line without one after the upgrade is refused, and
// its old snapshot file names are renamed.
// Method: `tests/fixtures/v1/store` was written by format version 1 (two streams, a partial
// batch left by a truncation, a snapshot named `Task-B.json`); each test works on a copy.

use std::path::{Path, PathBuf};

use annal_core::{ExpectedVersion, Position, Store, Version};
use annal_ndjson::{NdjsonStore, OpenError};

use crate::support::{event, everything, ids, stream};

fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/store");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("store");
    std::fs::create_dir_all(copy.join("snapshots")).unwrap();
    for name in [
        "events.ndjson",
        "index.json",
        "streams.json",
        "snapshots/Task-B.json",
    ] {
        std::fs::copy(fixture.join(name), copy.join(name)).unwrap();
    }
    (dir, copy)
}

const V1_IDS: [&str; 5] = ["a1", "b2", "b3", "a2", "a3"];

#[tokio::test]
async fn a_version_1_store_reads_before_and_after_the_upgrade() {
    let (_guard, dir) = fixture_copy();
    let v1_log = std::fs::read(dir.join("events.ndjson")).unwrap();
    let reader = NdjsonStore::open_read_only(&dir).unwrap();
    assert_eq!(ids(&everything(&reader).await), V1_IDS);
    let snapshot = reader.load_snapshot(&stream("Task-B")).await.unwrap();
    assert_eq!(
        snapshot.unwrap().version,
        Version(3),
        "found under its old name"
    );
    drop(reader);

    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(store.recovery().upgraded_from, Some(1));
    assert_eq!(
        store.recovery().renamed_files,
        [dir.join("snapshots/%54ask-%42.json")]
    );
    let appended = store
        .append(
            &stream("Task-B"),
            ExpectedVersion::Exact(Version(3)),
            vec![event("b4")],
        )
        .await
        .unwrap();
    assert_eq!(appended.first_position, Position(7));
    drop(store);

    let log = std::fs::read(dir.join("events.ndjson")).unwrap();
    assert_eq!(
        &log[..v1_log.len()],
        v1_log,
        "old lines are kept byte for byte"
    );
    let new_line = std::str::from_utf8(&log[v1_log.len()..]).unwrap();
    assert!(new_line.contains(",\"crc32c\":\""), "{new_line}");
    let store = NdjsonStore::open(&dir).unwrap();
    assert!(
        store.recovery().warnings().is_empty(),
        "{:?}",
        store.recovery()
    );
    let mut expected = V1_IDS.to_vec();
    expected.push("b4");
    assert_eq!(ids(&everything(&store).await), expected);
    let snapshot = store.load_snapshot(&stream("Task-B")).await.unwrap();
    assert_eq!(snapshot.unwrap().version, Version(3));
    // A compaction keeps old lines without a checksum; they still read after it.
    store
        .truncate_before(&stream("Task-B"), Version(3), true)
        .await
        .unwrap();
    drop(store);
    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(
        ids(&everything(&store).await),
        ["a1", "b3", "a2", "a3", "b4"]
    );
}

#[tokio::test]
async fn a_line_without_a_checksum_after_the_upgrade_is_refused() {
    let (_guard, dir) = fixture_copy();
    let v1_len = std::fs::read(dir.join("events.ndjson")).unwrap().len();
    let store = NdjsonStore::open(&dir).unwrap();
    store
        .append(&stream("s-a"), ExpectedVersion::Any, vec![event("a4")])
        .await
        .unwrap();
    store
        .append(&stream("s-a"), ExpectedVersion::Any, vec![event("a5")])
        .await
        .unwrap();
    drop(store);
    let text = std::fs::read_to_string(dir.join("events.ndjson")).unwrap();
    let at = text[v1_len..].find(",\"crc32c\":\"").unwrap() + v1_len;
    let stripped = format!("{}{}", &text[..at], &text[at + 20..]);
    std::fs::write(dir.join("events.ndjson"), stripped).unwrap();
    match NdjsonStore::open(&dir).unwrap_err() {
        OpenError::Corrupted { line, reason, .. } => {
            assert_eq!(line, 6);
            assert!(reason.contains("no checksum"), "{reason}");
        }
        other => panic!("expected Corrupted, got {other:?}"),
    }
}
