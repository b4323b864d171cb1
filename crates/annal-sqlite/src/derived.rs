//! The derived index: postings by event type, aggregate type and source, per-block time bounds
//! and maintained counts, written behind the commit path and covering positions up to a
//! watermark (`meta.indexed_through`). A postings row holds one key's positions from one
//! indexing pass, ascending, as a blob of deltas (LEB128), keyed by (key, its last position):
//! one row per key per pass instead of one per event, so indexing writes a few dozen rows.
//!
//! Invariant: every table here is a function of the `events` rows at or below the watermark
//! (and of the dictionaries), changed only in the same transaction as the rows it describes, so
//! a reader that reads the watermark and these tables in one read transaction may answer from
//! them for positions up to the watermark and must scan the events above it. Nothing here is
//! source data: a store without these tables, or with a stale watermark, is rebuilt from the
//! events at the writer's open (`writer/index.rs`); `check_index` compares them with a recount.

use rusqlite::{Connection, OptionalExtension};

/// Key of a posting or a count: the kind in the high bits, the dictionary id below.
pub(crate) const KIND_SHIFT: u32 = 40;
/// Postings and counts of an event type (`types.id`).
pub(crate) const KIND_TYPE: i64 = 1 << KIND_SHIFT;
/// Postings and counts of an aggregate type (`aggregate_types.id`).
pub(crate) const KIND_AGGREGATE_TYPE: i64 = 2 << KIND_SHIFT;
/// Postings of a source (`sources.id`).
pub(crate) const KIND_SOURCE: i64 = 3 << KIND_SHIFT;
/// The end of the key range of `kind`.
pub(crate) const fn kind_end(kind: i64) -> i64 {
    kind + (1 << KIND_SHIFT)
}

/// A time block holds the positions with the same `position >> BLOCK_SHIFT` (1,024 positions).
pub(crate) const BLOCK_SHIFT: u32 = 10;

/// Events the writer leaves above the watermark before it indexes them, in the group that
/// crosses it: queries and stats scan at most this many events plus one group.
pub(crate) const INDEX_EVERY_DEFAULT: u64 = 4_096;

/// The tables of the derived index (also the rebuild's DDL: it drops and creates them).
pub(crate) const INDEX_TABLES: &str = "
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE IF NOT EXISTS postings (
    key INTEGER NOT NULL,
    last INTEGER NOT NULL,
    positions BLOB NOT NULL,
    PRIMARY KEY (key, last)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS time_blocks (
    block INTEGER PRIMARY KEY,
    min_ts INTEGER,
    max_ts INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS time_blocks_min ON time_blocks (min_ts);
CREATE INDEX IF NOT EXISTS time_blocks_max ON time_blocks (max_ts);
CREATE TABLE IF NOT EXISTS counts (
    key INTEGER PRIMARY KEY,
    events INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS stream_counts (
    stream_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    events INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS stream_counts_top ON stream_counts (events DESC, name);
INSERT OR IGNORE INTO meta (key, value) VALUES ('indexed_through', 0), ('indexed_streams', 0);
";

/// The index tables, dropped by a rebuild before [`INDEX_TABLES`] creates them empty.
pub(crate) const DROP_INDEX_TABLES: &str = "
DROP TABLE IF EXISTS postings; DROP TABLE IF EXISTS time_blocks; DROP TABLE IF EXISTS counts;
DROP TABLE IF EXISTS stream_counts; DROP TABLE IF EXISTS sources;
DELETE FROM meta WHERE key IN ('indexed_through', 'indexed_streams');
";

/// The watermark: positions at or below it are indexed. `None` when the store has no index
/// (an older store, or one whose index was dropped): every query then scans.
pub(crate) fn watermark(connection: &Connection) -> rusqlite::Result<Option<i64>> {
    let mark: Option<i64> = connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'indexed_through'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if mark.is_none() {
        return Ok(None);
    }
    let tables: i64 = connection.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN \
         ('sources', 'postings', 'time_blocks', 'counts', 'stream_counts')",
        [],
        |row| row.get(0),
    )?;
    Ok(if tables == 5 { mark } else { None })
}

/// Encodes ascending positions as LEB128 deltas (the first from 0).
pub(crate) fn encode_positions(positions: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(positions.len() * 2);
    let mut previous = 0i64;
    for &position in positions {
        let mut delta = position.wrapping_sub(previous) as u64;
        previous = position;
        loop {
            let byte = (delta & 0x7F) as u8;
            delta >>= 7;
            if delta == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
    }
    out
}

/// Decodes [`encode_positions`]; `Err` names what is wrong with a damaged blob.
pub(crate) fn decode_positions(blob: &[u8]) -> Result<Vec<i64>, String> {
    let mut positions = Vec::with_capacity(blob.len());
    let mut previous = 0i64;
    let mut delta = 0u64;
    let mut shift = 0u32;
    for &byte in blob {
        if shift > 63 {
            return Err("a delta longer than 64 bits".to_owned());
        }
        delta |= u64::from(byte & 0x7F) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            previous = previous.wrapping_add(delta as i64);
            if previous <= 0 || positions.last().is_some_and(|last| *last >= previous) {
                return Err(format!("position {previous} does not ascend"));
            }
            positions.push(previous);
            delta = 0;
            shift = 0;
        }
    }
    if shift != 0 {
        return Err("the blob ends inside a delta".to_owned());
    }
    Ok(positions)
}

/// The positions of a postings row, or `Corrupted` naming the row.
pub(crate) fn row_positions(key: i64, last: i64, blob: &[u8]) -> rusqlite::Result<Vec<i64>> {
    decode_positions(blob).map_err(|reason| {
        rusqlite::Error::FromSqlConversionFailure(
            2,
            rusqlite::types::Type::Blob,
            format!("table postings, row (key {key}, last {last}): {reason}").into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_damage_is_named() {
        let positions = vec![1, 2, 130, 131, 1 << 40, (1 << 40) + 5];
        let blob = encode_positions(&positions);
        assert_eq!(decode_positions(&blob), Ok(positions));
        assert!(decode_positions(&blob[..blob.len() - 1]).is_ok_and(|p| p.len() == 5));
        assert_eq!(
            decode_positions(&[0x80]),
            Err("the blob ends inside a delta".to_owned())
        );
        assert!(
            decode_positions(&[5, 0]).is_err(),
            "a zero delta repeats a position"
        );
    }
}
