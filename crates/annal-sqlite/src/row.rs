//! Turning stored rows back into [`RecordedEvent`]s, and the integer conversions between annal's
//! `u64` counters and SQLite's `i64` columns.
//!
//! Bytes from disk are never trusted: a negative counter, a name that fails validation or JSON
//! that does not parse becomes [`StorageError::Corrupted`], never a panic.

use annal_core::{
    AggregateType, EventId, EventType, Position, ReadError, RecordedEvent, StorageError, StreamId,
    Version,
};
use rusqlite::Row;

/// The columns every event read selects, in the order [`decode`] expects.
pub(crate) const EVENT_COLUMNS: &str = "e.position, e.version, e.timestamp, e.id, e.source, \
     e.payload, e.metadata, e.causation_id, e.correlation_id, s.name, t.name, a.name";

/// The join that resolves an event row's dictionary-coded names.
pub(crate) const EVENT_FROM: &str = "events e \
     JOIN streams s ON s.id = e.stream_id \
     JOIN types t ON t.id = e.type_id \
     JOIN aggregate_types a ON a.id = e.aggregate_type_id";

/// A `u64` counter as stored; counters never exceed `i64::MAX` (the writer refuses to grow a
/// stream past it), so saturating only affects bounds given by callers.
pub(crate) fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored counter; negative values mean the file was damaged or written by something else.
pub(crate) fn from_sql(value: i64, what: &str, position: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| corrupted(position, format!("negative {what} {value}")))
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

/// Decodes one row selected with [`EVENT_COLUMNS`].
pub(crate) fn decode(row: &Row<'_>) -> Result<RecordedEvent, ReadError> {
    let column = |source| read_failed("an event row", source);
    let position: i64 = row.get(0).map_err(column)?;
    let name_error = |field: &str, error: annal_core::InvalidName| {
        ReadError::Storage(corrupted(position, format!("{field}: {error}")))
    };
    let json = |index: usize, field: &str| -> Result<serde_json::Value, ReadError> {
        let text: String = row.get(index).map_err(column)?;
        serde_json::from_str(&text)
            .map_err(|error| ReadError::Storage(corrupted(position, format!("{field}: {error}"))))
    };
    Ok(RecordedEvent {
        position: Position(from_sql(position, "position", position)?),
        version: Version(from_sql(row.get(1).map_err(column)?, "version", position)?),
        timestamp: row.get(2).map_err(column)?,
        id: EventId::new(row.get::<_, String>(3).map_err(column)?)
            .map_err(|e| name_error("id", e))?,
        source: row.get(4).map_err(column)?,
        payload: json(5, "payload")?,
        metadata: json(6, "metadata")?,
        causation_id: row.get(7).map_err(column)?,
        correlation_id: row.get(8).map_err(column)?,
        aggregate_id: StreamId::new(row.get::<_, String>(9).map_err(column)?)
            .map_err(|e| name_error("stream", e))?,
        event_type: EventType::new(row.get::<_, String>(10).map_err(column)?)
            .map_err(|e| name_error("type", e))?,
        aggregate_type: AggregateType::new(row.get::<_, String>(11).map_err(column)?)
            .map_err(|e| name_error("aggregate type", e))?,
    })
}
