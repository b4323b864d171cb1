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

/// A plain rusqlite insert loop of `rows` (stream, type, timestamp, id, payload) into a bare
/// table, `per_transaction` rows per durable commit (WAL, synchronous=FULL). Returns rows/s.
pub(crate) fn rusqlite_insert(
    dir: &Path,
    rows: &[(String, String, i64, String, String)],
    per_transaction: usize,
) -> anyhow::Result<f64> {
    let path = dir.join("rusqlite-ceiling.db");
    let mut connection = Connection::open(&path)?;
    connection.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE events(position INTEGER PRIMARY KEY, stream TEXT, version INTEGER,
                             type TEXT, timestamp INTEGER, id TEXT, payload TEXT);",
    )?;
    let started = Instant::now();
    for (chunk_idx, chunk) in rows.chunks(per_transaction.max(1)).enumerate() {
        let transaction = connection.transaction()?;
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO events(stream, version, type, timestamp, id, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (row_idx, (stream, event_type, timestamp, id, payload)) in chunk.iter().enumerate()
            {
                let version = (chunk_idx * per_transaction + row_idx + 1) as i64;
                insert.execute(params![stream, version, event_type, timestamp, id, payload])?;
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
