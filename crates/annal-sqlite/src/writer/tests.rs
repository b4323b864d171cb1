//! Tests of the writer's group commit that need to reach inside it: a WAL sync that fails after
//! `COMMIT` in relaxed mode, the bytes a batch appended in parts counts towards the next
//! WAL copy, a WAL that starts over under steady appends, a write lock held by another
//! connection (refused, not poisoned), and an id-hash collision (a lookup, not a wrong answer).
//!
//! Goal: a failed sync fails only the flushes that asked for it and poisons the store, while the
//! appends of the same group, whose rows are in the database, are answered with success.
//! Method: build a writer on a real file, inject the sync failure for that file's path, and run
//! one group holding an append and a flush.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use annal_core::backend::prepare_batch;
use annal_core::{EventType, ExpectedVersion, Limits, NewEvent, Position, StorageError, StreamId};
use serde_json::json;
use tokio::sync::{oneshot, watch};

use annal_core::backend::Poisoned;

use super::{Command, MoreParts, SqliteAppend, WalCopier, Writer, WriterState};
use crate::connection::open_writer;
use crate::options::{Durability, OpenOptions};
use crate::schema;

/// Paths whose WAL sync fails (a list, so tests running in parallel do not disturb each other).
static FAILING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Whether the writer of `path` must fail its WAL sync.
pub(super) fn fails_wal_sync(path: &Path) -> bool {
    FAILING
        .lock()
        .map(|paths| paths.iter().any(|p| p == path))
        .unwrap_or(false)
}

fn writer(path: &Path) -> Writer {
    writer_with(path, Durability::Relaxed)
}

fn writer_with(path: &Path, durability: Durability) -> Writer {
    let options = OpenOptions::new().durability(durability);
    let mut connection = open_writer(path, &options).unwrap();
    schema::migrate(&mut connection, path).unwrap();
    let state = WriterState::load(&connection).unwrap();
    let (head, _) = watch::channel(Position::START);
    Writer {
        connection,
        state,
        path: path.to_path_buf(),
        durability,
        head,
        poisoned: Poisoned::default(),
        wal_copier: None,
        bytes_since_wal_copy: 0,
        wal_copy_after_bytes: super::WAL_COPY_AFTER_BYTES,
    }
}

#[test]
fn a_failed_sync_after_commit_fails_only_the_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relaxed.db");
    let mut writer = writer(&path);
    FAILING.lock().unwrap().push(path.clone());

    let event = NewEvent::new(EventType::new("agent:step").unwrap(), json!({"n": 1}));
    let batch = prepare_batch(vec![event], &Limits::default(), 0).unwrap();
    let (append_reply, append_answer) = oneshot::channel();
    let (flush_reply, flush_answer) = oneshot::channel();
    let mut group = vec![
        Command::Append(SqliteAppend {
            stream: StreamId::new("agent-1").unwrap(),
            expected: ExpectedVersion::Any,
            batch,
            more: None,
            reply: append_reply,
        }),
        Command::Flush { reply: flush_reply },
    ];
    writer.commit_group(&mut group);

    let appended = append_answer.blocking_recv().unwrap();
    assert_eq!(appended.result.unwrap().last_position, Position(1));
    let flushed = flush_answer.blocking_recv().unwrap();
    assert!(
        matches!(&flushed, Err(StorageError::Backend { .. })),
        "{flushed:?}"
    );
    assert!(
        writer.poisoned.is_poisoned(),
        "a failed sync poisons the store"
    );
    let stored: i64 = writer
        .connection
        .query_row("SELECT count(*) FROM events", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, 1, "the acknowledged append is in the database");
}

#[test]
fn a_batch_appended_in_parts_counts_every_part_towards_the_next_wal_copy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parts.db");
    let mut writer = writer(&path);
    let text = "x".repeat(1_000);
    let events: Vec<NewEvent> = (0..1_000)
        .map(|n| {
            NewEvent::new(
                EventType::new("agent:step").unwrap(),
                json!({"n": n, "text": text}),
            )
        })
        .collect();
    let batch = prepare_batch(events, &Limits::default(), 0).unwrap();
    let payload_bytes: usize = batch.iter().map(|event| event.payload_json.len()).sum();
    let mut parts = batch.chunks(128).map(<[_]>::to_vec);
    let first = parts.next().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    parts.for_each(|part| sender.send(part).unwrap());
    drop(sender);
    let (reply, answer) = oneshot::channel();
    let mut group = vec![Command::Append(SqliteAppend {
        stream: StreamId::new("agent-1").unwrap(),
        expected: ExpectedVersion::Any,
        batch: first,
        more: Some(MoreParts {
            total: 1_000,
            parts: receiver,
        }),
        reply,
    })];
    writer.commit_group(&mut group);

    let appended = answer.blocking_recv().unwrap().result.unwrap();
    assert_eq!(appended.last_position, Position(1_000));
    assert!(
        writer.bytes_since_wal_copy >= payload_bytes as u64,
        "{} bytes counted for {payload_bytes} bytes of payload",
        writer.bytes_since_wal_copy
    );
}

#[test]
fn under_steady_appends_the_wal_starts_over_instead_of_growing() {
    // Groups arrive back to back, as under load, so the WAL copier never finds the WAL idle:
    // only the writer's own finishing copy lets it start over.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("steady.db");
    let mut writer = writer_with(&path, Durability::Durable);
    writer.wal_copier = Some(WalCopier::start(&path, Durability::Durable).unwrap());
    writer.wal_copy_after_bytes = 256 * 1024;
    let text = "x".repeat(1_000);
    let groups: Vec<_> = (0..60)
        .map(|group| {
            let events: Vec<NewEvent> = (0..200)
                .map(|n| {
                    NewEvent::new(
                        EventType::new("agent:step").unwrap(),
                        json!({"group": group, "n": n, "text": text}),
                    )
                })
                .collect();
            prepare_batch(events, &Limits::default(), 0).unwrap()
        })
        .collect();
    let mut appended_bytes = 0u64;
    let mut answers = Vec::new();
    for batch in groups {
        appended_bytes += batch
            .iter()
            .map(|e| e.payload_json.len() as u64)
            .sum::<u64>();
        let (reply, answer) = oneshot::channel();
        writer.commit_group(&mut vec![Command::Append(SqliteAppend {
            stream: StreamId::new("agent-1").unwrap(),
            expected: ExpectedVersion::Any,
            batch,
            more: None,
            reply,
        })]);
        answers.push(answer);
    }
    for answer in answers {
        answer.blocking_recv().unwrap().result.unwrap();
    }
    let wal_bytes = std::fs::metadata(dir.path().join("steady.db-wal"))
        .unwrap()
        .len();
    assert!(
        wal_bytes < appended_bytes / 3,
        "the WAL holds {wal_bytes} bytes after {appended_bytes} bytes of payload were appended"
    );
    writer.wal_copier.take().unwrap().stop();
}

/// Runs one group of one append of an event with `id` to `stream`; returns the answer.
fn append_with_id(
    writer: &mut Writer,
    stream: &str,
    id: &str,
) -> Result<annal_core::AppendResult, annal_core::AppendError> {
    let event = NewEvent::new(EventType::new("agent:step").unwrap(), json!({}))
        .with_id(annal_core::EventId::new(id).unwrap());
    let batch = prepare_batch(vec![event], &Limits::default(), 0).unwrap();
    let (reply, answer) = oneshot::channel();
    let mut group = vec![Command::Append(SqliteAppend {
        stream: StreamId::new(stream).unwrap(),
        expected: ExpectedVersion::Any,
        batch,
        more: None,
        reply,
    })];
    writer.commit_group(&mut group);
    answer.blocking_recv().unwrap().result
}

#[test]
fn a_write_lock_held_elsewhere_refuses_the_group_without_poisoning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let mut writer = writer_with(&path, Durability::Durable);
    writer
        .connection
        .busy_timeout(std::time::Duration::from_millis(50))
        .unwrap();
    // A sqlite3 shell that began a write and went to lunch.
    let shell = rusqlite::Connection::open(&path).unwrap();
    shell.execute_batch("BEGIN IMMEDIATE").unwrap();
    let refused = append_with_id(&mut writer, "agent-1", "evt-1").unwrap_err();
    assert!(
        refused.to_string().contains("locked by another connection"),
        "{refused}"
    );
    assert!(
        !writer.poisoned.is_poisoned(),
        "a busy database poisons nothing"
    );
    shell.execute_batch("ROLLBACK").unwrap();
    let appended = append_with_id(&mut writer, "agent-1", "evt-1").unwrap();
    assert_eq!(appended.first_position, Position(1));
}

#[test]
fn an_id_hash_collision_costs_a_lookup_never_a_wrong_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collision.db");
    let mut writer = writer_with(&path, Durability::Durable);
    let first = append_with_id(&mut writer, "agent-1", "evt-a").unwrap();
    // Make "evt-b" collide with the stored "evt-a": its hash now points at position 1.
    let hash_b = writer.state.hasher().hash("evt-b");
    writer
        .state
        .ids(&writer.connection)
        .unwrap()
        .insert(hash_b, 1);
    let second = append_with_id(&mut writer, "agent-2", "evt-b").unwrap();
    assert_eq!(second.first_position, Position(2), "a new id is appended");
    let retried = append_with_id(&mut writer, "agent-1", "evt-a").unwrap();
    assert_eq!(
        retried, first,
        "a retry still answers with the stored result"
    );
    let reused = append_with_id(&mut writer, "agent-3", "evt-b").unwrap_err();
    assert!(
        matches!(reused, annal_core::AppendError::DuplicateEventId { .. }),
        "{reused:?}"
    );
}
