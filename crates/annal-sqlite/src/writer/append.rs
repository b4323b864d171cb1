//! One append inside a group transaction: the expected-version check in memory, the inserts,
//! and the idempotent-retry check when an id is already stored.
//!
//! Invariant: an append that is refused leaves no row behind, so its neighbours in the group
//! commit unaffected. The common path does no id lookups: the `events_id` unique index rejects
//! a stored id during the insert, and only then are the batch's rows removed again (they are
//! the newest rows, so a range delete by position removes exactly them) and the ids looked up.

use annal_core::{
    AppendError, AppendResult, ExpectedVersion, Position, PreparedEvent, RetryCheck,
    StoredEventRef, StreamId, Version, check_retry,
};
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::row::to_sql;
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
    if !expected.accepts(Version(current)) {
        let wrong = AppendError::WrongExpectedVersion {
            stream: stream.clone(),
            expected,
            actual: Version(current),
        };
        return Ok(retry(connection, state, stream, expected, batch)?.unwrap_or(Err(wrong)));
    }
    let n_events = batch.len() as u64;
    // Counters are stored as SQLite integers, so a stream stops at i64::MAX.
    if current
        .checked_add(n_events)
        .is_none_or(|last| last > i64::MAX as u64)
    {
        return Ok(Err(AppendError::VersionOverflow {
            stream: stream.clone(),
        }));
    }
    let stream_id = state.stream_id(connection, stream)?;
    let first_position = state.last_position + 1;
    let mut insert = connection.prepare_cached(
        "INSERT INTO events (position, stream_id, version, type_id, aggregate_type_id, \
         timestamp, id, source, payload, metadata, causation_id, correlation_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    for (event_idx, event) in batch.iter().enumerate() {
        let type_id = state.type_id(connection, &event.event_type)?;
        let aggregate_type_id = state.aggregate_type_id(connection, &event.aggregate_type)?;
        let offset = event_idx as u64;
        let inserted = insert.execute(params![
            to_sql(first_position + offset),
            stream_id,
            to_sql(current + 1 + offset),
            type_id,
            aggregate_type_id,
            event.timestamp,
            event.id.as_str(),
            event.source,
            event.payload_json,
            event.metadata_json,
            event.causation_id,
            event.correlation_id,
        ]);
        match inserted {
            Ok(_) => {}
            Err(error) if error.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                if event_idx > 0 {
                    connection
                        .prepare_cached("DELETE FROM events WHERE position BETWEEN ?1 AND ?2")?
                        .execute(params![
                            to_sql(first_position),
                            to_sql(first_position + offset - 1)
                        ])?;
                }
                // Only a stored id can violate a constraint here; anything else means the
                // writer's counters disagree with the file, and the group must fail.
                return match retry(connection, state, stream, expected, batch)? {
                    Some(outcome) => Ok(outcome),
                    None => Err(error),
                };
            }
            Err(error) => return Err(error),
        }
    }
    state.last_position += n_events;
    state.set_version(stream, current + n_events);
    Ok(Ok(AppendResult {
        first_position: Position(first_position),
        last_position: Position(state.last_position),
        stream_version: Version(current + n_events),
    }))
}

/// Decides a batch that cannot be appended as new: a retry of a stored batch answers with the
/// original result, a reused id is a duplicate, and `None` means no id of the batch is stored.
fn retry(
    connection: &Connection,
    state: &WriterState,
    stream: &StreamId,
    expected: ExpectedVersion,
    batch: &[PreparedEvent],
) -> rusqlite::Result<Option<Result<AppendResult, AppendError>>> {
    let mut lookup = connection.prepare_cached(
        "SELECT e.position, e.version, s.name FROM events e JOIN streams s ON s.id = e.stream_id \
         WHERE e.id = ?1",
    )?;
    let mut failure = None;
    let current = Version(state.version(stream));
    let verdict = check_retry(stream, expected, current, batch, |id| {
        let row = lookup
            .query_row([id.as_str()], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .optional();
        match row {
            Ok(Some((position, version, name))) => Some(StoredEventRef {
                stream: StreamId::new(name).ok()?,
                version: Version(u64::try_from(version).ok()?),
                position: Position(u64::try_from(position).ok()?),
            }),
            Ok(None) => None,
            Err(error) => {
                failure.get_or_insert(error);
                None
            }
        }
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
