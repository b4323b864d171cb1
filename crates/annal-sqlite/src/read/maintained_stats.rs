//! Store statistics from the derived index's maintained counts (`derived.rs`), plus a count of
//! the events above its watermark: a cost in the number of types, aggregate types and streams
//! shown, and of the unindexed tail, whatever the store's size.
//!
//! Invariant: the answer equals [`super::stats::recount`]'s over the same read snapshot: the counts
//! describe exactly the rows at or below the watermark (they change in the same transactions),
//! and everything above it is counted here, in the same read transaction.

use std::collections::HashMap;

use annal_core::{Position, ReadError, Stats, StreamCount, StreamId};
use rusqlite::Connection;

use crate::derived::{KIND_AGGREGATE_TYPE, KIND_TYPE, kind_end, watermark};
use crate::row::{from_sql, read_failed, stored_counter};

/// The maintained counts of `kind` (names from `table`) and the tail's, grouped by `column`
/// in a subquery first: joined directly, SQLite may walk the names and reach the rows through
/// an index instead of the rowid range (the whole log).
fn counts_sql(kind: i64, table: &str, column: &str) -> String {
    let end = kind_end(kind);
    format!(
        "SELECT d.name, c.events FROM counts c JOIN {table} d ON d.id = c.key - {kind} \
         WHERE c.key >= {kind} AND c.key < {end} AND ?1 = ?1 \
         UNION ALL SELECT d.name, g.c FROM (SELECT {column} AS id, count(*) AS c \
         FROM events NOT INDEXED WHERE position > ?1 GROUP BY {column}) g JOIN {table} d ON d.id = g.id"
    )
}

/// The tail's streams with their counts and whether the index knows them, grouped in a
/// subquery first: joined directly, SQLite walked every stream's rows through `events_stream`,
/// a cost that grew with the store (figure in `BENCHMARKS.md`, "Figures behind constants in
/// the code").
const TAIL_STREAMS_SQL: &str = "SELECT g.stream_id, s.name, g.c + coalesce((SELECT c.events \
     FROM stream_counts c WHERE c.stream_id = g.stream_id), 0), \
     (SELECT c.events FROM stream_counts c WHERE c.stream_id = g.stream_id) IS NULL \
     FROM (SELECT stream_id, count(*) AS c FROM events NOT INDEXED WHERE position > ?1 \
     GROUP BY stream_id) g JOIN streams s ON s.id = g.stream_id";

/// Counts over the readable events; `top_streams` caps the per-stream list.
pub(crate) fn stats(connection: &Connection, top_streams: usize) -> Result<Stats, ReadError> {
    let failed = |source| read_failed("statistics", source);
    // One read transaction (unless the caller's is open), so every count comes from the same
    // read snapshot.
    let _read_snapshot = match connection.is_autocommit() {
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
            let name: String = row.get(0).map_err(failed)?;
            let count: i64 = row.get(1).map_err(failed)?;
            let count = stored_counter(count, || format!("table counts (events of {name:?})"))?;
            out.push((name, count));
        }
        Ok(out)
    };
    let indexed = |kind: i64, table: &str, column: &str| names(&counts_sql(kind, table, column));
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
    stats.snapshot_count = stored_counter(snapshots, || "table snapshots (count)".into())?;
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
        .prepare_cached(TAIL_STREAMS_SQL)
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
    let indexed = stored_counter(indexed, || "meta row indexed_streams".into())?;
    // At most one new stream per tail row, so the sum stays far below u64::MAX.
    stats.stream_count = indexed + new_streams as u64;
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
        let events = stored_counter(events, || format!("table stream_counts ({stream})"))?;
        stats.top_streams.push(StreamCount { stream, events });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement of `stats` reads `events` only by a rowid range or one end of its
    /// B-tree: a plan that scans the table or walks it through another index costs the whole
    /// log. SQLite plans without statistics here (annal never runs ANALYZE), so the plan of
    /// an empty store is the plan of a large one.
    #[test]
    fn stats_never_read_the_whole_log() {
        let connection = crate::schema::migrated_in_memory();
        let mut statements = vec![
            TAIL_STREAMS_SQL.to_owned(),
            counts_sql(KIND_TYPE, "types", "type_id"),
            counts_sql(KIND_AGGREGATE_TYPE, "aggregate_types", "aggregate_type_id"),
        ];
        statements.extend(
            [
                "SELECT min(min_ts) FROM time_blocks",
                "SELECT min(position) FROM events",
                "SELECT min(timestamp) FROM events WHERE position > ?1",
            ]
            .map(str::to_owned),
        );
        for sql in statements {
            let mut explain = connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let params = explain.parameter_count();
            let details: Vec<String> = explain
                .query_map(rusqlite::params_from_iter(vec![0i64; params]), |row| {
                    row.get::<_, String>(3)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for detail in &details {
                let whole = detail.starts_with("SCAN events") || detail.contains("events_stream");
                assert!(!whole, "{sql}\nreads the whole log: {details:?}");
            }
        }
    }
}
