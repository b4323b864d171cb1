//! Store statistics from the derived index's maintained counts (`derived.rs`), plus a count of
//! the events above its watermark: a cost in the number of types, aggregate types and streams
//! shown, and of the unindexed tail, whatever the store's size.
//!
//! Invariant: the answer equals [`super::stats::recount`]'s over the same snapshot: the counts
//! describe exactly the rows at or below the watermark (they change in the same transactions),
//! and everything above it is counted here, in the same read transaction.

use std::collections::HashMap;

use annal_core::{Position, ReadError, Stats, StreamCount, StreamId};
use rusqlite::Connection;

use crate::derived::{KIND_AGGREGATE_TYPE, KIND_TYPE, kind_end, watermark};
use crate::row::{from_sql, read_failed};

/// Counts over the readable events; `top_streams` caps the per-stream list.
pub(crate) fn stats(connection: &Connection, top_streams: usize) -> Result<Stats, ReadError> {
    let failed = |source| read_failed("statistics", source);
    // One read transaction (unless the caller's is open), so every count comes from the same
    // snapshot.
    let _snapshot = match connection.is_autocommit() {
        true => Some(connection.unchecked_transaction().map_err(failed)?),
        false => None,
    };
    let Some(mark) = watermark(connection).map_err(failed)? else {
        return super::stats::recount(connection, top_streams);
    };
    let mut stats = Stats::default();
    let names = |sql: &str| -> Result<Vec<(String, u64)>, ReadError> {
        let mut statement = connection.prepare_cached(sql).map_err(failed)?;
        let mut rows = statement.query([mark]).map_err(failed)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(failed)? {
            let count: i64 = row.get(1).map_err(failed)?;
            out.push((row.get(0).map_err(failed)?, from_sql(count, "count", 0)?));
        }
        Ok(out)
    };
    let indexed = |kind: i64, table: &str, column: &str| {
        let end = kind_end(kind);
        names(&format!(
            "SELECT d.name, c.events FROM counts c JOIN {table} d ON d.id = c.key - {kind} \
             WHERE c.key >= {kind} AND c.key < {end} AND ?1 = ?1 \
             UNION ALL SELECT d.name, g.c FROM (SELECT {column} AS id, count(*) AS c \
             FROM events WHERE position > ?1 GROUP BY {column}) g JOIN {table} d ON d.id = g.id"
        ))
    };
    for (name, count) in indexed(KIND_TYPE, "types", "type_id")? {
        stats.total_events += count;
        *stats.events_by_type.entry(name).or_default() += count;
    }
    for (name, count) in indexed(KIND_AGGREGATE_TYPE, "aggregate_types", "aggregate_type_id")? {
        *stats.events_by_aggregate_type.entry(name).or_default() += count;
    }
    let tail = |sql: &str| -> Result<Option<i64>, ReadError> {
        connection
            .query_row(sql, [mark], |row| row.get(0))
            .map_err(failed)
    };
    // Plain `min`/`max` of an indexed column, with no WHERE clause: SQLite reads one end of
    // the index (with any WHERE clause, even a constant one, it scans the whole table).
    let edge = |sql: &str| -> Result<Option<i64>, ReadError> {
        connection
            .query_row(sql, [], |row| row.get(0))
            .map_err(failed)
    };
    let indexed_oldest = edge("SELECT min(min_ts) FROM time_blocks")?;
    let tail_oldest = tail("SELECT min(timestamp) FROM events WHERE position > ?1")?;
    stats.oldest_timestamp = indexed_oldest.into_iter().chain(tail_oldest).min();
    let indexed_newest = edge("SELECT max(max_ts) FROM time_blocks")?;
    let tail_newest = tail("SELECT max(timestamp) FROM events WHERE position > ?1")?;
    stats.newest_timestamp = indexed_newest.into_iter().chain(tail_newest).max();
    let first = edge("SELECT min(position) FROM events")?;
    let last = edge("SELECT max(position) FROM events")?;
    let position = |p: Option<i64>| -> Result<Option<Position>, ReadError> {
        Ok(p.map(|p| from_sql(p, "position", p))
            .transpose()?
            .map(Position))
    };
    stats.first_position = position(first)?;
    stats.last_position = position(last)?;
    streams(connection, mark, top_streams, &mut stats)?;
    let snapshots: i64 = connection
        .query_row("SELECT count(*) FROM snapshots", [], |row| row.get(0))
        .map_err(failed)?;
    stats.snapshot_count = from_sql(snapshots, "count", 0)?;
    Ok(stats)
}

/// The stream count and the top streams: the maintained per-stream counts, with the streams
/// that gained events above the watermark counted again. Those only gain, so the top `n` are
/// among the first `n + tail streams` by maintained count and the tail's streams.
fn streams(
    connection: &Connection,
    mark: i64,
    top_streams: usize,
    stats: &mut Stats,
) -> Result<(), ReadError> {
    let failed = |source| read_failed("statistics", source);
    let mut counts: HashMap<i64, (String, i64)> = HashMap::new();
    let mut statement = connection
        .prepare_cached(
            // The tail's rows grouped first, in a subquery: joined directly, SQLite may walk
            // every stream's rows through `events_stream` instead (the whole log).
            "SELECT g.stream_id, s.name, g.c + coalesce((SELECT c.events FROM \
             stream_counts c WHERE c.stream_id = g.stream_id), 0), \
             (SELECT c.events FROM stream_counts c WHERE c.stream_id = g.stream_id) IS NULL \
             FROM (SELECT stream_id, count(*) AS c FROM events WHERE position > ?1 \
             GROUP BY stream_id) g JOIN streams s ON s.id = g.stream_id",
        )
        .map_err(failed)?;
    let mut rows = statement.query([mark]).map_err(failed)?;
    let mut new_streams = 0i64;
    while let Some(row) = rows.next().map_err(failed)? {
        let id: i64 = row.get(0).map_err(failed)?;
        counts.insert(
            id,
            (row.get(1).map_err(failed)?, row.get(2).map_err(failed)?),
        );
        new_streams += i64::from(row.get::<_, bool>(3).map_err(failed)?);
    }
    let indexed: i64 = connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'indexed_streams'",
            [],
            |row| row.get(0),
        )
        .map_err(failed)?;
    stats.stream_count = from_sql(indexed + new_streams, "stream count", 0)?;
    let limit = i64::try_from(top_streams.saturating_add(counts.len())).unwrap_or(i64::MAX);
    let mut statement = connection
        .prepare_cached(
            "SELECT stream_id, name, events FROM stream_counts ORDER BY events DESC, name \
             LIMIT ?1",
        )
        .map_err(failed)?;
    let mut rows = statement.query([limit]).map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        let id: i64 = row.get(0).map_err(failed)?;
        let entry = (row.get(1).map_err(failed)?, row.get(2).map_err(failed)?);
        counts.entry(id).or_insert(entry);
    }
    let mut ranked: Vec<(String, i64)> = counts.into_values().collect();
    ranked.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.as_bytes().cmp(b.0.as_bytes()))
    });
    for (name, events) in ranked.into_iter().take(top_streams) {
        let stream = StreamId::new(name).map_err(ReadError::InvalidName)?;
        let events = from_sql(events, "count", 0)?;
        stats.top_streams.push(StreamCount { stream, events });
    }
    Ok(())
}
