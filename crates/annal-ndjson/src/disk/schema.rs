//! The tables of `index.sqlite`, what an open loads from them, and their reset.
//!
//! `meta` holds the format, the generation, the log's inode, the watermark ([`Mark`]), the id
//! hasher's key and the maintained totals. Counters are SQLite integers: positions, offsets and
//! versions beyond `i64::MAX` are refused by a pass, never stored wrapped.

use rusqlite::{Connection, OptionalExtension, params};

use super::Mark;
use crate::ids::IdHasher;

/// The layout of the tables this build writes; an index of another is rebuilt.
const FORMAT: i64 = 4;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER);
CREATE TABLE IF NOT EXISTS blocks(first INTEGER PRIMARY KEY, last INTEGER NOT NULL,
    min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL, entries BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS postings(field INTEGER NOT NULL, name TEXT NOT NULL,
    last INTEGER NOT NULL, first INTEGER NOT NULL, min_ts INTEGER NOT NULL,
    max_ts INTEGER NOT NULL, entries BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS postings_key ON postings(field, name, last);
CREATE TABLE IF NOT EXISTS stream_runs(stream TEXT NOT NULL, last_version INTEGER NOT NULL,
    first_version INTEGER NOT NULL, entries BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS stream_runs_key ON stream_runs(stream, last_version);
CREATE TABLE IF NOT EXISTS ids(bucket INTEGER NOT NULL, last INTEGER NOT NULL,
    level INTEGER NOT NULL, entries BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS ids_level ON ids(level, bucket);
CREATE UNIQUE INDEX IF NOT EXISTS ids_key ON ids(bucket, last);
-- Each pass counts the passes gathered at a level (`pass.rs`) from this index alone.
CREATE INDEX IF NOT EXISTS ids_passes ON ids(level, last);
CREATE TABLE IF NOT EXISTS counts(kind INTEGER NOT NULL, name TEXT NOT NULL,
    n INTEGER NOT NULL, PRIMARY KEY(kind, name));
CREATE TABLE IF NOT EXISTS streams(name TEXT PRIMARY KEY, last_version INTEGER NOT NULL,
    events INTEGER NOT NULL);
";

const TABLES: [&str; 7] = [
    "blocks",
    "postings",
    "stream_runs",
    "ids",
    "counts",
    "streams",
    "meta",
];

/// `counts.kind` of event types.
pub(crate) const KIND_TYPE: i64 = 0;
/// `counts.kind` of aggregate types.
pub(crate) const KIND_AGGREGATE_TYPE: i64 = 1;

/// The store-wide totals the index maintains at its watermark.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) events: u64,
    pub(crate) first_position: Option<u64>,
    pub(crate) oldest_timestamp: Option<i64>,
    pub(crate) newest_timestamp: Option<i64>,
}

/// One stream as the index holds it at its watermark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StreamRow {
    pub(crate) name: String,
    /// The version of its last readable event.
    pub(crate) last_version: u64,
    pub(crate) events: u64,
}

/// What an open takes from the index.
#[derive(Clone, Debug)]
pub(crate) struct Loaded {
    pub(crate) hasher: IdHasher,
    /// The log file it describes (`None`: it describes none yet).
    pub(crate) log_inode: Option<u64>,
    pub(crate) mark: Mark,
    pub(crate) totals: Totals,
    pub(crate) by_type: Vec<(String, u64)>,
    pub(crate) by_aggregate_type: Vec<(String, u64)>,
    pub(crate) streams: Vec<StreamRow>,
}

/// Creates the tables, or empties them if they are of another format, and draws the id
/// hasher's key once.
pub(crate) fn prepare(connection: &Connection) -> rusqlite::Result<()> {
    // One transaction: one journal and one set of fsyncs for all of it.
    let connection = connection.unchecked_transaction()?;
    connection.execute_batch(CREATE)?;
    if meta(&connection, "format")? != Some(FORMAT) {
        let generation = meta(&connection, "generation")?.unwrap_or(0);
        for table in TABLES {
            connection.execute_batch(&format!("DELETE FROM {table}"))?;
        }
        set_meta(&connection, "format", Some(FORMAT))?;
        set_meta(&connection, "generation", Some(generation + 1))?;
    }
    if meta(&connection, "hash_key_0")?.is_none() {
        let (k0, k1) = IdHasher::random().key();
        set_meta(&connection, "hash_key_0", Some(k0.cast_signed()))?;
        set_meta(&connection, "hash_key_1", Some(k1.cast_signed()))?;
    }
    connection.commit()
}

/// Empties the index, in a new generation, as describing nothing of the log `log_inode` yet.
pub(crate) fn reset(connection: &Connection, log_inode: u64) -> rusqlite::Result<Mark> {
    let transaction = connection.unchecked_transaction()?;
    let generation = meta(&transaction, "generation")?.unwrap_or(0) + 1;
    for table in TABLES.iter().filter(|t| **t != "meta") {
        transaction.execute_batch(&format!("DELETE FROM {table}"))?;
    }
    transaction.execute(
        "DELETE FROM meta WHERE key NOT IN ('format', 'hash_key_0', 'hash_key_1')",
        [],
    )?;
    set_meta(&transaction, "generation", Some(generation))?;
    set_meta(&transaction, "log_inode", Some(log_inode.cast_signed()))?;
    transaction.commit()?;
    Ok(Mark {
        generation: generation.cast_unsigned(),
        ..Mark::default()
    })
}

/// Makes a new, empty index (just prepared) the successor of one of generation `previous`:
/// the next generation, the same id hasher's key, describing nothing of the log `log_inode`
/// yet.
pub(crate) fn succeed(
    connection: &Connection,
    previous: u64,
    key: (u64, u64),
    log_inode: u64,
) -> rusqlite::Result<Mark> {
    let transaction = connection.unchecked_transaction()?;
    let generation = previous + 1;
    set_meta(&transaction, "generation", Some(generation.cast_signed()))?;
    set_meta(&transaction, "hash_key_0", Some(key.0.cast_signed()))?;
    set_meta(&transaction, "hash_key_1", Some(key.1.cast_signed()))?;
    set_meta(&transaction, "log_inode", Some(log_inode.cast_signed()))?;
    transaction.commit()?;
    Ok(Mark {
        generation,
        ..Mark::default()
    })
}

/// The index's generation.
pub(crate) fn generation(connection: &Connection) -> rusqlite::Result<u64> {
    Ok(meta(connection, "generation")?.unwrap_or(0).cast_unsigned())
}

/// What the index holds, if its tables are of this format (a read-only open changes nothing).
pub(crate) fn load_if_current(connection: &Connection) -> rusqlite::Result<Option<Loaded>> {
    let tables: i64 = connection.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        [],
        |row| row.get(0),
    )?;
    if tables == 0 || meta(connection, "format")? != Some(FORMAT) {
        return Ok(None);
    }
    load(connection).map(Some)
}

/// What the index holds.
pub(crate) fn load(connection: &Connection) -> rusqlite::Result<Loaded> {
    let unsigned = |key: &str| -> rusqlite::Result<Option<u64>> {
        Ok(meta(connection, key)?.map(i64::cast_unsigned))
    };
    let hasher = IdHasher::with_key(
        unsigned("hash_key_0")?.unwrap_or(0),
        unsigned("hash_key_1")?.unwrap_or(0),
    );
    let mark = Mark {
        position: unsigned("through_position")?.unwrap_or(0),
        offset: unsigned("through_offset")?.unwrap_or(0),
        line: unsigned("through_line")?.unwrap_or(0),
        generation: unsigned("generation")?.unwrap_or(0),
    };
    let totals = Totals {
        events: unsigned("total_events")?.unwrap_or(0),
        first_position: unsigned("first_position")?,
        oldest_timestamp: meta(connection, "oldest_timestamp")?,
        newest_timestamp: meta(connection, "newest_timestamp")?,
    };
    let mut counts = connection.prepare("SELECT kind, name, n FROM counts")?;
    let (mut by_type, mut by_aggregate_type) = (Vec::new(), Vec::new());
    for row in counts.query_map([], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
        ))
    })? {
        let (kind, name, n) = row?;
        let list = if kind == KIND_TYPE {
            &mut by_type
        } else {
            &mut by_aggregate_type
        };
        list.push((name, n.cast_unsigned()));
    }
    let mut streams = connection.prepare("SELECT name, last_version, events FROM streams")?;
    let streams = streams
        .query_map([], |row| {
            Ok(StreamRow {
                name: row.get(0)?,
                last_version: row.get::<_, i64>(1)?.cast_unsigned(),
                events: row.get::<_, i64>(2)?.cast_unsigned(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Loaded {
        hasher,
        log_inode: unsigned("log_inode")?,
        mark,
        totals,
        by_type,
        by_aggregate_type,
        streams,
    })
}

pub(crate) fn meta(connection: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    Ok(connection
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |row| row.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

pub(crate) fn set_meta(
    connection: &Connection,
    key: &str,
    value: Option<i64>,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")?
        .execute(params![key, value])?;
    Ok(())
}
