//! Store statistics from the derived index's maintained counts (`derived.rs`), plus a count of
//! the events above its watermark: a cost in the number of types, aggregate types and streams
//! shown, and of the unindexed tail, whatever the store's size.
//!
//! Invariant: the answer equals [`super::stats::recount`]'s over the same read snapshot: the counts
//! describe exactly the rows at or below the watermark (they change in the same transactions),
//! and everything above it is counted here, in the same read transaction.

use std::collections::{BTreeMap, HashMap};

use annal_core::{Position, ReadError, Stats, StreamCount, StreamId};
use rusqlite::Connection;

use super::tail::{self, Tail};
use crate::derived::{KIND_AGGREGATE_TYPE, KIND_TYPE, kind_end, watermark};
use crate::row::{from_sql, read_failed, stored_counter};

/// The maintained counts of `kind`, with their dictionary ids and names from `table`.
fn counts_sql(kind: i64, table: &str) -> String {
    let end = kind_end(kind);
    format!(
        "SELECT d.id, d.name, c.events FROM counts c JOIN {table} d ON d.id = c.key - {kind} \
         WHERE c.key >= {kind} AND c.key < {end}"
    )
}

/// The tail's streams (a JSON array of ids) with their names and maintained counts (none for
/// a stream the index does not know yet): point lookups, no read of the log.
const TAIL_STREAMS_SQL: &str = "SELECT j.value, s.name, c.events FROM json_each(?1) j \
     JOIN streams s ON s.id = j.value LEFT JOIN stream_counts c ON c.stream_id = j.value";

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
    let tail = tail::read(connection, mark).map_err(failed)?;
    let mut stats = Stats::default();
    stats.events_by_type = named_counts(connection, KIND_TYPE, "types", &tail.by_type)?;
    stats.total_events = stats.events_by_type.values().sum();
    stats.events_by_aggregate_type = named_counts(
        connection,
        KIND_AGGREGATE_TYPE,
        "aggregate_types",
        &tail.by_aggregate_type,
    )?;
    // Plain `min`/`max` of an indexed column, with no WHERE clause: SQLite reads one end of
    // the index (with any WHERE clause, even a constant one, it scans the whole table).
    let edge = |sql: &str| -> Result<Option<i64>, ReadError> {
        connection
            .query_row(sql, [], |row| row.get(0))
            .map_err(failed)
    };
    let indexed_oldest = edge("SELECT min(min_ts) FROM time_blocks")?;
    stats.oldest_timestamp = indexed_oldest.into_iter().chain(tail.oldest).min();
    let indexed_newest = edge("SELECT max(max_ts) FROM time_blocks")?;
    stats.newest_timestamp = indexed_newest.into_iter().chain(tail.newest).max();
    let first = edge("SELECT min(position) FROM events")?;
    let last = edge("SELECT max(position) FROM events")?;
    let position = |p: Option<i64>| -> Result<Option<Position>, ReadError> {
        Ok(p.map(|p| from_sql(p, "position", p))
            .transpose()?
            .map(Position))
    };
    stats.first_position = position(first)?;
    stats.last_position = position(last)?;
    streams(connection, &tail, top_streams, &mut stats)?;
    let snapshots: i64 = connection
        .query_row("SELECT count(*) FROM snapshots", [], |row| row.get(0))
        .map_err(failed)?;
    stats.snapshot_count = stored_counter(snapshots, || "table snapshots (count)".into())?;
    Ok(stats)
}

/// The maintained counts of `kind` plus the tail's (`tail`, by id), by name from `table`.
fn named_counts(
    connection: &Connection,
    kind: i64,
    table: &str,
    tail: &HashMap<i64, u64>,
) -> Result<BTreeMap<String, u64>, ReadError> {
    let failed = |source| read_failed("statistics", source);
    let mut by_id: HashMap<i64, (String, u64)> = HashMap::new();
    let mut statement = connection
        .prepare_cached(&counts_sql(kind, table))
        .map_err(failed)?;
    let mut rows = statement.query([]).map_err(failed)?;
    while let Some(row) = rows.next().map_err(failed)? {
        let name: String = row.get(1).map_err(failed)?;
        let count: i64 = row.get(2).map_err(failed)?;
        let count = stored_counter(count, || format!("table counts (events of {name:?})"))?;
        by_id.insert(row.get(0).map_err(failed)?, (name, count));
    }
    for (&id, &count) in tail {
        if let Some((_, maintained)) = by_id.get_mut(&id) {
            *maintained += count;
            continue;
        }
        // A name first written above the watermark: rare, one lookup each.
        let name: String = connection
            .prepare_cached(&format!("SELECT name FROM {table} WHERE id = ?1"))
            .and_then(|mut statement| statement.query_row([id], |row| row.get(0)))
            .map_err(failed)?;
        by_id.insert(id, (name, count));
    }
    Ok(by_id.into_values().collect())
}

/// The stream count and the top streams: the maintained per-stream counts, with the tail's
/// streams counted again. A stream's count only gains above the watermark, and so does every
/// stream ranked before it by maintained count, so its final rank is no better than its
/// maintained one: the top `n` are among the first `n` by maintained count and the tail's.
fn streams(
    connection: &Connection,
    tail: &Tail,
    top_streams: usize,
    stats: &mut Stats,
) -> Result<(), ReadError> {
    let failed = |source| read_failed("statistics", source);
    let mut counts: HashMap<i64, (String, i64)> = HashMap::new();
    let mut new_streams = 0u64;
    if !tail.by_stream.is_empty() {
        let mut statement = connection
            .prepare_cached(TAIL_STREAMS_SQL)
            .map_err(failed)?;
        let mut rows = statement
            .query([tail::stream_ids_json(tail)])
            .map_err(failed)?;
        while let Some(row) = rows.next().map_err(failed)? {
            let id: i64 = row.get(0).map_err(failed)?;
            let maintained: Option<i64> = row.get(2).map_err(failed)?;
            new_streams += u64::from(maintained.is_none());
            let gained = tail.by_stream.get(&id).copied().unwrap_or(0);
            let events = maintained
                .unwrap_or(0)
                .saturating_add(i64::try_from(gained).unwrap_or(i64::MAX));
            counts.insert(id, (row.get(1).map_err(failed)?, events));
        }
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
    stats.stream_count = indexed + new_streams;
    let limit = i64::try_from(top_streams).unwrap_or(i64::MAX);
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
            tail::TAIL_SQL.to_owned(),
            counts_sql(KIND_TYPE, "types"),
            counts_sql(KIND_AGGREGATE_TYPE, "aggregate_types"),
        ];
        statements.extend(
            [
                "SELECT min(min_ts) FROM time_blocks",
                "SELECT min(position) FROM events",
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

    /// Stats over an index with a tail above its watermark (new streams, a new type, streams
    /// that overtake the maintained leaders, ties broken by name) equal a recount of the log,
    /// for a top list shorter and longer than the streams.
    #[tokio::test]
    async fn stats_with_a_tail_equal_a_recount() {
        use annal_core::{EventType, ExpectedVersion, NewEvent, Position, Store, collect};
        let dir = tempfile::tempdir().unwrap();
        let options = crate::OpenOptions::new().index_every(64);
        let store = crate::SqliteStore::open_with(dir.path().join("annal.db"), options).unwrap();
        let append = |stream: String, kind: &'static str, at: i64| {
            let event = NewEvent::new(EventType::new(kind).unwrap(), serde_json::json!({}))
                .with_timestamp(at);
            let stream = StreamId::new(stream).unwrap();
            let store = &store;
            async move {
                store
                    .append(&stream, ExpectedVersion::Any, vec![event])
                    .await
                    .unwrap();
            }
        };
        // Indexed: s-0 leads, the others tie.
        for n in 0..70i64 {
            append(format!("s-{}", n % 5), "a:one", 500 + n).await;
        }
        // The tail: new streams and a new type, and s-4 overtakes.
        for n in 0..20i64 {
            let stream = if n % 2 == 0 {
                "s-4".to_owned()
            } else {
                format!("t-{n}")
            };
            append(stream, if n % 3 == 0 { "b:new" } else { "a:one" }, 100 + n).await;
        }
        let connection = rusqlite::Connection::open(dir.path().join("annal.db")).unwrap();
        let mark = watermark(&connection).unwrap().unwrap();
        assert!(mark > 0 && mark < 90, "a tail above the watermark {mark}");
        let events = collect(store.read_all(Position::START).await.unwrap())
            .await
            .unwrap();
        for top in [0, 1, 3, 5, 20] {
            let mut stats = store.stats(top).await.unwrap();
            stats.bytes_on_disk = None;
            assert_eq!(stats, annal_testkit::rules::indexed::recount(&events, top));
        }
    }
}
