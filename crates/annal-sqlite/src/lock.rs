//! The writer lock: an OS file lock on a sidecar `<db>.lock` file, held for the writer's
//! lifetime.
//!
//! Invariant: at most one writer per database file, across processes and within one. The OS
//! releases the lock when the holder dies, so a crash never leaves a stale lock behind; the pid
//! written into the file only names the holder in error messages and is never trusted.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use annal_core::backend::{LockError, OsLock, peek_lock};

use crate::clean_close::Closed;
use crate::error::OpenError;

/// A held writer lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct WriterLock {
    lock: OsLock,
    /// What the lock file held when the lock was taken: the last writer's clean-close record,
    /// if it left one (`clean_close.rs`), or the record of a creation under way (`creation.rs`).
    previous: String,
    /// Whether the lock file records a creation under way (`creation.rs`): every rewrite of
    /// it keeps that record until [`WriterLock::finish_creation`].
    creating: bool,
}

impl WriterLock {
    /// Whether the last writer closed the database at `db_path` cleanly and nothing changed it
    /// since.
    pub(crate) fn closed_cleanly(&self, db_path: &Path) -> bool {
        crate::clean_close::matches(&self.previous, db_path)
    }

    /// What the lock file held when the lock was taken.
    pub(crate) fn previous(&self) -> &str {
        &self.previous
    }

    /// Records in the lock file how the writer's connection to `db_path` ended (`clean`: see
    /// [`Closed::after`]), once it is closed and just before the lock goes. A failure only
    /// costs the next writer a `quick_check`.
    pub(crate) fn record_close(&mut self, db_path: &Path, clean: bool) {
        let Some(record) = Closed::after(db_path, clean)
            .and_then(|closed| crate::clean_close::record(db_path, closed))
        else {
            return;
        };
        let creating = self.creating;
        let file = self.lock.file();
        let _ = file.set_len(0).and_then(|()| {
            file.seek(SeekFrom::Start(0))?;
            write!(file, "pid {}\n{record}\n", std::process::id())?;
            if creating {
                writeln!(file, "{}", crate::creation::UNDER_WAY)?;
            }
            file.sync_data()
        });
    }

    /// Records, durably (the lock file and its directory synced), that a new store's creation
    /// at `db_path` is under way, before its first byte is written. A record the lock file
    /// already held when the lock was taken stays as it is: rewriting it would open a moment
    /// in which a power loss leaves neither it nor the file's content.
    pub(crate) fn begin_creation(&mut self, db_path: &Path) -> Result<(), OpenError> {
        if !self.creating {
            self.lock
                .rewrite_synced(&[crate::creation::UNDER_WAY])
                .map_err(|source| self.io_error(db_path, source))?;
            self.creating = true;
        }
        Ok(())
    }

    /// Erases the record of a creation under way, durably, once the new store is.
    pub(crate) fn finish_creation(&mut self, db_path: &Path) -> Result<(), OpenError> {
        self.lock
            .rewrite_synced(&[])
            .map_err(|source| self.io_error(db_path, source))?;
        self.creating = false;
        Ok(())
    }

    fn io_error(&self, db_path: &Path, source: std::io::Error) -> OpenError {
        OpenError::Io {
            context: "recording a store's creation in the lock file",
            path: lock_path(db_path),
            source,
        }
    }
}

/// The sidecar lock file's path for a database at `db_path`.
pub(crate) fn lock_path(db_path: &Path) -> PathBuf {
    let mut name = resolved(db_path).into_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// The database's real location: two spellings of one file (a symlink, `./a/../db`) must map to
/// one lock, or two writers could hold the same database.
fn resolved(db_path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(db_path) {
        return real;
    }
    // The file does not exist yet: resolve its directory, which must exist to create it.
    let parent = match db_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(parent), db_path.file_name()) {
        (Ok(real_parent), Some(file_name)) => real_parent.join(file_name),
        _ => db_path.to_path_buf(),
    }
}

/// Takes the writer lock for `db_path`, waiting up to `timeout` for another holder to let go.
pub(crate) fn acquire(db_path: &Path, timeout: Duration) -> Result<WriterLock, OpenError> {
    let lock_path = lock_path(db_path);
    let mut lock = OsLock::acquire(&lock_path, timeout).map_err(|error| match error {
        LockError::InUse { holder } => OpenError::InUse {
            path: db_path.to_path_buf(),
            holder,
            lock_path: lock_path.clone(),
        },
        LockError::Io { context, source } => OpenError::Io {
            context,
            path: lock_path.clone(),
            source,
        },
    })?;
    let previous = lock.text();
    let creating = crate::creation::under_way(&previous);
    if !creating {
        // Record who holds the lock, for the next opener's error message; this also erases
        // the last clean-close record, so a crash from here on leaves none. A creation's
        // record stays.
        lock.record_holder();
    }
    Ok(WriterLock {
        lock,
        previous,
        creating,
    })
}

/// What the lock file of the database at `db_path` holds (empty if there is none): read without
/// taking the lock, by opens that only inspect.
pub(crate) fn peek(db_path: &Path) -> String {
    peek_lock(&lock_path(db_path))
}
