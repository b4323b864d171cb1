//! The integrity checks of a store file: the cheap ones every open runs, SQLite's
//! `quick_check` when the last writer did not close cleanly, and the full `integrity_check`
//! that `annal verify --deep` asks for.
//!
//! Cost is what decides which runs when. Every open reads the schema's table list, a few `meta`
//! rows and the newest event (the right edge of the events B-tree): a few pages, whatever the
//! store's size; SQLite itself refuses a file shorter than its header's page count there. `quick_check` reads every page (about a second per
//! gigabyte here), so a writer runs it only when the file may have changed outside a clean
//! writer's hands (`clean_close.rs`). `integrity_check` also cross-checks every index entry.
//!
//! Invariant: every check reads through a read-only connection; a file that fails one is
//! reported with what was found and never written.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OptionalExtension};

use crate::error::OpenError;
use crate::schema::{classify, open_for_inspection};

/// The tables of an annal store at each schema version (version `v` needs the first
/// `TABLES_BY_VERSION[v - 1]` of [`TABLES`]).
const TABLES: [&str; 9] = [
    "events",
    "streams",
    "types",
    "aggregate_types",
    "snapshots",
    "projections",
    "meta",
    "id_runs",
    "id_run_chunks",
];

/// How many of [`TABLES`] each schema version has (version 2's id tables went in version 3;
/// version 5's index tables are derived data, rebuilt when missing, so no open requires them).
const TABLES_BY_VERSION: [usize; 5] = [7, 7, 9, 9, 9];

/// Problems a check lists before it stops counting.
const PROBLEMS_LISTED: usize = 10;

/// The path of the WAL beside `path` (SQLite names it after the file a symlink points to).
pub(crate) fn wal_path(path: &Path) -> PathBuf {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut wal = real.into_os_string();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Whether a WAL file lies beside `path`. An empty one holds no commit, so a database file
/// beside it is complete; a missing one may have taken commits with it.
pub(crate) fn has_wal(path: &Path) -> bool {
    wal_path(path).exists()
}

/// The cheap checks of an annal store at schema `version`, run at every open on the inspection
/// connection: the tables, the `meta` rows
/// and the newest event; then that the file is not missing the WAL it was written through
/// (`wal_marker.rs`), unless the lock file's `lock_text` says its writer's close left it
/// complete.
pub(crate) fn cheap(
    path: &Path,
    connection: &Connection,
    version: i64,
    lock_text: &str,
) -> Result<(), OpenError> {
    let damaged = |problem: String| failed(path, "the open's check", problem);
    let wanted = usize::try_from(version - 1)
        .ok()
        .and_then(|index| TABLES_BY_VERSION.get(index))
        .copied()
        .unwrap_or(TABLES.len());
    for table in &TABLES[..wanted] {
        let found: Option<i64> = connection
            .query_row(
                "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| classify(path, e))?;
        if found.is_none() {
            return Err(damaged(format!("table {table} is missing")));
        }
    }
    let newest = "SELECT position, stream_id, version, id, length(payload), length(metadata) \
                  FROM events ORDER BY position DESC LIMIT 1";
    connection
        .query_row(newest, [], |_| Ok(()))
        .optional()
        .map_err(|e| classify(path, e))?;
    let meta = connection
        .prepare("SELECT key, value FROM meta")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| classify(path, e))?;
    let value_of = |wanted: &str| {
        meta.iter()
            .find(|(key, _)| key == wanted)
            .map(|(_, value)| *value)
    };
    let writer_open = value_of("writer_open").is_some_and(|value| value != 0);
    // The same file the writer opened, not a copy: its WAL was copied into it and removed at a
    // close.
    let same_file =
        value_of("writer_file").is_some_and(|id| id != 0 && id == crate::wal_marker::file_id(path));
    // A writer that closed after a failure could not clear the marker, but closing its
    // connection copied the WAL into the file and removed it: its record in the lock file says so.
    if writer_open && !same_file && !has_wal(path) && !crate::clean_close::complete(lock_text, path)
    {
        return Err(OpenError::MissingWal {
            path: path.to_path_buf(),
            wal: wal_path(path),
        });
    }
    Ok(())
}

/// Runs SQLite's `quick_check` (every page, no index cross-checks) on a read-only connection.
pub(crate) fn quick_check(path: &Path) -> Result<(), OpenError> {
    pragma_check(path, "quick_check")
}

/// Runs SQLite's full `integrity_check` (every page and every index entry against its row).
pub(crate) fn integrity_check(path: &Path) -> Result<(), OpenError> {
    pragma_check(path, "integrity_check")
}

fn pragma_check(path: &Path, pragma: &'static str) -> Result<(), OpenError> {
    let connection = open_for_inspection(path).map_err(|e| classify(path, e))?;
    let problems = connection
        .prepare(&format!("PRAGMA {pragma}({PROBLEMS_LISTED})"))
        .and_then(|mut statement| {
            statement
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(|error| match error.sqlite_error_code() {
            // The check stopped at damage it could not step over: that is its finding.
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                failed(path, pragma, error.to_string())
            }
            _ => classify(path, error),
        })?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(failed(path, pragma, problems.join("; ")))
}

fn failed(path: &Path, check: &'static str, problems: String) -> OpenError {
    OpenError::FailedCheck {
        path: path.to_path_buf(),
        check,
        problems,
    }
}
