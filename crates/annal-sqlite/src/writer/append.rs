//! One append inside a group transaction: the expected-version check and the duplicate-id
//! check in memory, then the inserts.
//!
//! Invariant: an append that is refused writes no row, so its neighbours in the group commit
//! unaffected. Everything that can refuse an append is decided before its first insert; an
//! insert that fails afterwards is a database failure, which fails the whole group.

use annal_core::{
    AggregateType, AppendError, AppendResult, EventType, ExpectedVersion, Position, PreparedEvent,
    RetryCheck, StoredEventRef, StreamId, Version, check_retry,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::row::to_sql;
use crate::writer::ids::id_hash;
use crate::writer::state::WriterState;

/// The outcome of one append: `Err` of the outer result is a database failure that dooms the
/// whole group; the inner result is the caller's answer.
pub(crate) type Outcome = rusqlite::Result<Result<AppendResult, AppendError>>;

/// Appends `batch` to `stream` inside the writer's open transaction.
pub(crate) fn append(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    expected: ExpectedVersion,
    batch: &[PreparedEvent],
) -> Outcome {
    let current = state.version(stream);
    let hashes = id_hashes(batch);
    let maybe_stored = maybe_stored(connection, state, &hashes)?;
    // The same order as the reference backend: a retry of a stored batch wins over the
    // expected-version check, which wins over everything else.
    if maybe_stored && let Some(outcome) = retry(connection, state, stream, expected, batch)? {
        return Ok(outcome);
    }
    if !expected.accepts(Version(current)) {
        return Ok(Err(AppendError::WrongExpectedVersion {
            stream: stream.clone(),
            expected,
            actual: Version(current),
        }));
    }
    let n_events = batch.len() as u64;
    if overflows(current, n_events) {
        return Ok(Err(AppendError::VersionOverflow {
            stream: stream.clone(),
        }));
    }
    let stream_id = state.stream_id(connection, stream)?;
    let first_position = state.last_position + 1;
    insert_rows(
        connection,
        state,
        stream_id,
        first_position,
        current + 1,
        batch,
    )?;
    record_appended(connection, state, stream, current, &hashes).map(Ok)
}

/// Records in the writer's state a batch just inserted after the last position: its ids (by
/// `hashes`, in order), the new last position, and the stream's new version after `current`.
pub(crate) fn record_appended(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    current: u64,
    hashes: &[u64],
) -> rusqlite::Result<AppendResult> {
    let first_position = state.last_position + 1;
    let n_events = hashes.len() as u64;
    let ids = state.ids(connection)?;
    for (offset, hash) in hashes.iter().enumerate() {
        ids.insert(*hash, first_position + offset as u64);
    }
    state.last_position += n_events;
    state.set_version(stream, current + n_events);
    Ok(AppendResult {
        first_position: Position(first_position),
        last_position: Position(state.last_position),
        stream_version: Version(current + n_events),
    })
}

/// The index keys of the batch's ids.
pub(crate) fn id_hashes(batch: &[PreparedEvent]) -> Vec<u64> {
    batch
        .iter()
        .map(|event| id_hash(event.id.as_str()))
        .collect()
}

/// Whether some stored id may have one of these hashes (then the batch may be a retry).
pub(crate) fn maybe_stored(
    connection: &Connection,
    state: &mut WriterState,
    hashes: &[u64],
) -> rusqlite::Result<bool> {
    let ids = state.ids(connection)?;
    for hash in hashes {
        if ids.contains(connection, *hash)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `n_events` more would take a stream at `current` past the largest version: counters
/// are stored as SQLite integers, so a stream stops at `i64::MAX`.
pub(crate) fn overflows(current: u64, n_events: u64) -> bool {
    current
        .checked_add(n_events)
        .is_none_or(|last| last > i64::MAX as u64)
}

/// Inserts `batch` as the rows of stream `stream_id` from `first_position` and `first_version`
/// on. Decides nothing: every check has passed.
pub(crate) fn insert_rows(
    connection: &Connection,
    state: &mut WriterState,
    stream_id: i64,
    first_position: u64,
    first_version: u64,
    batch: &[PreparedEvent],
) -> rusqlite::Result<()> {
    let mut insert = connection.prepare_cached(
        "INSERT INTO events (position, stream_id, version, type_id, aggregate_type_id, \
         timestamp, id, source, payload, metadata, causation_id, correlation_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    // Batches are mostly one type and one aggregate type: look a name up only when it changes.
    let mut last_type: Option<(&EventType, i64)> = None;
    let mut last_aggregate_type: Option<(&AggregateType, i64)> = None;
    for (event_idx, event) in batch.iter().enumerate() {
        let type_id = match last_type {
            Some((name, id)) if *name == event.event_type => id,
            _ => {
                let id = state.type_id(connection, &event.event_type)?;
                last_type = Some((&event.event_type, id));
                id
            }
        };
        let aggregate_type_id = match last_aggregate_type {
            Some((name, id)) if *name == event.aggregate_type => id,
            _ => {
                let id = state.aggregate_type_id(connection, &event.aggregate_type)?;
                last_aggregate_type = Some((&event.aggregate_type, id));
                id
            }
        };
        let offset = event_idx as u64;
        insert.execute(params![
            to_sql(first_position + offset),
            stream_id,
            to_sql(first_version + offset),
            type_id,
            aggregate_type_id,
            event.timestamp,
            event.id.as_str(),
            event.source,
            event.payload_json,
            event.metadata_json,
            event.causation_id,
            event.correlation_id,
        ])?;
    }
    Ok(())
}

/// Decides a batch some of whose ids may be stored: a retry of a stored batch answers with the
/// original result, a reused id is a duplicate, and `None` means no id of the batch is stored
/// (the hash hits were collisions).
fn retry(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    expected: ExpectedVersion,
    batch: &[PreparedEvent],
) -> rusqlite::Result<Option<Result<AppendResult, AppendError>>> {
    let current = Version(state.version(stream));
    let ids = state.ids(connection)?;
    let mut row_at = connection.prepare_cached(
        "SELECT e.id, e.version, s.name FROM events e JOIN streams s ON s.id = e.stream_id \
         WHERE e.position = ?1",
    )?;
    let mut failure = None;
    let verdict = check_retry(stream, expected, current, batch, |id| {
        let candidates = match ids.candidates(connection, id_hash(id.as_str())) {
            Ok(candidates) => candidates,
            Err(error) => {
                failure.get_or_insert(error);
                return None;
            }
        };
        for position in candidates {
            let row = row_at
                .query_row([to_sql(position)], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })
                .optional();
            match row {
                Ok(Some((stored_id, version, name))) if stored_id == id.as_str() => {
                    return Some(StoredEventRef {
                        stream: StreamId::new(name).ok()?,
                        version: Version(u64::try_from(version).ok()?),
                        position: Position(position),
                    });
                }
                Ok(_) => {}
                Err(error) => {
                    failure.get_or_insert(error);
                    return None;
                }
            }
        }
        None
    });
    if let Some(error) = failure {
        return Err(error);
    }
    Ok(match verdict {
        Ok(RetryCheck::AlreadyAppended(result)) => Some(Ok(result)),
        Ok(RetryCheck::New) => None,
        Err(error) => Some(Err(error)),
    })
}
