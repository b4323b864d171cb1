// Goal: acknowledged data is never cut or hidden without a loud error, and nobody outside the
// writer sees an append before it is durable. A damaged last line of an acknowledged batch, or a
// log cut short behind its synced length, refuses the open (writer and reader) with the file,
// line and offset, and changes nothing; a torn write after the synced length is still cut; a
// reader in another handle sees an append only once it is synced.
// Method: real stores, damaged by hand where a bad disk would, reopened; a relaxed writer, whose
// appends are acknowledged before their fsync, against read-only opens.

use std::path::{Path, PathBuf};
use std::time::Duration;

use annal_core::{Position, Store};
use annal_ndjson::{Durability, HeadStatus, NdjsonStore, OpenError, OpenOptions};

use crate::support::{append_ids, everything, ids};

fn store_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    (dir, path)
}

fn log(dir: &Path) -> PathBuf {
    dir.join("events.ndjson")
}

/// A store holding `a1`, the batch `b1 b2 b3` and `c1`, closed; returns its log.
async fn acknowledged(dir: &Path) -> Vec<u8> {
    let store = NdjsonStore::open(dir).unwrap();
    append_ids(&store, "s-a", &["a1"]).await;
    append_ids(&store, "s-b", &["b1", "b2", "b3"]).await;
    append_ids(&store, "s-c", &["c1"]).await;
    drop(store);
    std::fs::read(log(dir)).unwrap()
}

#[track_caller]
fn check_refused(dir: &Path, line: u64, offset: usize, mentions: &str) {
    let before = std::fs::read(log(dir)).unwrap();
    for read_only in [false, true] {
        let opened = if read_only {
            NdjsonStore::open_read_only(dir)
        } else {
            NdjsonStore::open(dir)
        };
        match opened.unwrap_err() {
            OpenError::Corrupted {
                path,
                line: found_line,
                offset: found_offset,
                reason,
            } => {
                assert_eq!(path, log(dir));
                assert_eq!(
                    (found_line, found_offset),
                    (line, offset as u64),
                    "{reason}"
                );
                assert!(reason.contains(mentions), "{reason}");
            }
            other => panic!("expected Corrupted, got {other:?}"),
        }
        assert_eq!(
            std::fs::read(log(dir)).unwrap(),
            before,
            "the log is untouched"
        );
    }
}

#[tokio::test]
async fn damage_to_the_last_acknowledged_line_refuses_the_open() {
    let (_guard, dir) = store_dir();
    let clean = acknowledged(&dir).await;
    let text = String::from_utf8(clean.clone()).unwrap();
    let c1 = text.find("{\"id\":\"c1\"").unwrap();
    // A flipped bit in the payload: still JSON, still framed, but not what was written.
    let mut damaged = clean.clone();
    let payload = c1 + text[c1..].find("\"payload\":{\"id\":\"c1\"").unwrap();
    damaged[payload + 17] = b'x';
    std::fs::write(log(&dir), &damaged).unwrap();
    check_refused(&dir, 5, c1, "checksum mismatch");
    // A page of zeros over it, as a bad sector reads.
    let mut zeroed = clean.clone();
    zeroed[c1..clean.len() - 1].fill(0);
    std::fs::write(log(&dir), &zeroed).unwrap();
    check_refused(&dir, 5, c1, "synced to byte");
}

#[tokio::test]
async fn a_log_cut_short_of_its_synced_length_refuses_the_open() {
    let (_guard, dir) = store_dir();
    let clean = acknowledged(&dir).await;
    let text = String::from_utf8(clean).unwrap();
    let c1 = text.find("{\"id\":\"c1\"").unwrap();
    std::fs::write(log(&dir), &text[..c1]).unwrap();
    check_refused(&dir, 5, c1, "acknowledged events are missing");
    // Cut inside the acknowledged batch b1 b2 b3: the same, never a silent cut of the batch.
    let b3 = text.find("{\"id\":\"b3\"").unwrap();
    let b1 = text.find("{\"id\":\"b1\"").unwrap();
    std::fs::write(log(&dir), &text[..b3]).unwrap();
    check_refused(&dir, 2, b1, "synced to byte");
}

#[tokio::test]
async fn a_torn_write_after_the_synced_length_is_still_cut() {
    let (_guard, dir) = store_dir();
    let clean = acknowledged(&dir).await;
    let mut torn = clean.clone();
    torn.extend_from_slice(b"{\"id\":\"d1\",\"type\":\"agent:st");
    std::fs::write(log(&dir), &torn).unwrap();
    let store = NdjsonStore::open(&dir).unwrap();
    let recovery = store.recovery().clone();
    assert_eq!(
        recovery.torn_tail.as_ref().map(|t| t.offset),
        Some(clean.len() as u64)
    );
    assert_eq!(
        recovery.head,
        HeadStatus::Current {
            synced_bytes: clean.len() as u64
        }
    );
    assert_eq!(recovery.warnings().len(), 1, "{:?}", recovery.warnings());
    assert_eq!(std::fs::read(log(&dir)).unwrap(), clean);
    let next = append_ids(&store, "s-d", &["d1"]).await;
    assert_eq!(next.first_position, Position(6), "positions go on");
}

#[tokio::test]
async fn readers_see_an_append_only_once_it_is_synced() {
    let (_guard, dir) = store_dir();
    let options = OpenOptions::new().durability(Durability::Relaxed);
    let writer = NdjsonStore::open_with(&dir, options).unwrap();
    append_ids(&writer, "s", &["e1"]).await;
    writer.flush().await.unwrap();
    let follower = NdjsonStore::open_with(
        &dir,
        OpenOptions::new()
            .read_only()
            .poll_interval(Duration::from_millis(2)),
    )
    .unwrap();
    assert_eq!(ids(&everything(&follower).await), ["e1"]);
    // Acknowledged by the relaxed writer, but not synced: a failed fsync or a power loss could
    // still take it back, and its position would then go to another event.
    append_ids(&writer, "s", &["e2"]).await;
    let reader = NdjsonStore::open_read_only(&dir).unwrap();
    assert_eq!(ids(&everything(&reader).await), ["e1"]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(follower.head().await.unwrap(), Position(1));
    writer.flush().await.unwrap();
    let started = tokio::time::Instant::now();
    while follower.head().await.unwrap() < Position(2) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the follower never saw e2"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(ids(&everything(&follower).await), ["e1", "e2"]);
}

/// Every cut of the synced log, and every garbage tail after it: a cut inside acknowledged bytes
/// is always refused, a tail after them is always cut, and no open ever returns fewer events.
#[tokio::test]
async fn no_cut_of_synced_bytes_opens_silently() {
    let (_guard, dir) = store_dir();
    let clean = acknowledged(&dir).await;
    let step = (clean.len() / 40).max(1);
    for cut in (0..clean.len()).step_by(step) {
        std::fs::write(log(&dir), &clean[..cut]).unwrap();
        for read_only in [false, true] {
            let opened = if read_only {
                NdjsonStore::open_read_only(&dir)
            } else {
                NdjsonStore::open(&dir)
            };
            match opened {
                Err(OpenError::Corrupted { .. }) => {}
                other => panic!("a cut at byte {cut} opened as {other:?}"),
            }
        }
    }
    for (extra, garbage) in [(1, b'{'), (7, 0u8), (300, b'x')] {
        let mut torn = clean.clone();
        torn.extend(std::iter::repeat_n(garbage, extra));
        std::fs::write(log(&dir), &torn).unwrap();
        let store = NdjsonStore::open(&dir).unwrap();
        assert_eq!(everything(&store).await.len(), 5, "a tail of {extra} bytes");
        assert!(store.recovery().torn_tail.is_some());
        drop(store);
        assert_eq!(std::fs::read(log(&dir)).unwrap(), clean);
    }
}
