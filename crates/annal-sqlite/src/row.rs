//! Turning stored rows back into [`RecordedEvent`]s, and the integer conversions between annal's
//! `u64` counters and SQLite's `i64` columns.
//!
//! Bytes from disk are never trusted: a negative counter, a name that fails validation, JSON
//! that does not parse or is not an object becomes [`StorageError::Corrupted`], never a panic.
//! Rows carry dictionary ids, resolved through the connection's [`Names`] instead of a join.

use annal_core::{EventId, Position, RawObject, ReadError, RecordedEvent, StorageError, Version};
use rusqlite::{Connection, Row};

use crate::read::Names;

/// The columns every event read selects, in the order [`decode`] expects.
pub(crate) const EVENT_COLUMNS: &str = "e.position, e.version, e.timestamp, e.id, e.source, \
     e.payload, e.metadata, e.causation_id, e.correlation_id, e.stream_id, e.type_id, \
     e.aggregate_type_id";

/// The table event reads select from.
pub(crate) const EVENT_FROM: &str = "events e";

/// A `u64` counter as stored; counters never exceed `i64::MAX` (the writer refuses to grow a
/// stream past it), so saturating only affects bounds given by callers.
pub(crate) fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored counter; negative values mean the file was damaged or written by something else.
pub(crate) fn from_sql(value: i64, what: &str, position: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| corrupted(position, format!("negative {what} {value}")))
}

/// A stored counter outside an event row (a stream's version, a meta value, a maintained count),
/// named by `location` (table and row, or meta key); a negative one means the file was damaged.
pub(crate) fn stored_counter(
    value: i64,
    location: impl FnOnce() -> String,
) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::Corrupted {
        location: location(),
        reason: format!("negative counter {value}"),
    })
}

fn corrupted(position: i64, reason: String) -> StorageError {
    StorageError::Corrupted {
        location: format!("events row at position {position}"),
        reason,
    }
}

/// A SQLite failure during a read.
pub(crate) fn read_failed(context: &str, source: rusqlite::Error) -> ReadError {
    let context = format!("reading {context}");
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            ReadError::Storage(StorageError::Corrupted {
                location: context,
                reason: source.to_string(),
            })
        }
        _ => ReadError::Storage(StorageError::backend(context, source)),
    }
}

/// Decodes one row selected with [`EVENT_COLUMNS`], resolving its names through `names`.
pub(crate) fn decode(
    row: &Row<'_>,
    connection: &Connection,
    names: &mut Names,
) -> Result<RecordedEvent, ReadError> {
    let column = |source| read_failed("an event row", source);
    let position: i64 = row.get(0).map_err(column)?;
    let json = |index: usize, field: &str| -> Result<RawObject, ReadError> {
        let text: String = row.get(index).map_err(column)?;
        RawObject::from_json(text)
            .map_err(|error| ReadError::Storage(corrupted(position, format!("{field}: {error}"))))
    };
    // Borrowed text, for the fields that copy it once into their own representation.
    let text = |index: usize| -> Result<&str, ReadError> {
        row.get_ref(index)
            .and_then(|value| value.as_str().map_err(rusqlite::Error::from))
            .map_err(column)
    };
    Ok(RecordedEvent {
        position: Position(from_sql(position, "position", position)?),
        version: Version(from_sql(row.get(1).map_err(column)?, "version", position)?),
        timestamp: row.get(2).map_err(column)?,
        id: EventId::try_from(text(3)?)
            .map_err(|e| ReadError::Storage(corrupted(position, format!("id: {e}"))))?,
        source: row.get(4).map_err(column)?,
        payload: json(5, "payload")?,
        metadata: json(6, "metadata")?,
        causation_id: row.get(7).map_err(column)?,
        correlation_id: row.get(8).map_err(column)?,
        aggregate_id: names.stream(connection, row.get(9).map_err(column)?)?,
        event_type: names.event_type(connection, row.get(10).map_err(column)?)?,
        aggregate_type: names.aggregate_type(connection, row.get(11).map_err(column)?)?,
    })
}
