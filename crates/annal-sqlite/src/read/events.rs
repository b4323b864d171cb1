//! Page reads of events: one stream by version, and the whole log by position.
//!
//! Stream reads use the `events_stream (stream_id, version)` index; log reads walk the rowid
//! (position) order. Each page is one statement with a `LIMIT`.

use annal_core::{Direction, Position, ReadError, RecordedEvent, StreamId, Version};
use rusqlite::{Connection, params};

use super::Names;
use crate::row::{EVENT_COLUMNS, EVENT_FROM, decode, read_failed, to_sql};

/// Up to `page` events of `stream`: forward from `bound` (inclusive), or backward down from it.
pub(crate) fn stream_page(
    connection: &Connection,
    names: &mut Names,
    stream: &StreamId,
    direction: Direction,
    bound: Version,
    page: usize,
) -> Result<Vec<RecordedEvent>, ReadError> {
    let (comparison, order) = match direction {
        Direction::Forward => (">=", "ASC"),
        Direction::Backward => ("<=", "DESC"),
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} \
         WHERE e.stream_id = (SELECT id FROM streams WHERE name = ?1) AND e.version {comparison} ?2 \
         ORDER BY e.version {order} LIMIT ?3"
    );
    let failed = |source| read_failed("a stream", source);
    let mut statement = connection.prepare_cached(&sql).map_err(failed)?;
    let mut rows = statement
        .query(params![
            stream.as_str(),
            to_sql(bound.0),
            to_sql(page as u64)
        ])
        .map_err(failed)?;
    let mut events = Vec::with_capacity(page.min(64));
    while let Some(row) = rows.next().map_err(failed)? {
        events.push(decode(row, connection, names)?);
    }
    Ok(events)
}

/// Up to `page` events at or after `from`, in position order.
pub(crate) fn all_page(
    connection: &Connection,
    names: &mut Names,
    from: Position,
    page: usize,
) -> Result<Vec<RecordedEvent>, ReadError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE e.position >= ?1 \
         ORDER BY e.position LIMIT ?2"
    );
    let failed = |source| read_failed("the log", source);
    let mut statement = connection.prepare_cached(&sql).map_err(failed)?;
    let mut rows = statement
        .query(params![to_sql(from.0), to_sql(page as u64)])
        .map_err(failed)?;
    let mut events = Vec::with_capacity(page.min(64));
    while let Some(row) = rows.next().map_err(failed)? {
        events.push(decode(row, connection, names)?);
    }
    Ok(events)
}
