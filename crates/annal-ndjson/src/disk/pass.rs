//! A pass: the in-memory index's tail written to the derived index in one transaction, with the
//! new watermark, so the index on disk always describes exactly the log up to its watermark.
//!
//! One row per block of [`BLOCK`] events, per posting key, per stream and per id bucket, each
//! holding the pass's records of it as one blob: a pass of 65,536 events writes a few thousand
//! rows, not one per event (the same reason as SQLite's own derived index, in
//! `docs/sqlite-schema.md`). The counts and totals are written whole; they are small.

use rusqlite::{Connection, params};

use super::Mark;
use super::records::{Keyed, Located, Versioned, encode};
use super::schema::{KIND_AGGREGATE_TYPE, KIND_TYPE, set_meta};
use crate::index::Index;
use crate::postings::BLOCK;

/// Replaces the rows of `bucket` at `level` with one row at the next level ending at `last`,
/// bucket by bucket so memory holds one bucket's ids at a time.
fn merge_bucket(
    connection: &Connection,
    level: i64,
    bucket: i64,
    last: i64,
) -> rusqlite::Result<()> {
    let mut rows =
        connection.prepare_cached("SELECT entries FROM ids WHERE level = ?1 AND bucket = ?2")?;
    let mut found = rows.query([level, bucket])?;
    let mut entries = Vec::new();
    while let Some(row) = found.next()? {
        entries.extend_from_slice(row.get_ref(0)?.as_blob()?);
    }
    drop(found);
    if entries.is_empty() {
        return Ok(());
    }
    connection
        .prepare_cached("DELETE FROM ids WHERE level = ?1 AND bucket = ?2")?
        .execute([level, bucket])?;
    connection
        .prepare_cached("INSERT INTO ids(bucket, last, level, entries) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![bucket, last, level + 1, entries])?;
    Ok(())
}

/// Passes whose id rows one level gathers before they are merged into the next.
const IDS_FAN_IN: i64 = 8;

/// Buckets of the `ids` table: the top bits of an id's hash.
pub(crate) const ID_BUCKET_BITS: u32 = 10;

/// The bucket of an id hash.
pub(crate) fn id_bucket(hash: u64) -> i64 {
    (hash >> (64 - ID_BUCKET_BITS)).cast_signed()
}

/// Writes the tail of `index` to disk; returns the new mark (the generation unchanged).
pub(crate) fn write_pass(connection: &Connection, index: &Index) -> Result<Mark, String> {
    let generation = index.disk.as_ref().map_or(0, |d| d.mark.generation);
    let mark = Mark {
        position: index.next.last_position,
        offset: index.next.offset,
        line: index.next.line,
        generation,
    };
    let transaction = connection
        .unchecked_transaction()
        .map_err(|e| e.to_string())?;
    write_blocks(&transaction, index)?;
    write_postings(&transaction, index)?;
    write_streams(&transaction, index)?;
    write_ids(&transaction, index)?;
    write_counts(&transaction, index, &mark).map_err(|e| e.to_string())?;
    transaction.commit().map_err(|e| e.to_string())?;
    Ok(mark)
}

/// A counter as an SQLite integer.
fn int(value: u64) -> Result<i64, String> {
    i64::try_from(value).map_err(|_| format!("{value} is beyond what the derived index stores"))
}

fn located(index: &Index, at: usize) -> Located {
    Located {
        entry: index.entries[at],
        timestamp: index.timestamps[at],
    }
}

fn write_blocks(connection: &Connection, index: &Index) -> Result<(), String> {
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO blocks(first, last, min_ts, max_ts, entries) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(|e| e.to_string())?;
    for start in (0..index.entries.len()).step_by(BLOCK) {
        let end = (start + BLOCK).min(index.entries.len());
        let records: Vec<Located> = (start..end).map(|at| located(index, at)).collect();
        let times = &index.timestamps[start..end];
        let (min, max) = (times.iter().min(), times.iter().max());
        insert
            .execute(params![
                int(index.entries[start].position)?,
                int(index.entries[end - 1].position)?,
                min,
                max,
                encode(&records)
            ])
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn write_postings(connection: &Connection, index: &Index) -> Result<(), String> {
    let mut insert = connection
        .prepare_cached(
            "INSERT INTO postings(field, name, last, first, min_ts, max_ts, entries) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(|e| e.to_string())?;
    for (field, map) in index.postings.fields() {
        for (name, list) in map {
            let (Some(&first), Some(&last)) = (list.first(), list.last()) else {
                continue;
            };
            let records: Vec<Located> =
                list.iter().map(|&at| located(index, at as usize)).collect();
            let times = records.iter().map(|r| r.timestamp);
            let (min, max) = (times.clone().min(), times.max());
            insert
                .execute(params![
                    field as i64,
                    name,
                    int(index.entries[last as usize].position)?,
                    int(index.entries[first as usize].position)?,
                    min,
                    max,
                    encode(&records)
                ])
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn write_streams(connection: &Connection, index: &Index) -> Result<(), String> {
    let mut runs = connection
        .prepare_cached(
            "INSERT INTO stream_runs(stream, last_version, first_version, entries) \
             VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(|e| e.to_string())?;
    let mut rows = connection
        .prepare_cached(
            "INSERT OR REPLACE INTO streams(name, last_version, events) VALUES (?1, ?2, ?3)",
        )
        .map_err(|e| e.to_string())?;
    for (name, stream) in &index.streams {
        let (Some(first), Some(last)) = (stream.entries.first(), stream.entries.last()) else {
            continue;
        };
        let records: Vec<Versioned> = stream
            .entries
            .iter()
            .map(|e| Versioned {
                version: e.version,
                entry: e.entry,
            })
            .collect();
        runs.execute(params![
            name,
            int(last.version)?,
            int(first.version)?,
            encode(&records)
        ])
        .map_err(|e| e.to_string())?;
        rows.execute(params![
            name,
            int(stream.last_version)?,
            int(stream.events)?
        ])
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn write_ids(connection: &Connection, index: &Index) -> Result<(), String> {
    let mut keyed: Vec<(i64, Keyed)> = index
        .hashes
        .iter()
        .zip(&index.entries)
        .map(|(&hash, &entry)| (id_bucket(hash), Keyed { hash, entry }))
        .collect();
    // Stable: each bucket's records stay in position order, which their encoding relies on
    // to stay small (`records.rs`).
    keyed.sort_by_key(|(bucket, _)| *bucket);
    let last = int(index.next.last_position)?;
    let mut insert = connection
        .prepare_cached("INSERT INTO ids(bucket, last, level, entries) VALUES (?1, ?2, 0, ?3)")
        .map_err(|e| e.to_string())?;
    for run in keyed.chunk_by(|a, b| a.0 == b.0) {
        let records: Vec<Keyed> = run.iter().map(|(_, record)| *record).collect();
        insert
            .execute(params![run[0].0, last, encode(&records)])
            .map_err(|e| e.to_string())?;
    }
    merge_ids(connection).map_err(|e| e.to_string())
}

/// Merges a level's id rows into one row per bucket of the next level once [`IDS_FAN_IN`]
/// passes' rows have gathered there, level after level. A lookup by id reads every row of its
/// bucket, one per pass without this (153 at 10,000,000 events): so it reads at most about
/// `IDS_FAN_IN` rows per level, and each id is rewritten once per level it climbs.
fn merge_ids(connection: &Connection) -> rusqlite::Result<()> {
    for level in 0i64.. {
        let passes: i64 = connection
            .prepare_cached("SELECT count(DISTINCT last) FROM ids WHERE level = ?1")?
            .query_row([level], |row| row.get(0))?;
        if passes < IDS_FAN_IN {
            return Ok(());
        }
        // Every merged row takes the level's last pass as its own, so the next level counts
        // merges, not buckets that missed a pass.
        let last: i64 = connection
            .prepare_cached("SELECT max(last) FROM ids WHERE level = ?1")?
            .query_row([level], |row| row.get(0))?;
        for bucket in 0..1i64 << ID_BUCKET_BITS {
            merge_bucket(connection, level, bucket, last)?;
        }
    }
    Ok(())
}

fn write_counts(connection: &Connection, index: &Index, mark: &Mark) -> rusqlite::Result<()> {
    let mut upsert = connection
        .prepare_cached("INSERT OR REPLACE INTO counts(kind, name, n) VALUES (?1, ?2, ?3)")?;
    let [by_type, by_aggregate_type] = index.type_counts();
    for (kind, counts) in [
        (KIND_TYPE, by_type),
        (KIND_AGGREGATE_TYPE, by_aggregate_type),
    ] {
        for (name, n) in counts {
            upsert.execute(params![kind, name, n.cast_signed()])?;
        }
    }
    let totals = index.totals();
    let unsigned = |value: u64| Some(value.cast_signed());
    set_meta(connection, "through_position", unsigned(mark.position))?;
    set_meta(connection, "through_offset", unsigned(mark.offset))?;
    set_meta(connection, "through_line", unsigned(mark.line))?;
    set_meta(connection, "total_events", unsigned(totals.events))?;
    set_meta(
        connection,
        "first_position",
        totals.first_position.and_then(unsigned),
    )?;
    set_meta(connection, "oldest_timestamp", totals.oldest_timestamp)?;
    set_meta(connection, "newest_timestamp", totals.newest_timestamp)?;
    Ok(())
}
