// Goal: `annal_ndjson::backup` copies a store while its writer keeps appending, and the copy is a
// store of its own holding a prefix of the source's events (whole batches, every field equal),
// its snapshots and projections, and nothing that describes events it does not hold.
// Method: back up during a stream of concurrent appends and compare the copy with the source;
// plant sidecar files that claim more than the log holds and check they are left out.

use std::path::Path;

use annal_core::{
    AggregateType, Position, ProjectionName, SavedProjection, Snapshot, Store, Version,
};
use annal_ndjson::{BackupError, NdjsonStore, backup};
use serde_json::json;

use crate::support::{append_ids, everything, stream};

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
    let appender = tokio::spawn(async move {
        for round in 100..600 {
            append_round(&writer, round).await;
        }
    });
    let dest = dir.path().join("copy");
    let summary = backup(&source, &dest).await.unwrap();
    appender.await.unwrap();

    let all = everything(&store).await;
    let copy = NdjsonStore::open(&dest).unwrap();
    let copied = everything(&copy).await;
    assert!(
        copied.len() >= 300,
        "the events before the backup are in it"
    );
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
    assert!(summary.dropped.is_empty());

    // The copy is a working store: it takes appends after its last event.
    let more = append_ids(&copy, "s-new", &["after-backup"]).await;
    assert!(more.first_position > summary.head);
}

#[tokio::test]
async fn snapshots_and_projections_are_copied_unless_ahead_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("store");
    let store = NdjsonStore::open(&source).unwrap();
    append_ids(&store, "s-a", &["a1", "a2"]).await;
    append_ids(&store, "s-b", &["b1"]).await;
    let snapshot = |stream_name: &str, version: u64| Snapshot {
        aggregate_id: stream(stream_name),
        aggregate_type: AggregateType::new("thing").unwrap(),
        version: Version(version),
        state: json!({ "seen": version }),
        timestamp: 1,
    };
    store.save_snapshot(snapshot("s-a", 2)).await.unwrap();
    store.save_snapshot(snapshot("s-b", 1)).await.unwrap();
    let saved = |checkpoint: u64| SavedProjection {
        checkpoint: Position(checkpoint),
        state: json!({ "count": checkpoint }),
    };
    let kept = ProjectionName::new("kept").unwrap();
    let ahead = ProjectionName::new("ahead").unwrap();
    store.save_projection(&kept, &saved(3)).await.unwrap();
    store.save_projection(&ahead, &saved(3)).await.unwrap();
    drop(store);
    // What a writer saves after the log was copied: a snapshot and a checkpoint beyond it.
    rewrite_json(&source.join("snapshots/s-b.json"), "version", 5);
    rewrite_json(&source.join("projections/ahead.json"), "checkpoint", 9);

    let dest = dir.path().join("copy");
    let summary = backup(&source, &dest).await.unwrap();
    let mut dropped: Vec<String> = summary
        .dropped
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    dropped.sort();
    assert_eq!(dropped, ["ahead.json", "s-b.json"]);

    let copy = NdjsonStore::open(&dest).unwrap();
    let loaded = copy.load_snapshot(&stream("s-a")).await.unwrap().unwrap();
    assert_eq!(loaded.version, Version(2));
    assert_eq!(loaded.state, json!({ "seen": 2 }));
    assert!(copy.load_snapshot(&stream("s-b")).await.unwrap().is_none());
    let projection = copy.load_projection(&kept).await.unwrap().unwrap();
    assert_eq!(projection.checkpoint, Position(3));
    assert!(copy.load_projection(&ahead).await.unwrap().is_none());
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

fn rewrite_json(path: &Path, field: &str, value: u64) {
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json[field] = json!(value);
    std::fs::write(path, serde_json::to_string(&json).unwrap()).unwrap();
}
