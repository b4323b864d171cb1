// Goal: a failed write poisons the store: the failing group's callers get an error, later writes
// are refused with Poisoned, reads still work, and a reopen finds exactly what was acknowledged.
// Method: cap the file size so a commit fails for real (SQLITE_FULL), the same path a full disk
// takes.

use annal_core::{AppendError, EventType, ExpectedVersion, NewEvent, StorageError, Store};
use annal_sqlite::{OpenOptions, SqliteStore};
use serde_json::json;

use crate::support::{append_one, everything, stream};

#[tokio::test]
async fn failed_write_poisons_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let store =
        SqliteStore::open_with(&path, OpenOptions::new().max_size_bytes(256 * 1024)).unwrap();
    let big = "x".repeat(16 * 1024);
    let mut acknowledged = 0;
    let failure = loop {
        let event = NewEvent::new(
            EventType::new("agent:step").unwrap(),
            json!({ "blob": big }),
        );
        match store
            .append(&stream("agent-1"), ExpectedVersion::Any, vec![event])
            .await
        {
            Ok(_) => acknowledged += 1,
            Err(error) => break error,
        }
        assert!(acknowledged < 1000, "the size cap never bit");
    };
    assert!(
        matches!(failure, AppendError::Storage(StorageError::Backend { .. })),
        "{failure}"
    );
    assert!(failure.to_string().contains("poisoned"), "{failure}");
    let event = NewEvent::new(EventType::new("agent:step").unwrap(), json!({}));
    let refused = store
        .append(&stream("agent-2"), ExpectedVersion::Any, vec![event])
        .await;
    assert!(
        matches!(
            refused,
            Err(AppendError::Storage(StorageError::Poisoned { .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(
        everything(&store).await.len(),
        acknowledged,
        "reads still work"
    );
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    let events = everything(&store).await;
    assert_eq!(events.len(), acknowledged);
    let positions: Vec<u64> = events.iter().map(|e| e.position.0).collect();
    assert_eq!(positions, (1..=acknowledged as u64).collect::<Vec<_>>());
    let next = append_one(&store, "agent-1", 0).await;
    assert_eq!(next.first_position.0, acknowledged as u64 + 1);
}
