// Goal: the derived index (`index.sqlite`) lets an open read only the log after its watermark,
// never answers for a log it does not describe, and is rebuilt from the log when it cannot be
// trusted. Method: stores with a pass every 10 events, copied while open (as a kill leaves
// them), damaged, cut, or given another store's index; each reopen is checked against the
// events appended and against the lines it says it scanned.

use std::path::{Path, PathBuf};

use annal_core::{Filter, Store, collect};
use annal_ndjson::{NdjsonStore, OpenOptions};

use crate::support::{append_ids, everything, ids};

const EVERY: usize = 10;

fn options() -> OpenOptions {
    OpenOptions::new().index_every(EVERY)
}

/// 25 events, one append each, over three streams: passes at 10 and 20 leave 5 in the tail.
async fn twenty_five(store: &NdjsonStore) -> Vec<String> {
    let mut appended = Vec::new();
    for n in 0..25 {
        let id = format!("e{n}");
        append_ids(store, &format!("s-{}", n % 3), &[&id]).await;
        appended.push(id);
    }
    appended
}

/// Copies the store's files as they are (what a kill -9 of its process leaves), the log as a
/// hard link: the index describes one log file, by inode.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "events.ndjson" {
            std::fs::hard_link(entry.path(), to.join(&name)).unwrap();
        } else if entry.file_type().unwrap().is_file() && name != ".lock" {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The last position the derived index of the store at `path` records.
fn watermark_of(path: &Path) -> u64 {
    let index = rusqlite::Connection::open(path.join("index.sqlite")).unwrap();
    let position: i64 = index
        .query_row(
            "SELECT value FROM meta WHERE key = 'through_position'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    u64::try_from(position).unwrap()
}

fn store_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    (dir, path)
}

async fn check_answers(store: &NdjsonStore, appended: &[String]) {
    assert_eq!(ids(&everything(store).await), appended);
    let stats = store.stats(3).await.unwrap();
    assert_eq!(stats.total_events, appended.len() as u64);
    assert_eq!(stats.stream_count, 3);
    let s1 = collect(
        store
            .read_stream(&crate::support::stream("s-1"), Default::default())
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let expected: Vec<&String> = appended.iter().skip(1).step_by(3).collect();
    assert_eq!(ids(&s1).iter().collect::<Vec<_>>(), expected);
    let backward = Filter {
        event_types: vec![annal_core::EventType::new("agent:step").unwrap()],
        direction: annal_core::Direction::Backward,
        ..Filter::default()
    };
    let found = collect(store.query(&backward).await.unwrap())
        .await
        .unwrap();
    let mut reversed = appended.to_vec();
    reversed.reverse();
    assert_eq!(ids(&found), reversed);
}

#[tokio::test]
async fn a_reopen_scans_only_the_lines_after_the_watermark() {
    let (_guard, path) = store_dir();
    let store = NdjsonStore::open_with(&path, options()).unwrap();
    let appended = twenty_five(&store).await;
    // Copied while the writer still holds the tail only in memory, as a kill would leave it.
    // Passes run beside the writer, so the copy's watermark is wherever the last one landed.
    let killed = path.with_file_name("killed");
    copy_dir(&path, &killed);
    drop(store);
    let watermark = watermark_of(&killed);
    assert!(watermark > 0, "no pass reached the disk in 25 appends");

    let reopened = NdjsonStore::open_with(&killed, options()).unwrap();
    assert_eq!(
        reopened.recovery().scanned_lines,
        25 - watermark,
        "{:?}",
        reopened.recovery()
    );
    assert_eq!(reopened.recovery().events, 25);
    check_answers(&reopened, &appended).await;
    let read_only = NdjsonStore::open_with(&killed, options().read_only()).unwrap();
    // The writer's open moved its tail to disk if it held a pass's worth.
    let watermark = watermark_of(&killed);
    assert_eq!(read_only.recovery().scanned_lines, 25 - watermark);
    check_answers(&read_only, &appended).await;

    // A clean close moved the tail too: nothing is left to scan.
    let closed = NdjsonStore::open_with(&path, options()).unwrap();
    assert_eq!(
        closed.recovery().scanned_lines,
        0,
        "{:?}",
        closed.recovery()
    );
    check_answers(&closed, &appended).await;
}

#[tokio::test]
async fn a_damaged_or_foreign_index_is_rebuilt_from_the_log() {
    let (_guard, path) = store_dir();
    let appended = {
        let store = NdjsonStore::open_with(&path, options()).unwrap();
        twenty_five(&store).await
    };
    let other = path.with_file_name("other");
    {
        let store = NdjsonStore::open_with(&other, options()).unwrap();
        append_ids(&store, "x", &["x1", "x2"]).await;
    }
    let index = path.join("index.sqlite");
    let good = std::fs::read(&index).unwrap();

    // Another store's index names another log file: not trusted, rebuilt.
    std::fs::copy(other.join("index.sqlite"), &index).unwrap();
    let store = NdjsonStore::open_with(&path, options()).unwrap();
    assert_eq!(store.recovery().scanned_lines, 25);
    check_answers(&store, &appended).await;
    drop(store);

    // Garbage where the index was: rebuilt.
    std::fs::write(&index, b"not a database").unwrap();
    let store = NdjsonStore::open_with(&path, options()).unwrap();
    assert_eq!(store.recovery().scanned_lines, 25);
    check_answers(&store, &appended).await;
    drop(store);
    let rebuilt = NdjsonStore::open_with(&path, options()).unwrap();
    assert_eq!(
        rebuilt.recovery().scanned_lines,
        0,
        "the rebuilt index is used"
    );
    drop(rebuilt);

    // A reader never writes: with garbage there it reads the log alone.
    std::fs::write(&index, b"not a database").unwrap();
    let reader = NdjsonStore::open_with(&path, options().read_only()).unwrap();
    assert_eq!(reader.recovery().scanned_lines, 25);
    check_answers(&reader, &appended).await;
    assert_eq!(std::fs::read(&index).unwrap(), b"not a database");
    drop(reader);
    std::fs::write(&index, good).unwrap();
}

#[tokio::test]
async fn an_index_ahead_of_a_cut_log_is_not_trusted() {
    let (_guard, path) = store_dir();
    let appended = {
        let store = NdjsonStore::open_with(&path, options()).unwrap();
        twenty_five(&store).await
    };
    // The log loses its last 12 lines behind the index's back (head.json goes too, as if the
    // store had been restored from an older copy of the log).
    let log = path.join("events.ndjson");
    let text = std::fs::read_to_string(&log).unwrap();
    let keep: usize = text.split_inclusive('\n').take(13).map(str::len).sum();
    std::fs::write(&log, &text.as_bytes()[..keep]).unwrap();
    std::fs::remove_file(path.join("head.json")).unwrap();

    let store = NdjsonStore::open_with(&path, options()).unwrap();
    assert_eq!(store.recovery().scanned_lines, 13);
    assert_eq!(ids(&everything(&store).await), appended[..13]);
    assert_eq!(store.stats(0).await.unwrap().total_events, 13);
    let e20 = annal_core::EventId::new("e20").unwrap();
    assert!(store.event_by_id(&e20).await.unwrap().is_none());
}

#[tokio::test]
async fn removals_rebuild_the_index_and_reads_across_them_stay_right() {
    let (_guard, path) = store_dir();
    let store = NdjsonStore::open_with(&path, options()).unwrap();
    let appended = twenty_five(&store).await;
    let s0 = crate::support::stream("s-0");
    store
        .delete_stream(&s0, annal_core::ExpectedVersion::Any)
        .await
        .unwrap();
    let kept: Vec<String> = appended
        .iter()
        .enumerate()
        .filter(|(n, _)| n % 3 != 0)
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(ids(&everything(&store).await), kept);
    let stats = store.stats(5).await.unwrap();
    assert_eq!(stats.total_events, kept.len() as u64);
    assert_eq!(stats.stream_count, 2);
    // An id of a removed event is free again only if the store says so; either way it is not
    // readable, and a retry of a kept one is recognised through the index on disk.
    let e0 = annal_core::EventId::new("e0").unwrap();
    assert!(store.event_by_id(&e0).await.unwrap().is_none());
    let again = append_ids(&store, "s-1", &["e1"]).await;
    assert_eq!(again.first_position.0, 2, "e1 is a retry, not a new event");
    drop(store);
    let reopened = NdjsonStore::open_with(&path, options()).unwrap();
    assert_eq!(reopened.recovery().scanned_lines, 0);
    assert_eq!(ids(&everything(&reopened).await), kept);
}

#[tokio::test]
async fn the_check_finds_an_index_that_differs_from_the_log() {
    let (_guard, path) = store_dir();
    {
        let store = NdjsonStore::open_with(&path, options()).unwrap();
        twenty_five(&store).await;
        assert_eq!(store.check_index().await.unwrap(), Vec::<String>::new());
    }
    let reader = NdjsonStore::open_read_only(&path).unwrap();
    assert_eq!(reader.check_index().await.unwrap(), Vec::<String>::new());
    drop(reader);
    let index = rusqlite::Connection::open(path.join("index.sqlite")).unwrap();
    index
        .execute_batch(
            "UPDATE counts SET n = n + 1; \
             DELETE FROM postings WHERE rowid = (SELECT min(rowid) FROM postings); \
             DELETE FROM ids WHERE rowid = (SELECT min(rowid) FROM ids);",
        )
        .unwrap();
    drop(index);
    let reader = NdjsonStore::open_read_only(&path).unwrap();
    let problems = reader.check_index().await.unwrap();
    let has = |table: &str| problems.iter().any(|p| p.contains(table));
    assert!(
        has("table counts") && has("table postings") && has("table ids"),
        "{problems:?}"
    );
}

/// Passes run beside the writer while appends and reads go on: every read sees each event
/// once, in order, and the index a clean close leaves matches the log.
#[tokio::test]
async fn passes_beside_the_writer_lose_and_repeat_nothing() {
    let (_guard, path) = store_dir();
    let store = std::sync::Arc::new(NdjsonStore::open_with(&path, options()).unwrap());
    let mut tasks = Vec::new();
    for task in 0..8 {
        let store = std::sync::Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for n in 0..40 {
                let id = format!("t{task}-{n}");
                append_ids(store.as_ref(), &format!("s-{task}"), &[&id]).await;
            }
        }));
    }
    let reader = {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move {
            for _ in 0..50 {
                let read = everything(store.as_ref()).await;
                let positions: Vec<u64> = read.iter().map(|e| e.position.0).collect();
                let expected: Vec<u64> = (1..=positions.len() as u64).collect();
                assert_eq!(positions, expected, "a read lost or repeated an event");
                tokio::task::yield_now().await;
            }
        })
    };
    for task in tasks {
        task.await.unwrap();
    }
    reader.await.unwrap();
    assert_eq!(everything(store.as_ref()).await.len(), 320);
    for task in 0..8 {
        let stream = crate::support::stream(&format!("s-{task}"));
        let events = collect(
            store
                .read_stream(&stream, Default::default())
                .await
                .unwrap(),
        )
        .await
        .unwrap();
        let expected: Vec<String> = (0..40).map(|n| format!("t{task}-{n}")).collect();
        assert_eq!(ids(&events), expected);
    }
    drop(store);
    let reopened = NdjsonStore::open_with(&path, options()).unwrap();
    assert_eq!(reopened.recovery().scanned_lines, 0);
    assert_eq!(reopened.check_index().await.unwrap(), Vec::<String>::new());
    assert_eq!(everything(&reopened).await.len(), 320);
}
