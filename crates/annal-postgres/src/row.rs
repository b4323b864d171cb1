//! Turning stored rows back into annal types, and annal's unsigned counters into PostgreSQL's
//! signed `BIGINT`.
//!
//! Invariant: a row that does not decode is reported as [`StorageError::Corrupted`] naming
//! its position, never a panic: the bytes came from the database, not from annal's own code.

use annal_core::{
    AggregateType, EventId, EventType, Position, RawObject, ReadError, RecordedEvent, StorageError,
    StreamId, Version,
};
use tokio_postgres::Row;

/// The select list of an event read, over `e` (an events row) and its joined names.
macro_rules! event_select {
    () => {
        "e.position, e.id, t.name, s.name, a.name, e.version, e.timestamp, e.source, e.payload, \
         e.metadata, e.causation_id, e.correlation_id"
    };
}

/// The joins that name an events row `e`'s stream, type and aggregate type.
macro_rules! event_joins {
    () => {
        " JOIN streams s ON s.id = e.stream_id \
         JOIN types t ON t.id = e.type_id \
         JOIN aggregate_types a ON a.id = e.aggregate_type_id"
    };
}

/// The columns every event read selects, in the order [`event`] decodes them.
pub(crate) const EVENT_COLUMNS: &str = concat!(event_select!(), " FROM events e", event_joins!());

/// The select list of [`EVENT_COLUMNS`] alone, for a read that selects more after it.
pub(crate) const EVENT_SELECT: &str = event_select!();

/// The columns of [`EVENT_COLUMNS`] over an events subquery, which follows as `e`.
pub(crate) const EVENT_COLUMNS_OF: &str = concat!(event_select!(), " FROM ");

/// The joins that follow [`EVENT_COLUMNS_OF`]'s subquery.
pub(crate) const EVENT_JOINS: &str = event_joins!();

/// A counter as a `BIGINT`. Counters start at 0 and grow by one per event, so they cannot
/// reach `i64::MAX` in practice; saturating keeps a bogus caller value (a read from
/// `u64::MAX`) meaning "everything".
pub(crate) fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored counter as annal's unsigned type; a negative value is damage.
pub(crate) fn from_sql(value: i64, location: impl Fn() -> String) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::Corrupted {
        location: location(),
        reason: format!("negative counter {value}"),
    })
}

/// Decodes a row selected with [`EVENT_COLUMNS`].
pub(crate) fn event(row: &Row) -> Result<RecordedEvent, ReadError> {
    let position: i64 = row.get(0);
    let location = || format!("events row at position {position}");
    let json = |index: usize| -> Result<RawObject, ReadError> {
        let text: &str = row.get(index);
        RawObject::from_json(text.to_owned()).map_err(|error| {
            ReadError::Storage(StorageError::Corrupted {
                location: location(),
                reason: format!("column {index}: {error}"),
            })
        })
    };
    Ok(RecordedEvent {
        position: Position(from_sql(position, location)?),
        id: EventId::new(row.get::<_, String>(1))?,
        event_type: EventType::new(row.get::<_, String>(2))?,
        aggregate_id: StreamId::new(row.get::<_, String>(3))?,
        aggregate_type: AggregateType::new(row.get::<_, String>(4))?,
        version: Version(from_sql(row.get(5), location)?),
        timestamp: row.get(6),
        source: row.get(7),
        payload: json(8)?,
        metadata: json(9)?,
        causation_id: row.get(10),
        correlation_id: row.get(11),
    })
}
