//! Opening SQLite connections with the settings each role needs: the writer's and the readers'.
//!
//! The settings are the ones `docs/sqlite-schema.md` measured. Durability lives here: in WAL
//! mode `synchronous=FULL` fsyncs the WAL at every commit, so a commit that returned is on disk;
//! `synchronous=NORMAL` fsyncs only at WAL copies, which survives a killed process (the OS
//! still holds the written pages) but not an OS crash or power loss.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::options::{Durability, OpenOptions};

/// The writer's page cache. The hot set is the right edge of the events table and of each index
/// plus the tail leaf of every active stream in `events_stream` (4 MiB for 1,000 streams); a
/// cache that holds it turns index maintenance into pure WAL writes with no reads. It is no
/// larger: until a cache is full, every new page is a fresh allocation on the writer thread,
/// which grows its heap a page at a time, so a larger cache measured slower inserts and a larger
/// peak RSS (figures in `docs/sqlite-schema.md`, "Writer cache 16 MiB").
pub(crate) const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// Each reader's page cache: SQLite's default size. Long reads touch each page once and the OS
/// caches the file anyway; with several readers fetching ranges of the log at once, a larger
/// cache each measured a larger peak RSS and slower replays, not faster ones (figures in
/// `BENCHMARKS.md`, "Figures behind constants in the code").
pub(crate) const READER_CACHE_KIB: i64 = 2 * 1024;

/// WAL pages after which a commit also copies the WAL (SQLite's `wal_autocheckpoint`, default
/// 1,000). WAL copies normally run on the WAL copier thread long before this; it is the
/// backstop that bounds the WAL (256 MiB) if that thread falls behind.
pub(crate) const AUTOMATIC_WAL_COPY_PAGES: i64 = 64 * 1024;

/// How long a connection waits on a lock held by another connection before giving up. Readers
/// in WAL mode never wait on the writer; this covers WAL copies and WAL recovery at open.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens the writer's connection (creating the file if needed) and applies its settings.
pub(crate) fn open_writer(path: &Path, options: &OpenOptions) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // page_size only takes effect on a new file, before its first table.
    connection.execute_batch("PRAGMA page_size = 4096")?;
    let mode = set_journal_mode_wal(&connection)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode stayed {mode}; annal needs WAL"
        )));
    }
    let synchronous = match options.durability {
        Durability::Durable => "FULL",
        Durability::Relaxed => "NORMAL",
    };
    connection.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous};
         PRAGMA cache_size = -{WRITER_CACHE_KIB};
         PRAGMA wal_autocheckpoint = {AUTOMATIC_WAL_COPY_PAGES};
         PRAGMA temp_store = MEMORY;
         PRAGMA foreign_keys = OFF;"
    ))?;
    if let Some(bytes) = options.max_size_bytes {
        let pages = (bytes / 4096).max(1);
        connection.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
    }
    Ok(connection)
}

/// Runs `PRAGMA journal_mode = WAL` to its end and returns the mode it answered. On a new file
/// the pragma answers "wal" before the commit that writes the change into the header, and a
/// failure of that commit (a failed fsync) shows only at the statement's next step, which
/// `query_row` never reports: the header would be rolled back while the connection went on
/// writing through a rollback journal.
fn set_journal_mode_wal(connection: &Connection) -> rusqlite::Result<String> {
    let mut statement = connection.prepare("PRAGMA journal_mode = WAL")?;
    let mut rows = statement.query([])?;
    let mode = match rows.next()? {
        Some(row) => row.get(0)?,
        None => String::new(),
    };
    while rows.next()?.is_some() {}
    Ok(mode)
}

/// Opens the WAL copier's connection: it only copies the WAL, never writes transactions.
pub(crate) fn open_wal_copier(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    let synchronous = match durability {
        Durability::Durable => "FULL",
        Durability::Relaxed => "NORMAL",
    };
    connection.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous}; PRAGMA wal_autocheckpoint = 0;"
    ))?;
    Ok(connection)
}

/// Opens a read-only connection; it can never write, and in WAL mode never blocks the writer.
pub(crate) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.execute_batch(&format!(
        "PRAGMA cache_size = -{READER_CACHE_KIB}; PRAGMA query_only = ON;"
    ))?;
    Ok(connection)
}
