//! Store statistics recounted by SQL over the readable events (the maintained ones are in
//! `maintained_stats.rs`).
//!
//! Every count is over rows that exist, so truncated and deleted events are never counted (the
//! seed's single-row statistics were never even stepped).

use annal_core::{Position, ReadError, Stats, StreamCount, StreamId};
use rusqlite::Connection;

use crate::row::{from_sql, read_failed};

/// Counts over the readable events by counting the rows: what a store without the derived
/// index answers, and what `check_index` compares the maintained counts with.
pub(crate) fn recount(connection: &Connection, top_streams: usize) -> Result<Stats, ReadError> {
    // One read transaction (unless the caller's is open), so every count comes from the same
    // read snapshot even while the writer commits (separate statements would each see a different
    // head).
    let _read_snapshot = match connection.is_autocommit() {
        true => Some(connection.unchecked_transaction().map_err(failed)?),
        false => None,
    };
    let mut stats = Stats::default();
    log_extent(connection, &mut stats)?;
    stats.events_by_type = grouped_counts(
        connection,
        "SELECT t.name, c FROM (SELECT type_id, count(*) AS c FROM events GROUP BY type_id) g \
         JOIN types t ON t.id = g.type_id",
    )?
    .into_iter()
    .collect();
    stats.events_by_aggregate_type = grouped_counts(
        connection,
        "SELECT a.name, c FROM (SELECT aggregate_type_id, count(*) AS c FROM events \
         GROUP BY aggregate_type_id) g JOIN aggregate_types a ON a.id = g.aggregate_type_id",
    )?
    .into_iter()
    .collect();
    stats.stream_count = count(connection, "SELECT count(DISTINCT stream_id) FROM events")?;
    stats.top_streams = largest_streams(connection, top_streams)?;
    stats.snapshot_count = count(connection, "SELECT count(*) FROM snapshots")?;
    Ok(stats)
}

fn failed(source: rusqlite::Error) -> ReadError {
    read_failed("statistics", source)
}

/// Fills the event count and the oldest and newest timestamps and positions.
fn log_extent(connection: &Connection, stats: &mut Stats) -> Result<(), ReadError> {
    let (total, oldest, newest, first, last): (
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    ) = connection
        .query_row(
            "SELECT count(*), min(timestamp), max(timestamp), min(position), max(position) \
                 FROM events",
            [],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            },
        )
        .map_err(failed)?;
    stats.total_events = from_sql(total, "count", 0)?;
    stats.oldest_timestamp = oldest;
    stats.newest_timestamp = newest;
    stats.first_position = first
        .map(|p| from_sql(p, "position", p))
        .transpose()?
        .map(Position);
    stats.last_position = last
        .map(|p| from_sql(p, "position", p))
        .transpose()?
        .map(Position);
    Ok(())
}

/// The single count `sql` answers.
fn count(connection: &Connection, sql: &str) -> Result<u64, ReadError> {
    let count: i64 = connection
        .query_row(sql, [], |row| row.get(0))
        .map_err(failed)?;
    Ok(from_sql(count, "count", 0)?)
}

/// The (name, count) rows `sql` answers.
fn grouped_counts(connection: &Connection, sql: &str) -> Result<Vec<(String, u64)>, ReadError> {
    let mut statement = connection.prepare(sql).map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        let name: String = row.get(0).map_err(failed)?;
        let count: i64 = row.get(1).map_err(failed)?;
        out.push((name, from_sql(count, "count", 0)?));
    }
    Ok(out)
}

/// The `top_streams` streams with the most events, most first.
fn largest_streams(
    connection: &Connection,
    top_streams: usize,
) -> Result<Vec<StreamCount>, ReadError> {
    // Only the top rows leave SQLite: a store with millions of streams stays cheap to ask.
    // Ties order by name; SQLite's BINARY collation is byte order, like `StreamId`'s `Ord`.
    let limit = i64::try_from(top_streams).unwrap_or(i64::MAX);
    let mut statement = connection
        .prepare(
            "SELECT s.name, g.c FROM (SELECT stream_id, count(*) AS c FROM events \
             GROUP BY stream_id) g JOIN streams s ON s.id = g.stream_id \
             ORDER BY g.c DESC, s.name ASC LIMIT ?1",
        )
        .map_err(failed)?;
    let mut rows = statement.query([limit]).map_err(failed)?;
    let mut largest = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        let name: String = row.get(0).map_err(failed)?;
        let count: i64 = row.get(1).map_err(failed)?;
        let stream = StreamId::new(name).map_err(ReadError::InvalidName)?;
        largest.push(StreamCount {
            stream,
            events: from_sql(count, "count", 0)?,
        });
    }
    Ok(largest)
}
