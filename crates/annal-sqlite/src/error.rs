//! [`OpenError`]: why a store could not be opened.
//!
//! Every variant names the file. None of them leaves the file changed: the checks that produce
//! them run on a read-only connection before anything is written.

use std::path::PathBuf;

/// Errors from [`SqliteStore::open`](crate::SqliteStore::open).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another writer holds the store (in this process or another one).
    #[error(
        "{path} is in use by another writer{holder} (lock file {lock_path}); stop it, wait for \
         it with a lock timeout, or open the store read-only"
    )]
    InUse {
        /// The database file.
        path: PathBuf,
        /// The sidecar lock file.
        lock_path: PathBuf,
        /// Who holds it, as recorded in the lock file (" (pid 1234)"), or empty if unknown.
        holder: String,
    },
    /// The file exists but is not an annal store; it was left untouched.
    #[error("{path} is not an annal store: {reason}")]
    NotAnnalStore {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The store was written by a newer annal; it was left untouched.
    #[error(
        "{path} has schema version {found}, newer than the {supported} this annal understands; \
         upgrade annal"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// The store needs a schema upgrade, which a read-only open cannot do.
    #[error(
        "{path} has schema version {found} and needs an upgrade to {supported}; open it for \
         writing once"
    )]
    NeedsUpgrade {
        /// The file.
        path: PathBuf,
        /// The schema version in the file.
        found: i64,
        /// The version an upgrade would bring it to.
        supported: i64,
    },
    /// A read-only open of a file that does not exist.
    #[error("{path} does not exist")]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// SQLite reports the file as damaged; it was left untouched.
    #[error("{path} is damaged")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// SQLite's diagnosis.
        #[source]
        source: rusqlite::Error,
    },
    /// An integrity check found the file damaged; it was left untouched.
    #[error(
        "{path} is damaged ({check} found: {problems}); it was left untouched: restore a backup, \
         or copy out what reads with the sqlite3 shell's .recover"
    )]
    FailedCheck {
        /// The file.
        path: PathBuf,
        /// Which check: the open's cheap one, `quick_check` or `integrity_check`.
        check: &'static str,
        /// What it found, as SQLite words it.
        problems: String,
    },
    /// The file was written through a WAL that is not beside it (a copy of the database
    /// without its `-wal` file, say): its newest commits are missing. It was left untouched.
    #[error(
        "{path} was being written through its WAL {wal}, which is missing: the newest commits \
         are not in the database file (was it copied without its -wal file?); it was left \
         untouched: put the WAL back beside it, or copy a live store with `annal backup`"
    )]
    MissingWal {
        /// The database file.
        path: PathBuf,
        /// Where its WAL should be.
        wal: PathBuf,
    },
    /// Reading, locking or creating a file failed.
    #[error("{context} {path}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A SQLite call failed while opening or preparing the store.
    #[error("{context} {path}")]
    Sqlite {
        /// What was being done.
        context: &'static str,
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: rusqlite::Error,
    },
    /// The writer thread could not be started.
    #[error("starting the writer thread for {path}")]
    Thread {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}
