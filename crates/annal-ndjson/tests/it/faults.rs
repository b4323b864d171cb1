// Goal: every fault on disk gets the documented behaviour and loses nothing acknowledged: a torn
// last line or batch is reported and cut, a corrupt middle line refuses the open with file, line
// and offset and leaves the file untouched, a truncated or missing index is rebuilt from the log,
// a stale lock file does not block, and a foreign (seed) directory is refused untouched.
// Method: write real stores, damage their files the way a crash or a bad disk would, reopen.

use std::io::Write;
use std::path::{Path, PathBuf};

use annal_core::{ExpectedVersion, Store};
use annal_ndjson::{IndexStatus, NdjsonStore, OpenError};

use crate::support::{append_ids, event, everything, ids, stream};

fn store_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    (dir, path)
}

fn log(dir: &Path) -> PathBuf {
    dir.join("events.ndjson")
}

/// A store holding `a1`, the batch `b1 b2 b3` and `c1`.
async fn three_appends(dir: &Path) -> Vec<u8> {
    let store = NdjsonStore::open(dir).unwrap();
    append_ids(&store, "s-a", &["a1"]).await;
    append_ids(&store, "s-b", &["b1", "b2", "b3"]).await;
    append_ids(&store, "s-c", &["c1"]).await;
    drop(store);
    std::fs::read(log(dir)).unwrap()
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

#[track_caller]
fn check_torn(store: &NdjsonStore, offset: usize, bytes: usize) {
    let torn = store
        .recovery()
        .torn_tail
        .clone()
        .expect("a torn tail is reported");
    assert_eq!(torn.offset, offset as u64, "{torn:?}");
    assert_eq!(torn.bytes, bytes as u64, "{torn:?}");
    assert!(torn.cut);
}

#[tokio::test]
async fn torn_last_line_is_reported_and_cut() {
    let (_guard, dir) = store_dir();
    let clean = three_appends(&dir).await;
    append_bytes(&log(&dir), b"{\"id\":\"d1\",\"type\":\"agent:st");
    let store = NdjsonStore::open(&dir).unwrap();
    check_torn(&store, clean.len(), 27);
    assert_eq!(
        ids(&everything(&store).await),
        ["a1", "b1", "b2", "b3", "c1"]
    );
    // The next append lands after the cut, not glued to the torn bytes (as the seed's were).
    append_ids(&store, "s-d", &["d1"]).await;
    drop(store);
    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(store.recovery().torn_tail, None);
    assert_eq!(
        ids(&everything(&store).await),
        ["a1", "b1", "b2", "b3", "c1", "d1"]
    );
}

#[tokio::test]
async fn unparsable_last_line_and_incomplete_batch_are_torn() {
    let (_guard, dir) = store_dir();
    let clean = three_appends(&dir).await;
    append_bytes(&log(&dir), b"\0\0\0\0\n");
    let store = NdjsonStore::open(&dir).unwrap();
    check_torn(&store, clean.len(), 5);
    drop(store);

    // Cut the last line of the batch b1 b2 b3 and everything after it: the two lines left of
    // the batch are whole lines, yet the batch is not, so it goes as a whole. That is what a
    // crash leaves only if the batch was never synced, so head.json (which says it was) goes
    // too, as in a store format version 1 wrote.
    let text = String::from_utf8(clean).unwrap();
    let b3 = text.find("{\"id\":\"b3\"").unwrap();
    let b1 = text.find("{\"id\":\"b1\"").unwrap();
    std::fs::write(log(&dir), &text[..b3]).unwrap();
    std::fs::remove_file(dir.join("head.json")).unwrap();
    let store = NdjsonStore::open(&dir).unwrap();
    check_torn(&store, b1, b3 - b1);
    assert_eq!(ids(&everything(&store).await), ["a1"]);
    assert_eq!(
        std::fs::read(log(&dir)).unwrap().len(),
        b1,
        "the file ends after a1"
    );
}

/// Three appends, then one byte of b2's line (the third) overwritten in place: the log's
/// bytes as damaged, and b2's offset.
async fn damage_b2(dir: &Path) -> (Vec<u8>, usize) {
    let text = String::from_utf8(three_appends(dir).await).unwrap();
    let b2 = text.find("{\"id\":\"b2\"").unwrap();
    let mut damaged = text.into_bytes();
    damaged[b2 + 3] = b'#';
    std::fs::write(log(dir), &damaged).unwrap();
    (damaged, b2)
}

#[tokio::test]
async fn corrupt_line_behind_the_derived_index_fails_its_reads_naming_it() {
    // A clean close moved every event to index.sqlite, so an open scans nothing; the damage is
    // found by every read that reaches the line (and by `annal verify`), and nothing changes.
    let (_guard, dir) = store_dir();
    let (damaged, b2) = damage_b2(&dir).await;
    for read_only in [false, true] {
        let store = if read_only {
            NdjsonStore::open_read_only(&dir).unwrap()
        } else {
            NdjsonStore::open(&dir).unwrap()
        };
        let error = annal_core::collect(store.read_all(annal_core::Position(1)).await.unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("events.ndjson"), "{error}");
        assert!(error.contains(&format!("byte {b2}")), "{error}");
        let b1 = store
            .event_by_id(&annal_core::EventId::new("b1").unwrap())
            .await;
        assert_eq!(
            b1.unwrap().unwrap().id.as_str(),
            "b1",
            "other lines still read"
        );
        drop(store);
        assert_eq!(std::fs::read(log(&dir)).unwrap(), damaged, "untouched");
    }
}

#[tokio::test]
async fn corrupt_middle_line_refuses_the_open_and_changes_nothing() {
    let (_guard, dir) = store_dir();
    let (damaged, b2) = damage_b2(&dir).await;
    // Without the derived index, an open scans and checks every line.
    std::fs::remove_file(dir.join("index.sqlite")).unwrap();
    for read_only in [false, true] {
        let opened = if read_only {
            NdjsonStore::open_read_only(&dir)
        } else {
            NdjsonStore::open(&dir)
        };
        let error = opened.unwrap_err();
        match &error {
            OpenError::Corrupted {
                path, line, offset, ..
            } => {
                assert_eq!(path, &log(&dir));
                assert_eq!(*line, 3);
                assert_eq!(*offset, b2 as u64);
            }
            other => panic!("expected Corrupted, got {other:?}"),
        }
        let message = error.to_string();
        assert!(
            message.contains("events.ndjson") && message.contains("line 3"),
            "{message}"
        );
        assert!(message.contains(&format!("byte offset {b2}")), "{message}");
        assert_eq!(std::fs::read(log(&dir)).unwrap(), damaged, "untouched");
    }
}

#[tokio::test]
async fn truncated_or_missing_index_is_rebuilt_from_the_log() {
    let (_guard, dir) = store_dir();
    three_appends(&dir).await;
    let index = dir.join("index.json");
    let full = std::fs::read(&index).unwrap();
    std::fs::write(&index, &full[..full.len() / 2]).unwrap();
    let store = NdjsonStore::open(&dir).unwrap();
    assert!(
        matches!(store.recovery().index, IndexStatus::Damaged { .. }),
        "{:?}",
        store.recovery()
    );
    assert_eq!(everything(&store).await.len(), 5);
    assert_eq!(store.stats(10).await.unwrap().total_events, 5);
    drop(store);
    assert_eq!(std::fs::read(&index).unwrap(), full, "rewritten whole");

    std::fs::remove_file(&index).unwrap();
    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(store.recovery().index, IndexStatus::Missing);
    let result = store
        .append(
            &stream("s-b"),
            ExpectedVersion::Exact(annal_core::Version(3)),
            vec![event("b4")],
        )
        .await
        .unwrap();
    assert_eq!(result.first_position.0, 6, "positions continue");
    drop(store);
    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(store.recovery().index, IndexStatus::Current);
    assert_eq!(everything(&store).await.len(), 6);
}

#[tokio::test]
async fn stale_lock_file_does_not_block_but_a_live_writer_does() {
    let (_guard, dir) = store_dir();
    three_appends(&dir).await;
    // What the seed leaves behind, and what a killed annal writer leaves: a lock file nobody
    // holds. Only the OS lock counts.
    std::fs::write(
        dir.join(".lock"),
        r#"{"holder":"1b4e28ba-2fa1-11d2-883f-0016d3cca427","timestamp":1,"pid":999999}"#,
    )
    .unwrap();
    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(everything(&store).await.len(), 5);
    let error = NdjsonStore::open(&dir).unwrap_err();
    assert!(matches!(error, OpenError::InUse { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("in use"), "{message}");
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    let reader = NdjsonStore::open_read_only(&dir).unwrap();
    assert_eq!(everything(&reader).await.len(), 5);
    drop(store);
    NdjsonStore::open(&dir).unwrap();
}

#[tokio::test]
async fn seed_ledger_directory_is_refused_untouched() {
    let (_guard, dir) = store_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let line = r#"{"eventId":"e1","taskId":"t1","timestamp":1}"#;
    std::fs::write(log(&dir), format!("{line}\n")).unwrap();
    let index = "{\n  \"eventCount\": 1,\n  \"taskIds\": [\"t1\"]\n}";
    std::fs::write(dir.join("index.json"), index).unwrap();
    let error = NdjsonStore::open(&dir).unwrap_err();
    assert!(matches!(error, OpenError::NotAnnalStore { .. }), "{error}");
    std::fs::remove_file(dir.join("index.json")).unwrap();
    let error = NdjsonStore::open(&dir).unwrap_err();
    assert!(matches!(error, OpenError::NotAnnalStore { .. }), "{error}");
    assert_eq!(
        std::fs::read_to_string(log(&dir)).unwrap(),
        format!("{line}\n")
    );
    assert!(!dir.join(".lock").exists(), "no lock file was created");
}

#[tokio::test]
async fn read_only_open_ignores_a_torn_tail_without_cutting_it() {
    let (_guard, dir) = store_dir();
    three_appends(&dir).await;
    append_bytes(&log(&dir), b"{\"id\":");
    let before = std::fs::read(log(&dir)).unwrap();
    // head.json says where the synced log ends: a reader does not even look past it.
    let reader = NdjsonStore::open_read_only(&dir).unwrap();
    assert_eq!(reader.recovery().torn_tail, None);
    assert_eq!(everything(&reader).await.len(), 5);
    drop(reader);
    // Without it (a store format version 1 wrote), the reader finds the torn bytes and leaves
    // them.
    std::fs::remove_file(dir.join("head.json")).unwrap();
    let reader = NdjsonStore::open_read_only(&dir).unwrap();
    let torn = reader.recovery().torn_tail.clone().unwrap();
    assert!(!torn.cut);
    assert_eq!(everything(&reader).await.len(), 5);
    assert_eq!(std::fs::read(log(&dir)).unwrap(), before);
}

#[tokio::test]
async fn compaction_keeps_framing_and_counters() {
    let (_guard, dir) = store_dir();
    three_appends(&dir).await;
    let store = NdjsonStore::open(&dir).unwrap();
    // Split the batch b1 b2 b3: the two kept lines must read as one whole batch of two.
    let report = store
        .truncate_before(&stream("s-b"), annal_core::Version(2), false)
        .await
        .unwrap();
    assert_eq!(report.removed, 1);
    store
        .delete_stream(&stream("s-a"), ExpectedVersion::Any)
        .await
        .unwrap();
    drop(store);
    let text = std::fs::read_to_string(log(&dir)).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(
        text.lines()
            .all(|l| !l.contains("\"id\":\"b") || l.contains("\"batchSize\":2,\"crc32c\""))
    );
    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(ids(&everything(&store).await), ["b2", "b3", "c1"]);
    assert_eq!(store.stream_version(&stream("s-a")).await.unwrap().0, 1);
    assert_eq!(store.head().await.unwrap().0, 5);
    let result = append_ids(&store, "s-a", &["a2"]).await;
    assert_eq!((result.stream_version.0, result.first_position.0), (2, 6));
}

#[tokio::test]
async fn an_event_over_the_line_cap_is_refused_whatever_the_payload_limit() {
    let (_guard, dir) = store_dir();
    let limits = annal_core::Limits {
        payload_bytes_max: 128 * 1024 * 1024,
        batch_bytes_max: 256 * 1024 * 1024,
        ..annal_core::Limits::default()
    };
    let store =
        NdjsonStore::open_with(&dir, annal_ndjson::OpenOptions::new().limits(limits)).unwrap();
    append_ids(&store, "s", &["small"]).await;
    let huge = "x".repeat(64 * 1024 * 1024);
    let big = annal_core::NewEvent::new(
        annal_core::EventType::new("agent:step").unwrap(),
        serde_json::json!({ "blob": huge }),
    );
    let error = store
        .append(&stream("s"), ExpectedVersion::Any, vec![event("ok"), big])
        .await
        .unwrap_err();
    match &error {
        annal_core::AppendError::InvalidEvent {
            index: 1,
            reason: annal_core::InvalidEvent::PayloadTooLarge { bytes, max },
        } => assert!(max < bytes, "{error}"),
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    // Nothing of the refused batch was stored, and the store still takes appends.
    append_ids(&store, "s", &["after"]).await;
    drop(store);
    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(store.recovery().torn_tail, None);
    assert_eq!(ids(&everything(&store).await), ["small", "after"]);
}

#[tokio::test]
async fn a_position_counter_at_its_end_refuses_appends_instead_of_overflowing() {
    let (_guard, dir) = store_dir();
    three_appends(&dir).await;
    let counters = format!(
        "{{\"formatVersion\":2,\"lastPosition\":{},\"streams\":{{}},\"uncheckedThrough\":0}}",
        u64::MAX
    );
    std::fs::write(dir.join("streams.json"), counters).unwrap();
    let store = NdjsonStore::open(&dir).unwrap();
    let error = store
        .append(&stream("s-a"), ExpectedVersion::Any, vec![event("a2")])
        .await
        .unwrap_err();
    assert!(
        matches!(error, annal_core::AppendError::PositionOverflow),
        "{error:?}"
    );
    // The writer lives on: other requests are still answered.
    assert_eq!(everything(&store).await.len(), 5);
    store.flush().await.unwrap();
}

#[tokio::test]
async fn a_line_at_the_last_position_is_damage_not_a_panic() {
    let (_guard, dir) = store_dir();
    three_appends(&dir).await;
    // A batch of two whose first line claims the last position there is: its second line
    // cannot follow it. Written without checksums, as format version 1 did, and without
    // head.json, so only the framing can refuse it.
    let max = u64::MAX;
    let line = |position: u64| {
        format!(
            "{{\"id\":\"z{position}\",\"type\":\"agent:step\",\"aggregateId\":\"s-z\",\
             \"aggregateType\":\"agent\",\"version\":1,\"position\":{position},\"timestamp\":1,\
             \"source\":\"\",\"payload\":{{}},\"metadata\":{{}},\"causationId\":null,\
             \"correlationId\":null,\"batchSize\":2}}\n"
        )
    };
    let log_path = log(&dir);
    append_bytes(&log_path, format!("{}{}", line(max), line(max)).as_bytes());
    std::fs::remove_file(dir.join("head.json")).unwrap();
    std::fs::remove_file(dir.join("streams.json")).unwrap();
    let store = NdjsonStore::open_read_only(&dir).unwrap();
    let torn = store.recovery().torn_tail.clone().unwrap();
    assert!(torn.reason.contains("does not continue"), "{torn:?}");
}
