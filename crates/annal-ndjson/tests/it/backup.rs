// Goal: `annal_ndjson::backup` copies a store while its writer keeps appending, and the copy is a
// store of its own holding the store as it was at one moment: a prefix of the source's events
// (whole batches, every field equal) with the snapshots, projections and counters of that
// moment, never a snapshot or checkpoint past its log, never a truncated stream without the
// snapshot that replaced its events.
// Method: back up during concurrent appends, and during a writer that snapshots, truncates and
// saves a projection after every append; check every copy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use annal_core::{
    AggregateType, Position, ProjectionName, SavedProjection, Snapshot, Store, Version,
};
use annal_ndjson::{BackupError, NdjsonStore, backup};
use serde_json::json;

use crate::support::{append_ids, everything, stream};

fn snapshot(stream_name: &str, version: u64) -> Snapshot {
    Snapshot {
        aggregate_id: stream(stream_name),
        aggregate_type: AggregateType::new("thing").unwrap(),
        version: Version(version),
        state: json!({ "seen": version }),
        timestamp: 1,
    }
}

fn ids_of(prefix: &str, round: usize) -> Vec<String> {
    (0..3).map(|i| format!("{prefix}-{round}-{i}")).collect()
}

async fn append_round(store: &NdjsonStore, round: usize) {
    let ids = ids_of("e", round);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    append_ids(store, &format!("s-{}", round % 7), &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_appends_is_a_prefix_of_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("store");
    let store = NdjsonStore::open(&source).unwrap();
    for round in 0..100 {
        append_round(&store, round).await;
    }
    let writer = store.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicUsize::new(100));
    let (stopped, counted) = (Arc::clone(&stop), Arc::clone(&rounds));
    let appender = tokio::spawn(async move {
        while !stopped.load(Ordering::Relaxed) {
            let round = counted.load(Ordering::Relaxed);
            append_round(&writer, round).await;
            counted.store(round + 1, Ordering::Relaxed);
        }
    });
    let dest = dir.path().join("copy");
    let summary = backup(&source, &dest).await.unwrap();
    // At least one more batch after the backup returned, so the copy cannot hold everything.
    let seen = rounds.load(Ordering::Relaxed);
    while rounds.load(Ordering::Relaxed) <= seen + 1 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    stop.store(true, Ordering::Relaxed);
    appender.await.unwrap();

    let all = everything(&store).await;
    let copy = NdjsonStore::open(&dest).unwrap();
    let copied = everything(&copy).await;
    assert!(
        copied.len() >= 300,
        "the events before the backup are in it"
    );
    assert!(copied.len() < all.len(), "later appends are not");
    assert_eq!(
        copied.len() % 3,
        0,
        "only whole batches of three: {}",
        copied.len()
    );
    assert_eq!(
        copied[..],
        all[..copied.len()],
        "the copy is a prefix, field for field"
    );
    assert_eq!(summary.head, copied.last().unwrap().position);
    assert!(!dir.path().join("copy.partial").exists());

    // The copy is a working store: it takes appends after its last event.
    let more = append_ids(&copy, "s-new", &["after-backup"]).await;
    assert!(more.first_position > summary.head);
}

#[tokio::test]
async fn snapshots_and_projections_are_copied_with_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("store");
    let store = NdjsonStore::open(&source).unwrap();
    append_ids(&store, "s-a", &["a1", "a2"]).await;
    store.save_snapshot(snapshot("s-a", 2)).await.unwrap();
    store
        .truncate_before(&stream("s-a"), Version(3), false)
        .await
        .unwrap();
    append_ids(&store, "s-a", &["a3"]).await;
    let name = ProjectionName::new("counter").unwrap();
    let saved = SavedProjection {
        checkpoint: Position(3),
        state: json!({ "count": 3 }),
    };
    store.save_projection(&name, &saved).await.unwrap();
    drop(store);

    let dest = dir.path().join("copy");
    let summary = backup(&source, &dest).await.unwrap();
    assert_eq!(summary.attempts, 1, "nothing changed during the copy");
    let copy = NdjsonStore::open(&dest).unwrap();
    let loaded = copy.load_snapshot(&stream("s-a")).await.unwrap().unwrap();
    assert_eq!(loaded.version, Version(2));
    assert_eq!(loaded.state, json!({ "seen": 2 }));
    let events = everything(&copy).await;
    assert_eq!(events.len(), 1, "the truncated events stay truncated");
    assert_eq!(events[0].version, Version(3));
    let projection = copy.load_projection(&name).await.unwrap().unwrap();
    assert_eq!(projection.checkpoint, Position(3));
    // The counters came along: the next append continues the stream, never reusing a version.
    let next = append_ids(&copy, "s-a", &["a4"]).await;
    assert_eq!(next.stream_version, Version(4));
}

/// A writer that snapshots a stream after every append, truncates the events the snapshot
/// covers and saves a projection, while backups are taken: every copy must hold, for the
/// stream, a snapshot covering every event it lacks and no snapshot or checkpoint past its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_during_snapshots_truncation_and_projection_saves_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("store");
    let store = NdjsonStore::open(&source).unwrap();
    let writer = store.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let name = ProjectionName::new("counter").unwrap();
    let projection = name.clone();
    let task = tokio::spawn(async move {
        let mut round = 0u64;
        while !stopped.load(Ordering::Relaxed) {
            round += 1;
            let id = format!("e{round}");
            let result = append_ids(&writer, "s", &[id.as_str()]).await;
            let version = result.stream_version;
            writer
                .save_snapshot(snapshot("s", version.0))
                .await
                .unwrap();
            if round.is_multiple_of(8) {
                writer
                    .truncate_before(&stream("s"), Version(version.0 - 1), false)
                    .await
                    .unwrap();
            }
            if round.is_multiple_of(3) {
                let saved = SavedProjection {
                    checkpoint: result.last_position,
                    state: json!({ "count": round }),
                };
                writer.save_projection(&projection, &saved).await.unwrap();
            }
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let mut checked = 0;
    for attempt in 0..40 {
        let dest = dir.path().join(format!("copy-{attempt}"));
        let summary = match backup(&source, &dest).await {
            Ok(summary) => summary,
            // Every try raced a save: allowed, and reported as such.
            Err(BackupError::Busy { .. }) => continue,
            Err(error) => panic!("{error}"),
        };
        let copy = NdjsonStore::open_read_only(&dest).unwrap();
        let events = everything(&copy).await;
        let last = events.last().map_or(0, |event| event.version.0);
        let first = events.first().map_or(last + 1, |event| event.version.0);
        let saved = copy.load_snapshot(&stream("s")).await.unwrap();
        let covered = saved.as_ref().map_or(0, |snapshot| snapshot.version.0);
        assert!(
            first == 1 || covered + 1 >= first,
            "copy {attempt}: s starts at v{first} and its snapshot covers up to v{covered}"
        );
        assert!(
            covered <= last,
            "copy {attempt}: snapshot v{covered} past the log's v{last}"
        );
        if let Some(loaded) = copy.load_projection(&name).await.unwrap() {
            assert!(
                loaded.checkpoint <= summary.head,
                "copy {attempt}: checkpoint past the log"
            );
        }
        checked += 1;
    }
    stop.store(true, Ordering::Relaxed);
    task.await.unwrap();
    assert!(checked > 0, "no backup succeeded while the writer ran");
}

#[tokio::test]
async fn a_backup_never_overwrites_and_needs_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("store");
    let store = NdjsonStore::open(&source).unwrap();
    append_ids(&store, "s-a", &["a1"]).await;
    let dest = dir.path().join("taken");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("keep.txt"), "mine").unwrap();
    let error = backup(&source, &dest).await.unwrap_err();
    assert!(
        matches!(error, BackupError::DestinationExists { .. }),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("keep.txt")).unwrap(),
        "mine"
    );

    let not_a_store = dir.path().join("empty");
    std::fs::create_dir(&not_a_store).unwrap();
    let error = backup(&not_a_store, dir.path().join("copy"))
        .await
        .unwrap_err();
    assert!(matches!(error, BackupError::Open(_)), "{error}");
    assert!(
        !dir.path().join("copy").exists(),
        "nothing is created for a bad source"
    );
}
