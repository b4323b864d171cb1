//! Page reads of events: one stream by version, and the whole log by position.
//!
//! Stream reads use the `events_stream (stream_id, version)` index; log reads walk the rowid
//! (position) order. A stream page is one statement with a `LIMIT`; a log page is a range of
//! positions, so that several can be read at once ([`super::read_ranges`]).

use annal_core::{Direction, Position, ReadError, RecordedEvent, StreamId, Version};
use rusqlite::types::Value;
use rusqlite::{Connection, params};

use super::Names;
use super::ranges::RangePage;
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

/// The events at positions `first..=last`, and where a read of the log goes on after them.
/// The log's last position is read before the range: see [`super::read_ranges`] for why.
pub(crate) fn range_page(
    connection: &Connection,
    names: &mut Names,
    first: Position,
    last: Position,
) -> Result<RangePage, ReadError> {
    range_page_where(connection, names, first, last, None, &[])
}

/// The events at positions `first..=last` that meet `condition` (SQL over `events e`, with
/// `values` as its parameters; all of them without one), and where a read of the log goes on
/// after the range.
pub(crate) fn range_page_where(
    connection: &Connection,
    names: &mut Names,
    first: Position,
    last: Position,
    condition: Option<&str>,
    values: &[Value],
) -> Result<RangePage, ReadError> {
    let failed = |source| read_failed("the log", source);
    let log_end: i64 = connection
        .prepare_cached("SELECT coalesce(max(position), 0) FROM events")
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(failed)?;
    let also = condition.map_or(String::new(), |condition| format!("AND ({condition})"));
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE e.position BETWEEN ? AND ? {also} \
         ORDER BY e.position"
    );
    let mut statement = connection.prepare_cached(&sql).map_err(failed)?;
    let bounds = [
        Value::Integer(to_sql(first.0)),
        Value::Integer(to_sql(last.0)),
    ];
    let mut rows = statement
        .query(rusqlite::params_from_iter(bounds.iter().chain(values)))
        .map_err(failed)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        events.push(decode(row, connection, names)?);
    }
    let next = if log_end <= to_sql(last.0) {
        None
    } else if events.is_empty() {
        // Removed events, or none that meet the condition: continue at the first stored
        // position after the range.
        let after: Option<i64> = connection
            .prepare_cached("SELECT min(position) FROM events WHERE position > ?1")
            .and_then(|mut statement| statement.query_row([to_sql(last.0)], |row| row.get(0)))
            .map_err(failed)?;
        after
            .and_then(|position| u64::try_from(position).ok())
            .map(Position)
    } else {
        Some(last.next())
    };
    Ok(RangePage { events, next })
}
