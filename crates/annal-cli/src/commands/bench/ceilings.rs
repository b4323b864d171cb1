//! The hardware ceilings `annal bench` prints beside annal's figures, measured in the same run
//! on the same disk: a raw write+fsync loop, a raw rusqlite insert of the same rows, and a raw
//! sequential read of the store file.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rusqlite::{Connection, params};

/// Appends of `record_bytes` each, each followed by `fdatasync`: the most any store can
/// acknowledge one durable append at a time. Returns appends per second.
pub(crate) fn fsync_loop(dir: &Path, appends: u64, record_bytes: usize) -> anyhow::Result<f64> {
    let path = dir.join("fsync-ceiling.bin");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let record = vec![b'x'; record_bytes];
    let started = Instant::now();
    for _ in 0..appends {
        file.write_all(&record)?;
        file.sync_data()?;
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(appends as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// One event row as annal's SQLite store writes it: names already coded as integers.
pub(crate) struct EventRow {
    pub(crate) stream_id: i64,
    pub(crate) type_id: i64,
    pub(crate) aggregate_type_id: i64,
    pub(crate) timestamp: i64,
    pub(crate) id: String,
    pub(crate) source: String,
    pub(crate) payload: String,
    pub(crate) metadata: String,
}

/// The table a plain insert loop writes its rows into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CeilingTable {
    /// annal's `events` table with its three indexes, as `annal-sqlite` creates it: the same rows
    /// stored the same way (the ceiling of the criterion benchmark in `annal-sqlite` too).
    AnnalSchema,
    /// The same columns without any secondary index: a stricter ceiling, which leaves out what
    /// annal's index on (stream, version) and its two partial indexes cost SQLite.
    Bare,
}

/// The `events` table of `annal-sqlite`'s schema.
const EVENTS_TABLE: &str = "
    CREATE TABLE events(position INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL,
        version INTEGER NOT NULL, type_id INTEGER NOT NULL,
        aggregate_type_id INTEGER NOT NULL, timestamp INTEGER NOT NULL, id TEXT NOT NULL,
        source TEXT NOT NULL, payload TEXT NOT NULL, metadata TEXT NOT NULL,
        causation_id TEXT, correlation_id TEXT) STRICT;";

/// The indexes `annal-sqlite` keeps on `events`.
const EVENTS_INDEXES: &str = "
    CREATE UNIQUE INDEX events_stream ON events (stream_id, version);
    CREATE INDEX events_correlation ON events (correlation_id) WHERE correlation_id IS NOT NULL;
    CREATE INDEX events_causation ON events (causation_id) WHERE causation_id IS NOT NULL;";

/// A plain rusqlite insert loop of `rows`, with every column annal stores, into `table`,
/// `per_transaction` rows per durable commit, with the settings annal's writer uses (WAL,
/// synchronous=FULL, its 16 MiB cache, its automatic WAL copy size): what SQLite alone needs
/// to make these rows durable. Returns rows/s.
pub(crate) fn rusqlite_insert(
    dir: &Path,
    rows: &[EventRow],
    per_transaction: usize,
    table: CeilingTable,
) -> anyhow::Result<f64> {
    let path = dir.join("rusqlite-ceiling.db");
    let mut connection = Connection::open(&path)?;
    connection.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-16384;
         PRAGMA wal_autocheckpoint=65536;",
    )?;
    connection.execute_batch(EVENTS_TABLE)?;
    if table == CeilingTable::AnnalSchema {
        connection.execute_batch(EVENTS_INDEXES)?;
    }
    let started = Instant::now();
    for (chunk_idx, chunk) in rows.chunks(per_transaction.max(1)).enumerate() {
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO events(position, stream_id, version, type_id, aggregate_type_id,
                     timestamp, id, source, payload, metadata, causation_id, correlation_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for (row_idx, row) in chunk.iter().enumerate() {
                let position = (chunk_idx * per_transaction + row_idx + 1) as i64;
                insert.execute(params![
                    position,
                    row.stream_id,
                    position,
                    row.type_id,
                    row.aggregate_type_id,
                    row.timestamp,
                    row.id,
                    row.source,
                    row.payload,
                    row.metadata,
                    None::<String>,
                    None::<String>,
                ])?;
            }
        }
        transaction.commit()?;
    }
    let elapsed = started.elapsed();
    drop(connection);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(rows.len() as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// Reads `path` start to end with a large buffer. Returns (bytes, elapsed).
pub(crate) fn sequential_read(path: &Path) -> anyhow::Result<(u64, Duration)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let started = Instant::now();
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        total += read as u64;
    }
    Ok((total, started.elapsed()))
}
