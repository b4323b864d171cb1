//! The derived index on disk, `index.sqlite`: what the in-memory index holds, for the events up
//! to a watermark, so an open reads the log only after it and memory holds only that tail.
//!
//! - **Derived, behind the commit.** Appends never touch it. The writer moves the in-memory
//!   index's events into it in one SQLite transaction (a *pass*, `pass.rs`) once
//!   [`crate::OpenOptions`]'s `index_every` events have gathered after the watermark, and at a
//!   clean close; the same transaction moves the watermark ([`Mark`]). The log is synced before a
//!   pass, so the index never covers bytes a power loss could take back.
//! - **Trusted only when it matches the log.** An open uses it only if it names the log file
//!   (its inode), its watermark lies within the synced log, and the line just before the
//!   watermark is the one it says; otherwise a writer rebuilds it from the log. Every line read
//!   through it is still checked (checksum, position, and the query's filter).
//! - **Generations.** A compaction rewrites the log and the index with it, under a new
//!   generation; a read that began before runs its disk query in a transaction that checks the
//!   generation first and starts over if it moved (`Stale`).
//! - **Tables** (`schema.rs`), each blob a list of delta-encoded records (`records.rs`): `blocks`
//!   (every event by position, in runs of [`crate::postings::BLOCK`], with their time bounds),
//!   `postings` (per event type, aggregate type, source, correlation and causation id, per
//!   pass), `stream_runs` (per stream and pass, by version), `ids` (by keyed hash, in 1,024
//!   buckets per pass), and the maintained `counts`, `streams` and `meta`.
//!
//! Rollback journal, not WAL: a read-only open in another process must write nothing, and a WAL
//! reader creates files. The journal (`index.sqlite-journal`) is truncated after each pass,
//! not deleted, so passes add and remove no directory entries. `synchronous=FULL`: a pass is rare, and a damaged index would only be
//! rebuilt, but one that opens and answers wrongly must not happen.

pub(crate) mod check;
pub(crate) mod lookup;
pub(crate) mod pass;
pub(crate) mod records;
mod schema;
mod trust;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use annal_core::StorageError;
use rusqlite::{Connection, OpenFlags};

pub(crate) use schema::{Loaded, Totals, reset, succeed};

/// How long a statement waits for another connection's lock (a pass, or a reader).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Prepared statements each connection keeps.
const STATEMENTS_CACHED: usize = 64;

/// Read connections kept for reuse; more are opened when more reads run at once.
const IDLE_READERS_MAX: usize = 8;

/// Where the derived index stands: the log it covers, up to where, and its generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    /// The last position it covers (0: none).
    pub(crate) position: u64,
    /// The log offset just after the last line it covers.
    pub(crate) offset: u64,
    /// Lines before `offset`.
    pub(crate) line: u64,
    pub(crate) generation: u64,
}

/// The open derived index: its file, its id hasher, and idle read connections.
#[derive(Debug)]
pub(crate) struct DiskIndex {
    path: PathBuf,
    read_only: bool,
    idle: Mutex<Vec<Connection>>,
}

/// A read that met another generation than the one it began with: start it over.
#[derive(Debug)]
pub(crate) struct Stale;

impl DiskIndex {
    /// Opens (creating if missing) the index of the log `file` (inode `log_inode`) for a
    /// writer: the writer's own connection, the shared handle, and what it holds, emptied in a
    /// new generation unless it can be trusted for this log ([`trust`]).
    pub(crate) fn open_writer(
        path: &Path,
        file: &File,
        log_inode: u64,
    ) -> rusqlite::Result<(Connection, Self, Loaded)> {
        let connection = writer_connection(path)?;
        schema::prepare(&connection)?;
        let mut loaded = schema::load(&connection)?;
        if !trust::trusted(&connection, &loaded, file, log_inode, None) {
            reset(&connection, log_inode)?;
            loaded = schema::load(&connection)?;
        }
        let disk = Self::new(path, false);
        Ok((connection, disk, loaded))
    }

    /// Opens the index of the log `file` read-only, if it exists, is of this format and can be
    /// trusted up to `limit`; `None` otherwise (the store is then read from the log alone).
    pub(crate) fn open_read_only(
        path: &Path,
        file: &File,
        log_inode: u64,
        limit: Option<u64>,
    ) -> rusqlite::Result<Option<(Self, Loaded)>> {
        if !path.is_file() {
            return Ok(None);
        }
        let connection = Connection::open_with_flags(path, read_only_flags())?;
        let connection = configure(connection)?;
        // One read transaction: a writer's pass may commit while this reads.
        connection.execute_batch("BEGIN")?;
        let loaded = schema::load_if_current(&connection)?
            .filter(|loaded| trust::trusted(&connection, loaded, file, log_inode, limit));
        connection.execute_batch("COMMIT")?;
        let Some(loaded) = loaded else {
            return Ok(None);
        };
        let disk = Self::new(path, true);
        disk.put_back(connection);
        Ok(Some((disk, loaded)))
    }

    /// A new, empty index at `path` (replacing any file there) for a writer: its connection.
    pub(crate) fn create(path: &Path) -> rusqlite::Result<Connection> {
        for file in [path.to_path_buf(), journal_of(path)] {
            match std::fs::remove_file(&file) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(rusqlite::Error::ToSqlConversionFailure(Box::new(error)));
                }
                _ => {}
            }
        }
        let connection = writer_connection(path)?;
        schema::prepare(&connection)?;
        Ok(connection)
    }

    /// A writer's connection to the index at `path`, as it is.
    pub(crate) fn open_existing(path: &Path) -> rusqlite::Result<Connection> {
        writer_connection(path)
    }

    /// The handle readers use for the index at `path`, which a writer has open.
    pub(crate) fn at(path: &Path) -> Self {
        Self::new(path, false)
    }

    fn new(path: &Path, read_only: bool) -> Self {
        Self {
            path: path.to_path_buf(),
            read_only,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` in one read transaction that first checks the index is still of
    /// `generation`.
    pub(crate) fn read<T>(
        &self,
        generation: u64,
        read: impl FnOnce(&Connection) -> Result<T, String>,
    ) -> Result<Result<T, Stale>, StorageError> {
        let failure = |reason: String| StorageError::Corrupted {
            location: self.path.display().to_string(),
            reason,
        };
        let connection = self.take().map_err(|e| failure(e.to_string()))?;
        let result = (|| {
            connection
                .execute_batch("BEGIN")
                .map_err(|e| e.to_string())?;
            let outcome = match schema::generation(&connection).map_err(|e| e.to_string())? {
                found if found == generation => read(&connection).map(Ok),
                _ => Ok(Err(Stale)),
            };
            connection
                .execute_batch("COMMIT")
                .map_err(|e| e.to_string())?;
            outcome
        })();
        if result.is_ok() {
            self.put_back(connection);
        }
        result.map_err(failure)
    }

    fn take(&self) -> rusqlite::Result<Connection> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(connection) => Ok(connection),
            None if self.read_only => {
                configure(Connection::open_with_flags(&self.path, read_only_flags())?)
            }
            None => configure(Connection::open(&self.path)?),
        }
    }

    fn put_back(&self, connection: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE_READERS_MAX
        {
            idle.push(connection);
        }
    }
}

/// The rollback journal SQLite keeps beside the index while a pass commits.
pub(crate) fn journal_of(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-journal", path.display()))
}

/// A connection that writes passes. Its rollback journal is truncated after each commit, not
/// deleted: a pass then creates and removes no file in the store's directory.
fn writer_connection(path: &Path) -> rusqlite::Result<Connection> {
    let connection = configure(Connection::open(path)?)?;
    connection.pragma_update(None, "journal_mode", "TRUNCATE")?;
    Ok(connection)
}

fn read_only_flags() -> OpenFlags {
    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
}

fn configure(connection: Connection) -> rusqlite::Result<Connection> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // A pass and its merges use more distinct statements than the default cache keeps.
    connection.set_prepared_statement_cache_capacity(STATEMENTS_CACHED);
    Ok(connection)
}
