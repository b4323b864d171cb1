//! The writer's side of the derived index (`derived.rs`): indexing the events above the
//! watermark in bulk, inside the group that crosses [`INDEX_EVERY_DEFAULT`] events behind,
//! forgetting events before a removal deletes them, and rebuilding an index that is missing
//! or stale at open.
//!
//! Invariant: every change here runs inside the transaction that changes the rows it
//! describes (the group's, or a removal's), so after any crash the index and its watermark
//! describe exactly the committed rows at or below the watermark.

use rusqlite::{Connection, OptionalExtension};

use crate::derived::{
    BLOCK_SHIFT, DROP_INDEX_TABLES, INDEX_TABLES, KIND_AGGREGATE_TYPE, KIND_SOURCE, KIND_TYPE,
};

/// Events indexed per transaction when an open catches up a long unindexed tail.
const CATCH_UP_CHUNK: i64 = 100_000;

/// Indexes the events at positions in `(from, to]` and moves the watermark to `to`.
///
/// Postings are inserted sorted by key, so each key's entries go to its B-tree edge together:
/// in bulk they dirty a few pages per key, where one index row per event in every commit
/// dirtied a page per key per group (`docs/sqlite-schema.md`).
pub(crate) fn index_range(connection: &Connection, from: i64, to: i64) -> rusqlite::Result<()> {
    let range = format!("position > {from} AND position <= {to}");
    connection.execute_batch(&format!(
        "INSERT OR IGNORE INTO sources (name) SELECT DISTINCT source FROM events WHERE {range};
         INSERT INTO postings (key, position)
           SELECT {KIND_TYPE} + type_id, position FROM events WHERE {range}
           UNION ALL SELECT {KIND_AGGREGATE_TYPE} + aggregate_type_id, position FROM events
             WHERE {range}
           UNION ALL SELECT {KIND_SOURCE} + (SELECT s.id FROM sources s WHERE s.name = events.source),
             position FROM events WHERE {range}
           ORDER BY 1, 2;
         INSERT INTO counts (key, events)
           SELECT key, count(*) FROM (
             SELECT {KIND_TYPE} + type_id AS key FROM events WHERE {range}
             UNION ALL SELECT {KIND_AGGREGATE_TYPE} + aggregate_type_id FROM events WHERE {range})
           GROUP BY key
           ON CONFLICT (key) DO UPDATE SET events = events + excluded.events;
         UPDATE meta SET value = value + (SELECT count(DISTINCT stream_id) FROM events
             WHERE {range} AND stream_id NOT IN (SELECT stream_id FROM stream_counts))
           WHERE key = 'indexed_streams';
         INSERT INTO stream_counts (stream_id, name, events)
           SELECT g.stream_id, s.name, g.c FROM (SELECT stream_id, count(*) AS c FROM events
             WHERE {range} GROUP BY stream_id) g JOIN streams s ON s.id = g.stream_id
           WHERE true
           ON CONFLICT (stream_id) DO UPDATE SET events = events + excluded.events;
         INSERT INTO time_blocks (block, min_ts, max_ts)
           SELECT position >> {BLOCK_SHIFT}, min(timestamp), max(timestamp) FROM events
             WHERE {range} GROUP BY 1
           ON CONFLICT (block) DO UPDATE SET min_ts = min(min_ts, excluded.min_ts),
             max_ts = max(max_ts, excluded.max_ts);
         UPDATE meta SET value = {to} WHERE key = 'indexed_through';"
    ))
}

/// Before a removal deletes the rows `condition` selects (its `WHERE` clause over `events`,
/// with `params`): takes those at or below `watermark` out of the postings, counts and time
/// blocks. Rows above the watermark are in no index yet.
pub(crate) fn forget<P: rusqlite::Params + Copy>(
    connection: &Connection,
    watermark: i64,
    condition: &str,
    params: P,
) -> rusqlite::Result<()> {
    let doomed = format!("({condition}) AND position <= {watermark}");
    let statements = [
        format!(
            "UPDATE counts SET events = events - d.c FROM (SELECT key, count(*) AS c FROM (
               SELECT {KIND_TYPE} + type_id AS key FROM events WHERE {doomed}
               UNION ALL SELECT {KIND_AGGREGATE_TYPE} + aggregate_type_id FROM events
                 WHERE {doomed}) GROUP BY key) AS d
             WHERE counts.key = d.key"
        ),
        format!(
            "UPDATE stream_counts SET events = events - d.c FROM (SELECT stream_id AS sid,
               count(*) AS c FROM events WHERE {doomed} GROUP BY stream_id) AS d
             WHERE stream_counts.stream_id = d.sid"
        ),
        format!(
            "DELETE FROM postings WHERE (key, position) IN (
               SELECT {KIND_TYPE} + type_id, position FROM events WHERE {doomed}
               UNION ALL SELECT {KIND_AGGREGATE_TYPE} + aggregate_type_id, position FROM events
                 WHERE {doomed}
               UNION ALL SELECT {KIND_SOURCE} + (SELECT s.id FROM sources s
                 WHERE s.name = events.source), position FROM events WHERE {doomed})"
        ),
        format!(
            "UPDATE time_blocks SET
               min_ts = (SELECT min(timestamp) FROM events WHERE position >= (time_blocks.block
                 << {BLOCK_SHIFT}) AND position < ((time_blocks.block + 1) << {BLOCK_SHIFT})
                 AND position <= {watermark} AND NOT ({condition})),
               max_ts = (SELECT max(timestamp) FROM events WHERE position >= (time_blocks.block
                 << {BLOCK_SHIFT}) AND position < ((time_blocks.block + 1) << {BLOCK_SHIFT})
                 AND position <= {watermark} AND NOT ({condition}))
             WHERE block IN (SELECT DISTINCT position >> {BLOCK_SHIFT} FROM events
               WHERE {doomed})"
        ),
    ];
    for sql in &statements {
        connection.execute(sql, params)?;
    }
    connection.execute_batch(
        "DELETE FROM counts WHERE events <= 0;
         UPDATE meta SET value = value - (SELECT count(*) FROM stream_counts WHERE events <= 0)
           WHERE key = 'indexed_streams';
         DELETE FROM stream_counts WHERE events <= 0;
         DELETE FROM time_blocks WHERE min_ts IS NULL;",
    )
}

/// At a writer's open: creates the index if it is missing, rebuilds it if its watermark is
/// beyond the stored head (the events it described are not those stored), then indexes the
/// unindexed events in transactions of [`CATCH_UP_CHUNK`] until fewer than `every` remain.
/// Returns the watermark.
pub(crate) fn prepare_at_open(
    connection: &Connection,
    head: i64,
    every: u64,
) -> rusqlite::Result<i64> {
    let present = crate::derived::watermark(connection)?;
    let stale = present.is_none_or(|mark| mark > head || mark < 0);
    if stale {
        connection.execute_batch(&format!(
            "BEGIN IMMEDIATE; {DROP_INDEX_TABLES} {INDEX_TABLES} COMMIT;"
        ))?;
    }
    let mut mark = crate::derived::watermark(connection)?.unwrap_or(0);
    let max: i64 = connection
        .query_row("SELECT max(position) FROM events", [], |row| row.get(0))
        .optional()?
        .flatten()
        .unwrap_or(0);
    let every = i64::try_from(every).unwrap_or(i64::MAX);
    while max - mark >= every.max(1) {
        let to = max.min(mark + CATCH_UP_CHUNK);
        connection.execute_batch("BEGIN IMMEDIATE")?;
        match index_range(connection, mark, to) {
            Ok(()) => connection.execute_batch("COMMIT")?,
            Err(error) => {
                let _ = connection.execute_batch("ROLLBACK");
                return Err(error);
            }
        }
        mark = to;
    }
    Ok(mark)
}
