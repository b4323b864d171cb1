//! Opening a store: inspect the file read-only, take the writer lock, create or upgrade the
//! schema, load the writer's state and start its thread (or, read-only, start the watcher).
//!
//! Invariant: nothing is written to a file before [`schema::inspect`] has found it missing,
//! empty or an annal store this build understands that passes the open's cheap check
//! (`check.rs`), and the writer lock is held; and, unless the last writer closed it cleanly and
//! nothing changed it since (`clean_close.rs`), before `quick_check` has passed. The writer's
//! connection opens only once the WAL found beside the file is on the disk as read
//! (`wal_write_back.rs`).

use std::path::{Path, PathBuf};

use annal_core::Position;
use tokio::sync::watch;

use crate::check;
use crate::connection::open_writer;
use crate::creation;
use crate::error::OpenError;
use crate::lock;
use crate::options::{Durability, OpenOptions};
use crate::poll::Poller;
use crate::schema::{self, Found, SCHEMA_VERSION};
use crate::store::{Handle, SqliteStore};
use crate::wal_marker;
use crate::wal_write_back;
use crate::writer::{WriterHandle, WriterState, as_corrupt};

/// The path that opens a private store that lives as long as its handle.
pub const MEMORY_PATH: &str = ":memory:";

/// Opens the store at `path` (see [`SqliteStore::open`]).
pub(crate) fn open(path: &Path, options: OpenOptions) -> Result<SqliteStore, OpenError> {
    if path.as_os_str() == MEMORY_PATH {
        return open_memory(options);
    }
    if options.read_only {
        open_read_only(path, options)
    } else {
        open_writer_store(path, options, None)
    }
}

/// A `:memory:` store is a private file in a temporary directory, deleted when the store is
/// dropped: SQLite's own in-memory databases cannot be shared between the writer's connection
/// and the readers' in WAL mode, and a file keeps one code path for every store.
fn open_memory(options: OpenOptions) -> Result<SqliteStore, OpenError> {
    if options.read_only {
        return Err(OpenError::NotFound {
            path: PathBuf::from(MEMORY_PATH),
        });
    }
    let dir = tempfile::Builder::new()
        .prefix("annal-memory-")
        .tempdir()
        .map_err(|source| OpenError::Io {
            context: "creating a temporary directory for",
            path: MEMORY_PATH.into(),
            source,
        })?;
    let path = dir.path().join("annal.db");
    // Nobody can reopen a private store, so waiting for the disk buys nothing.
    let options = options.durability(Durability::Relaxed);
    open_writer_store(&path, options, Some(dir))
}

fn open_writer_store(
    path: &Path,
    options: OpenOptions,
    temp_dir: Option<tempfile::TempDir>,
) -> Result<SqliteStore, OpenError> {
    if let Err(error) = schema::inspect(path, None) {
        // Only a file an interrupted creation left goes on, to be set aside under the lock.
        if !(creation::recoverable(&error) && creation::under_way(&lock::peek(path))) {
            return Err(error);
        }
    }
    let mut lock = lock::acquire(path, options.lock_timeout)?;
    // Again under the lock: the file may have changed while we waited for it.
    let inspected = inspect_under_lock(path, &lock);
    let creating = creation::prepare(path, &mut lock, inspected, temp_dir.is_none())?;
    // A WAL left by a writer that did not close cleanly may hold pages only the page cache has.
    wal_write_back::write_back(path)?;
    let connection = open_writer(path, &options).map_err(|e| writer_open_error(path, e))?;
    let creating = creating.then_some(&mut lock);
    match start_writer(connection, path, &options, creating) {
        Ok((writer, head)) => {
            let handle = Handle::writer(writer, lock, temp_dir, path);
            Ok(SqliteStore::new(path, options, head, handle))
        }
        Err(error) => {
            // The connection is closed: if it took its WAL with it, the lock file says so, or
            // the marker it may have set would make the next open take the file for a copy
            // that lost its WAL.
            lock.record_close(path, false);
            Err(error)
        }
    }
}

/// What the file at `path` holds, checked under the writer lock: the inspection, then, unless
/// the last writer closed it cleanly, `quick_check`: a crash, a copy or another program may
/// have left damage the open's cheap check cannot see, so every page is read before any is
/// written.
fn inspect_under_lock(path: &Path, lock: &lock::WriterLock) -> Result<Found, OpenError> {
    let found = schema::inspect(path, Some(lock.previous()))?;
    if matches!(found, Found::Annal(_)) && !lock.closed_cleanly(path) {
        check::quick_check(path)?;
    }
    Ok(found)
}

/// Upgrades the schema, loads the writer's state, marks the writer open and starts its thread;
/// on any failure the connection is closed before this returns. `creating` holds the lock when
/// it records a creation under way, which ends once the new store is durable.
fn start_writer(
    mut connection: rusqlite::Connection,
    path: &Path,
    options: &OpenOptions,
    creating: Option<&mut lock::WriterLock>,
) -> Result<(WriterHandle, watch::Receiver<Position>), OpenError> {
    let sqlite = |context| {
        move |source| OpenError::Sqlite {
            context,
            path: path.to_path_buf(),
            source,
        }
    };
    refuse_read_only(path, &connection)?;
    schema::migrate(&mut connection, path)?;
    let state = WriterState::load(&connection).map_err(|source| match as_corrupt(&source) {
        Some(corrupt) => OpenError::FailedCheck {
            path: path.to_path_buf(),
            check: "loading the writer's state",
            problems: corrupt.to_string(),
        },
        None => sqlite("loading the state of")(source),
    })?;
    // After the state loaded: a file whose values the writer cannot use stays untouched.
    wal_marker::mark_open(&connection, path).map_err(sqlite("marking the writer open in"))?;
    let mut state = state;
    state
        .prepare_index(&connection, options.index_every)
        .map_err(sqlite("preparing the derived index of"))?;
    sync_dir_of(path)?;
    if let Some(lock) = creating {
        creation::finish(path, lock)?;
    }
    let (head_sender, head) = watch::channel(Position::START);
    let writer = WriterHandle::start(
        connection,
        state,
        path.to_path_buf(),
        options.durability,
        options.wal_copy_after_bytes,
        head_sender,
    )
    .map_err(|source| OpenError::Thread {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((writer, head))
}

/// SQLite fsyncs the directory when it creates the WAL (or a new file) but ignores a failure
/// there, and the WAL's name is what keeps every acknowledged append findable after a power
/// loss. The open fsyncs the directory itself once the WAL exists, and fails if that fails.
fn sync_dir_of(path: &Path) -> Result<(), OpenError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| OpenError::Io {
            context: "syncing the directory of",
            path: path.to_path_buf(),
            source,
        })
}

/// A failure to open or set up the writer's connection: `Damaged` for a damaged file, else
/// an error saying it happened while opening for writing (the read-only inspection passed).
fn writer_open_error(path: &Path, source: rusqlite::Error) -> OpenError {
    match schema::classify(path, source) {
        OpenError::Sqlite { path, source, .. } => OpenError::Sqlite {
            context: "opening for writing",
            path,
            source,
        },
        other => other,
    }
}

/// SQLite falls back to a read-only handle when it cannot open the file for writing (no
/// permission, a full or failing disk), and says so only at the first write: the writer would
/// then fail its first append. The open fails instead, with the system's reason when opening
/// the file for writing still fails.
fn refuse_read_only(path: &Path, connection: &rusqlite::Connection) -> Result<(), OpenError> {
    let read_only = connection
        .is_readonly(rusqlite::MAIN_DB)
        .map_err(|source| OpenError::Sqlite {
            context: "checking write access to",
            path: path.to_path_buf(),
            source,
        })?;
    if !read_only {
        return Ok(());
    }
    let source = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Err(error) => error,
        Ok(_) => std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "SQLite could open it only for reading",
        ),
    };
    Err(OpenError::Io {
        context: "opening for writing",
        path: path.to_path_buf(),
        source,
    })
}

fn open_read_only(path: &Path, options: OpenOptions) -> Result<SqliteStore, OpenError> {
    match schema::inspect(path, None)? {
        Found::Missing => {
            return Err(OpenError::NotFound {
                path: path.to_path_buf(),
            });
        }
        Found::Empty => {
            return Err(OpenError::NotAnnalStore {
                path: path.to_path_buf(),
                reason: "it is empty (a writer creates the store)".into(),
            });
        }
        Found::Annal(version) if version < SCHEMA_VERSION => {
            return Err(OpenError::NeedsUpgrade {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Found::Annal(_) => {}
    }
    let (head_sender, head) = watch::channel(Position::START);
    let poller = Poller::start(path, options.poll_interval, head_sender).map_err(|source| {
        OpenError::Sqlite {
            context: "watching",
            path: path.to_path_buf(),
            source,
        }
    })?;
    let handle = Handle::read_only(poller, path);
    Ok(SqliteStore::new(path, options, head, handle))
}
