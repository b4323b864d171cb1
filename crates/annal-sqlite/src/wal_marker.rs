//! `meta.writer_open`: 1 from a writer's open to its clean close, and copied into the database
//! file itself at both, so that the file alone tells whether commits may live in a WAL beside
//! it.
//!
//! In WAL mode a commit reaches the database file only at a WAL copy (SQLite's checkpoint). A
//! copy of the file without its `-wal` is an older state of the store (or, for a store whose WAL
//! was never copied, a database without tables), and a writer would carry on from there, reusing
//! positions the store had acknowledged. With the marker, the open's check (`check.rs`) finds
//! `writer_open = 1` in a file with no WAL beside it and refuses it ([`OpenError::MissingWal`]),
//! unless the file is the one the writer opened (`meta.writer_file`, its inode number): a
//! writer that failed cannot always clear the marker, and closing its connection still
//! copies the WAL into the file and removes it.
//!
//! Invariant: once the open's WAL copy has run, the database file holds `writer_open = 1`
//! until a clean close, so a copy of it taken without the WAL is refused. The open commits the
//! marker and copies it into the file before any append; a new store's schema reaches the file
//! with it. (A copy taken before that WAL copy, in the moment between a new store's first commit
//! and its WAL copy, or while a reader in another process holds WAL copies back, is the state of
//! the last clean close, complete as of then, or a database without tables.)
//!
//! [`OpenError::MissingWal`]: crate::OpenError::MissingWal

use std::path::Path;

use rusqlite::Connection;
use rusqlite::config::DbConfig;

/// Sets the marker at a writer's open and copies it from the WAL into the database file (which,
/// for a new store, also copies the schema there).
pub(crate) fn mark_open(connection: &Connection, path: &Path) -> rusqlite::Result<()> {
    // From here until `mark_closed`, closing the connection must not copy the WAL into
    // the file and delete it: after a failure that would leave `writer_open = 1` in a file
    // without a WAL.
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    connection.execute("UPDATE meta SET value = 1 WHERE key = 'writer_open'", [])?;
    connection.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('writer_file', ?1)",
        [file_id(path)],
    )?;
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

/// The identity of the database file (its inode number), kept in `meta.writer_file` at the
/// open: a copy is another file, while the original whose WAL SQLite copied into it and
/// removed at a close that could not clear the marker (after a failure) is the same file.
/// 0 where it cannot be read.
pub(crate) fn file_id(path: &Path) -> i64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(metadata) = std::fs::metadata(path) {
            return i64::from_le_bytes(metadata.ino().to_le_bytes());
        }
    }
    let _ = path;
    0
}

/// Clears the marker at a clean close, and only then lets closing the connection copy the WAL
/// into the file and remove the WAL ([`mark_open`] turned that off).
pub(crate) fn mark_closed(connection: &Connection) -> rusqlite::Result<()> {
    connection.execute("UPDATE meta SET value = 0 WHERE key = 'writer_open'", [])?;
    connection
        .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)
        .map(|_| ())
}
