// Goal: annal reads, changes and removes only the files it writes. A directory that is not a
// store is refused untouched; in a store, other programs' files (a README in snapshots/, a
// `*.tmp` of an editor) are left alone and never block an open; annal's own damaged files are
// named; snapshot and projection file names are stable and distinct on case-insensitive file
// systems, with format version 1 names renamed on a writer open.
// Method: build directories by hand around real stores, open them, compare the files after.

use std::path::{Path, PathBuf};

use annal_core::{ExpectedVersion, ProjectionName, SavedProjection, Store};
use annal_ndjson::{NdjsonStore, OpenError};
use serde_json::json;

use crate::support::{append_ids, everything, snapshot_of, stream};

fn store_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    (dir, path)
}

fn write(path: &Path, bytes: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for sub in ["", "snapshots", "projections"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let name = entry.file_name().into_string().unwrap();
                found.push(if sub.is_empty() {
                    name
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn a_directory_that_is_not_a_store_is_refused_untouched() {
    let (_guard, dir) = store_dir();
    for (name, text) in [
        ("notes.tmp", "draft"),
        ("README.txt", "mine"),
        ("snapshots/cache.tmp", "x"),
        ("projections/work.json.tmp", "y"),
    ] {
        write(&dir.join(name), text);
    }
    let before = files(&dir);
    let error = NdjsonStore::open(&dir).unwrap_err();
    assert!(
        matches!(error, OpenError::NotAnnalStore { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("not empty"), "{error}");
    assert_eq!(files(&dir), before, "nothing was removed or created");
    // An empty directory is a new store.
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let store = NdjsonStore::open(&empty).unwrap();
    append_ids(&store, "s", &["e1"]).await;
}

#[tokio::test]
async fn only_annal_leftovers_are_removed_from_a_store() {
    let (_guard, dir) = store_dir();
    let store = NdjsonStore::open(&dir).unwrap();
    append_ids(&store, "s", &["e1"]).await;
    drop(store);
    let theirs = [
        "scratch.tmp",
        "snapshots/notes.tmp",
        "snapshots/README.txt",
        "projections/a b.json.tmp",
    ];
    let ours = [
        "index.json.tmp",
        "snapshots/s.json.tmp",
        "projections/p.json.tmp",
    ];
    for name in theirs.iter().chain(&ours) {
        write(&dir.join(name), "{}");
    }
    let store = NdjsonStore::open(&dir).unwrap();
    let mut removed: Vec<String> = store
        .recovery()
        .removed_temp_files
        .iter()
        .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    removed.sort();
    let mut expected = ours.map(str::to_owned).to_vec();
    expected.sort();
    assert_eq!(removed, expected);
    for name in theirs {
        assert!(dir.join(name).exists(), "{name} was kept");
    }
    assert_eq!(everything(&store).await.len(), 1);
}

#[tokio::test]
async fn stray_files_in_snapshots_do_not_block_and_damaged_ones_are_named() {
    let (_guard, dir) = store_dir();
    let store = NdjsonStore::open(&dir).unwrap();
    append_ids(&store, "s-a", &["a1"]).await;
    store.save_snapshot(snapshot_of("s-a", 1)).await.unwrap();
    drop(store);
    write(&dir.join("snapshots/README.txt"), "what these files are");
    write(&dir.join("projections/notes.md"), "# notes");
    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(store.stats(1).await.unwrap().snapshot_count, 1);
    assert!(store.load_snapshot(&stream("s-a")).await.unwrap().is_some());
    drop(store);
    write(&dir.join("snapshots/s-b.json"), "{\"aggregateId\":");
    let error = NdjsonStore::open(&dir).unwrap_err();
    match &error {
        OpenError::Corrupted { path, .. } => assert_eq!(path, &dir.join("snapshots/s-b.json")),
        other => panic!("expected Corrupted, got {other:?}"),
    }
    assert!(dir.join("snapshots/README.txt").exists());
}

#[tokio::test]
async fn names_that_differ_in_case_get_files_that_differ_ignoring_case() {
    let (_guard, dir) = store_dir();
    let store = NdjsonStore::open(&dir).unwrap();
    for name in ["Task", "task"] {
        append_ids(&store, name, &[&format!("{name}-1")]).await;
        store.save_snapshot(snapshot_of(name, 1)).await.unwrap();
    }
    let names: Vec<String> = files(&dir)
        .into_iter()
        .filter(|f| f.starts_with("snapshots/"))
        .map(|f| f.to_lowercase())
        .collect();
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1], "{names:?}");
}

#[tokio::test]
async fn format_version_1_file_names_are_renamed_by_a_writer_open() {
    let (_guard, dir) = store_dir();
    let store = NdjsonStore::open(&dir).unwrap();
    append_ids(&store, "Task", &["t1"]).await;
    store.save_snapshot(snapshot_of("Task", 1)).await.unwrap();
    let projection = ProjectionName::new("Board").unwrap();
    let saved = SavedProjection {
        checkpoint: annal_core::Position(1),
        state: json!({"n": 1}),
    };
    store.save_projection(&projection, &saved).await.unwrap();
    drop(store);
    // What format version 1 named them.
    std::fs::rename(
        dir.join("snapshots/%54ask.json"),
        dir.join("snapshots/Task.json"),
    )
    .unwrap();
    std::fs::rename(
        dir.join("projections/%42oard.json"),
        dir.join("projections/Board.json"),
    )
    .unwrap();
    let reader = NdjsonStore::open_read_only(&dir).unwrap();
    assert!(
        reader
            .load_snapshot(&stream("Task"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(reader.load_projection(&projection).await.unwrap().is_some());
    drop(reader);
    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(store.recovery().renamed_files.len(), 2);
    assert!(dir.join("snapshots/%54ask.json").exists());
    assert!(!dir.join("snapshots/Task.json").exists());
    assert_eq!(
        store
            .load_snapshot(&stream("Task"))
            .await
            .unwrap()
            .unwrap()
            .version
            .0,
        1
    );
    assert_eq!(
        store.load_projection(&projection).await.unwrap(),
        Some(saved)
    );
}

#[tokio::test]
async fn a_failed_delete_keeps_the_snapshot_that_protects_the_events() {
    let (_guard, dir) = store_dir();
    let store = NdjsonStore::open(&dir).unwrap();
    append_ids(&store, "s-a", &["a1", "a2"]).await;
    store.save_snapshot(snapshot_of("s-a", 2)).await.unwrap();
    // The compaction cannot create its file: it fails as a crash before its rename would.
    std::fs::create_dir(dir.join("events.ndjson.compact")).unwrap();
    store
        .delete_stream(&stream("s-a"), ExpectedVersion::Any)
        .await
        .unwrap_err();
    drop(store);
    std::fs::remove_dir(dir.join("events.ndjson.compact")).unwrap();
    let store = NdjsonStore::open(&dir).unwrap();
    assert_eq!(
        everything(&store).await.len(),
        2,
        "the events are still there"
    );
    assert!(
        store.load_snapshot(&stream("s-a")).await.unwrap().is_some(),
        "and so is their snapshot"
    );
}
