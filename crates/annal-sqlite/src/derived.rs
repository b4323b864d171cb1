//! The derived index: postings by event type, aggregate type and source, per-block time bounds
//! and maintained counts, written behind the commit path and covering positions up to a
//! watermark (`meta.indexed_through`).
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
    position INTEGER NOT NULL,
    PRIMARY KEY (key, position)
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
