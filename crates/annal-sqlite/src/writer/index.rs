//! The writer's side of the derived index (`derived.rs`): indexing the events above the
//! watermark in bulk, inside the group that crosses [`INDEX_EVERY_DEFAULT`] events behind,
//! forgetting events before a removal deletes them, and rebuilding an index that is missing
//! or stale at open.
//!
//! Invariant: every change here runs inside the transaction that changes the rows it
//! describes (the group's, or a removal's), so after any crash the index and its watermark
//! describe exactly the committed rows at or below the watermark.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, params};

use crate::derived::{
    BLOCK_SHIFT, DROP_INDEX_TABLES, INDEX_TABLES, KIND_AGGREGATE_TYPE, KIND_SOURCE, KIND_TYPE,
    encode_positions, row_positions,
};

/// Events indexed per transaction when an open catches up a long unindexed tail.
const CATCH_UP_CHUNK: i64 = 100_000;

/// One event as the index sees it.
struct Indexed {
    position: i64,
    keys: [i64; 3],
    stream_id: i64,
    timestamp: i64,
}

/// Reads the events selected by `condition` (over `events`, with `params`) in position order,
/// with their postings keys; a source not in `sources` yet is added to it.
fn indexed_events<P: rusqlite::Params + Copy>(
    connection: &Connection,
    condition: &str,
    params: P,
) -> rusqlite::Result<Vec<Indexed>> {
    let mut sources: HashMap<String, i64> = HashMap::new();
    let mut statement = connection.prepare_cached("SELECT name, id FROM sources")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        sources.insert(row.get(0)?, row.get(1)?);
    }
    let mut add_source =
        connection.prepare_cached("INSERT INTO sources (name) VALUES (?1) RETURNING id")?;
    let mut statement = connection.prepare_cached(&format!(
        "SELECT position, type_id, aggregate_type_id, source, stream_id, timestamp FROM events \
         WHERE {condition} ORDER BY position"
    ))?;
    let mut rows = statement.query(params)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        let source = row.get_ref(3)?.as_str()?;
        let source_id = match sources.get(source) {
            Some(id) => *id,
            None => {
                let id: i64 = add_source.query_row([source], |row| row.get(0))?;
                sources.insert(source.to_owned(), id);
                id
            }
        };
        events.push(Indexed {
            position: row.get(0)?,
            keys: [
                KIND_TYPE + row.get::<_, i64>(1)?,
                KIND_AGGREGATE_TYPE + row.get::<_, i64>(2)?,
                KIND_SOURCE + source_id,
            ],
            stream_id: row.get(4)?,
            timestamp: row.get(5)?,
        });
    }
    Ok(events)
}

/// Indexes the events at positions in `(from, to]` and moves the watermark to `to`.
///
/// One postings row per key (its positions as one blob), one count update per key and per
/// stream, one bound update per time block: a few dozen writes per pass, where an index row
/// per event in the commit cost about as much as the events' own rows
/// (`docs/sqlite-schema.md`).
pub(crate) fn index_range(connection: &Connection, from: i64, to: i64) -> rusqlite::Result<()> {
    let events = indexed_events(connection, "position > ?1 AND position <= ?2", [from, to])?;
    let mut postings: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut streams: BTreeMap<i64, i64> = BTreeMap::new();
    let mut blocks: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for event in &events {
        for key in event.keys {
            postings.entry(key).or_default().push(event.position);
        }
        *streams.entry(event.stream_id).or_default() += 1;
        let block = blocks
            .entry(event.position >> BLOCK_SHIFT)
            .or_insert((event.timestamp, event.timestamp));
        block.0 = block.0.min(event.timestamp);
        block.1 = block.1.max(event.timestamp);
    }
    let mut insert = connection
        .prepare_cached("INSERT INTO postings (key, last, positions) VALUES (?1, ?2, ?3)")?;
    let mut count = connection.prepare_cached(
        "INSERT INTO counts (key, events) VALUES (?1, ?2) \
         ON CONFLICT (key) DO UPDATE SET events = events + excluded.events",
    )?;
    for (key, positions) in &postings {
        let last = positions.last().copied().unwrap_or(to);
        insert.execute(params![key, last, encode_positions(positions)])?;
        if *key < KIND_SOURCE {
            count.execute(params![key, positions.len() as i64])?;
        }
    }
    let mut grow = connection
        .prepare_cached("UPDATE stream_counts SET events = events + ?2 WHERE stream_id = ?1")?;
    let mut add = connection.prepare_cached(
        "INSERT INTO stream_counts (stream_id, name, events) \
         SELECT id, name, ?2 FROM streams WHERE id = ?1",
    )?;
    let mut new_streams = 0i64;
    for (stream_id, events) in &streams {
        if grow.execute(params![stream_id, events])? == 0 {
            add.execute(params![stream_id, events])?;
            new_streams += 1;
        }
    }
    let mut bound = connection.prepare_cached(
        "INSERT INTO time_blocks (block, min_ts, max_ts) VALUES (?1, ?2, ?3) \
         ON CONFLICT (block) DO UPDATE SET min_ts = min(min_ts, excluded.min_ts), \
         max_ts = max(max_ts, excluded.max_ts)",
    )?;
    for (block, (low, high)) in &blocks {
        bound.execute(params![block, low, high])?;
    }
    connection
        .prepare_cached("UPDATE meta SET value = value + ?1 WHERE key = 'indexed_streams'")?
        .execute([new_streams])?;
    connection
        .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'indexed_through'")?
        .execute([to])?;
    Ok(())
}

/// Positions per removal pass of [`forget`], so its memory stays bounded whatever it removes.
const FORGET_RANGE: i64 = 1 << 18;

/// Before a removal deletes the rows `condition` selects (its `WHERE` clause over `events`,
/// with `params`): takes those at or below `watermark` out of the postings, counts and time
/// blocks, a range of positions at a time. Rows above the watermark are in no index yet.
pub(crate) fn forget<P: rusqlite::Params + Copy>(
    connection: &Connection,
    watermark: i64,
    condition: &str,
    params: P,
) -> rusqlite::Result<()> {
    let low: Option<i64> = connection.query_row(
        &format!(
            "SELECT min(position) FROM events WHERE ({condition}) AND position <= {watermark}"
        ),
        params,
        |row| row.get(0),
    )?;
    let Some(mut low) = low else {
        return Ok(());
    };
    while low <= watermark {
        let high = watermark.min(low.saturating_add(FORGET_RANGE - 1));
        let range = format!("({condition}) AND position >= {low} AND position <= {high}");
        let doomed = indexed_events(connection, &range, params)?;
        forget_events(connection, &doomed)?;
        low = high + 1;
    }
    forget_blocks(connection, watermark, condition, params)
}

/// Takes `doomed` (in position order) out of the postings and counts.
fn forget_events(connection: &Connection, doomed: &[Indexed]) -> rusqlite::Result<()> {
    let mut by_key: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut streams: BTreeMap<i64, i64> = BTreeMap::new();
    for event in doomed {
        for key in event.keys {
            by_key.entry(key).or_default().push(event.position);
        }
        *streams.entry(event.stream_id).or_default() += 1;
    }
    let mut count =
        connection.prepare_cached("UPDATE counts SET events = events - ?2 WHERE key = ?1")?;
    for (key, positions) in &by_key {
        remove_postings(connection, *key, positions)?;
        if *key < KIND_SOURCE {
            count.execute(params![key, positions.len() as i64])?;
        }
    }
    let mut shrink = connection
        .prepare_cached("UPDATE stream_counts SET events = events - ?2 WHERE stream_id = ?1")?;
    for (stream_id, events) in &streams {
        shrink.execute(params![stream_id, events])?;
    }
    connection.execute_batch(
        "DELETE FROM counts WHERE events <= 0;
         UPDATE meta SET value = value - (SELECT count(*) FROM stream_counts WHERE events <= 0)
           WHERE key = 'indexed_streams';
         DELETE FROM stream_counts WHERE events <= 0;",
    )
}

/// Removes `positions` (ascending) from the postings rows of `key`, rewriting each row that
/// held some of them (deleted when none is left).
fn remove_postings(connection: &Connection, key: i64, positions: &[i64]) -> rusqlite::Result<()> {
    let (Some(&first), Some(&last)) = (positions.first(), positions.last()) else {
        return Ok(());
    };
    let mut rows = Vec::new();
    {
        let mut statement = connection.prepare_cached(
            "SELECT last, positions FROM postings WHERE key = ?1 AND last >= ?2 ORDER BY last",
        )?;
        let mut found = statement.query(params![key, first])?;
        while let Some(row) = found.next()? {
            let row_last: i64 = row.get(0)?;
            let held = row_positions(key, row_last, row.get_ref(1)?.as_blob()?)?;
            let starts_after = held.first().is_some_and(|p| *p > last);
            rows.push((row_last, held));
            if starts_after {
                break;
            }
        }
    }
    let mut delete =
        connection.prepare_cached("DELETE FROM postings WHERE key = ?1 AND last = ?2")?;
    let mut insert = connection
        .prepare_cached("INSERT INTO postings (key, last, positions) VALUES (?1, ?2, ?3)")?;
    for (row_last, held) in rows {
        let kept: Vec<i64> = held
            .iter()
            .copied()
            .filter(|p| positions.binary_search(p).is_err())
            .collect();
        if kept.len() == held.len() {
            continue;
        }
        delete.execute(params![key, row_last])?;
        if let Some(&kept_last) = kept.last() {
            insert.execute(params![key, kept_last, encode_positions(&kept)])?;
        }
    }
    Ok(())
}

/// Recomputes the bounds of the time blocks that lose events, without them.
fn forget_blocks<P: rusqlite::Params + Copy>(
    connection: &Connection,
    watermark: i64,
    condition: &str,
    params: P,
) -> rusqlite::Result<()> {
    let doomed = format!("({condition}) AND position <= {watermark}");
    let sql = format!(
        "UPDATE time_blocks SET
           min_ts = (SELECT min(timestamp) FROM events WHERE position >= (time_blocks.block
             << {BLOCK_SHIFT}) AND position < ((time_blocks.block + 1) << {BLOCK_SHIFT})
             AND position <= {watermark} AND NOT ({condition})),
           max_ts = (SELECT max(timestamp) FROM events WHERE position >= (time_blocks.block
             << {BLOCK_SHIFT}) AND position < ((time_blocks.block + 1) << {BLOCK_SHIFT})
             AND position <= {watermark} AND NOT ({condition}))
         WHERE block IN (SELECT DISTINCT position >> {BLOCK_SHIFT} FROM events WHERE {doomed})"
    );
    connection.execute(&sql, params)?;
    connection.execute_batch("DELETE FROM time_blocks WHERE min_ts IS NULL;")
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
    // The index is derived, so a watermark it cannot use was rebuilt above rather than refused;
    // what is left is a usable watermark, or none (an index just created covers nothing).
    let mut mark = crate::derived::watermark(connection)?.unwrap_or(0);
    // NULL: no event, so nothing to index.
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
