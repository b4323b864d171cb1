//! [`backup`]: a consistent copy of a store, live or not, into a new file that appears whole or
//! not at all.
//!
//! SQLite's online backup API copies every page under one read transaction, so the copy is the
//! store as of one commit, and in WAL mode the writer goes on meanwhile. The copy is written to a
//! temporary file in the destination's directory, made self-contained (rollback-journal mode,
//! `writer_open` cleared: every commit it holds is in the file), fsynced, renamed to the
//! destination without replacing anything, and the directory is fsynced, so that after a crash
//! the destination is either absent or the whole copy.
//!
//! Invariant: on any failure the destination does not exist and the temporary file and its
//! sidecars are removed; an existing destination is never touched.

use std::path::{Path, PathBuf};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::check::wal_path;
use crate::error::OpenError;
use crate::schema::{Found, inspect};

/// Why a backup failed. A failed backup leaves nothing behind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The destination exists; a backup never overwrites anything.
    #[error("{path} already exists; a backup never overwrites anything")]
    DestinationExists {
        /// The destination.
        path: PathBuf,
    },
    /// The source is not a store this build can read.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A SQLite call failed while copying.
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
    /// Creating, syncing or renaming a file failed.
    #[error("{context} {path}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// Copies the store at `source` into the new file `dest`; returns the copy's size in bytes.
///
/// Blocks on file I/O; from async code, call it via `spawn_blocking`.
pub fn backup(source: impl AsRef<Path>, dest: impl AsRef<Path>) -> Result<u64, BackupError> {
    let (source, dest) = (source.as_ref(), dest.as_ref());
    if dest.exists() {
        return Err(BackupError::DestinationExists {
            path: dest.to_path_buf(),
        });
    }
    match inspect(source, None)? {
        Found::Annal(_) => {}
        Found::Missing => {
            return Err(OpenError::NotFound {
                path: source.to_path_buf(),
            }
            .into());
        }
        Found::Empty => {
            return Err(OpenError::NotAnnalStore {
                path: source.to_path_buf(),
                reason: "it is empty (a writer creates the store)".into(),
            }
            .into());
        }
    }
    let dir = match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".annal-backup-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|source| io("creating a temporary file in", dir, source))?;
    let temp_path = temp.path().to_path_buf();
    let copied = copy(source, &temp_path).and_then(|()| {
        #[cfg(test)]
        tests::maybe_fail(dest)?;
        sync(&temp_path)
    });
    if let Err(error) = copied {
        remove_sidecars(&temp_path);
        // Dropping `temp` removes the file itself.
        return Err(error);
    }
    temp.persist_noclobber(dest).map_err(|error| {
        remove_sidecars(&temp_path);
        match error.error.kind() {
            std::io::ErrorKind::AlreadyExists => BackupError::DestinationExists {
                path: dest.to_path_buf(),
            },
            _ => io("renaming the copy to", dest, error.error),
        }
    })?;
    // The rename is durable only once the directory is.
    sync(dir)?;
    std::fs::metadata(dest)
        .map(|metadata| metadata.len())
        .map_err(|source| io("reading the size of", dest, source))
}

/// Copies every page of `source` into the new database `to`, then makes the copy stand alone.
fn copy(source: &Path, to: &Path) -> Result<(), BackupError> {
    let sqlite = |context, path: &Path| {
        let path = path.to_path_buf();
        move |source| BackupError::Sqlite {
            context,
            path,
            source,
        }
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let from = Connection::open_with_flags(source, flags).map_err(sqlite("opening", source))?;
    let mut copy = Connection::open(to).map_err(sqlite("opening the copy", to))?;
    {
        let backup = Backup::new(&from, &mut copy).map_err(sqlite("starting to copy", source))?;
        // All pages in one step (-1): one read transaction, so one consistent state.
        let step = backup.step(-1).map_err(sqlite("copying", source))?;
        if step != StepResult::Done {
            return Err(BackupError::Sqlite {
                context: "copying (the source stayed locked; retry)",
                path: source.to_path_buf(),
                source: rusqlite::Error::InvalidQuery,
            });
        }
    }
    // The pages carry the source's WAL mode and its `writer_open`; the copy has every commit
    // in its one file.
    copy.execute_batch(
        "PRAGMA journal_mode = DELETE; UPDATE meta SET value = 0 WHERE key = 'writer_open';",
    )
    .map_err(sqlite("making the copy self-contained:", to))?;
    copy.close()
        .map_err(|(_, source)| sqlite("closing the copy", to)(source))
}

/// fsyncs a file or a directory.
fn sync(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|source| io("syncing", path, source))
}

/// Removes what SQLite may have left beside a failed copy.
fn remove_sidecars(path: &Path) {
    for suffix in ["-journal", "-shm"] {
        let mut sidecar = path.as_os_str().to_owned();
        sidecar.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(sidecar));
    }
    let _ = std::fs::remove_file(wal_path(path));
}

fn io(context: &'static str, path: &Path, source: std::io::Error) -> BackupError {
    BackupError::Io {
        context,
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Destinations whose backup fails after the copy, before the rename.
    static FAILING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

    pub(super) fn maybe_fail(dest: &Path) -> Result<(), BackupError> {
        let failing = FAILING
            .lock()
            .is_ok_and(|paths| paths.iter().any(|p| p == dest));
        if failing {
            return Err(io(
                "syncing",
                dest,
                std::io::Error::other("injected failure"),
            ));
        }
        Ok(())
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A store holding one event, left open: the copy is of a live store.
    fn store_with_events(path: &Path) -> crate::SqliteStore {
        let store = crate::SqliteStore::open(path).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            use annal_core::Store;
            let event = annal_core::NewEvent::new(
                annal_core::EventType::new("agent:step").unwrap(),
                serde_json::json!({"n": 1}),
            );
            store
                .append(
                    &annal_core::StreamId::new("agent-1").unwrap(),
                    annal_core::ExpectedVersion::Any,
                    vec![event],
                )
                .await
                .unwrap();
        });
        store
    }

    #[test]
    fn a_failed_backup_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("live.db");
        let _live = store_with_events(&source);
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("copy.db");
        FAILING.lock().unwrap().push(dest.clone());
        let error = backup(&source, &dest).unwrap_err();
        assert!(error.to_string().contains("injected") || matches!(error, BackupError::Io { .. }));
        assert!(
            files_in(out.path()).is_empty(),
            "{:?}",
            files_in(out.path())
        );
    }

    #[test]
    fn a_backup_of_a_live_store_opens_alone_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("live.db");
        let _live = store_with_events(&source);
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("copy.db");
        let bytes = backup(&source, &dest).unwrap();
        assert_eq!(files_in(out.path()), ["copy.db"]);
        assert_eq!(bytes, std::fs::metadata(&dest).unwrap().len());
        // No WAL came with it, and none is needed.
        drop(crate::SqliteStore::open_read_only(&dest).unwrap());
        let before = std::fs::read(&dest).unwrap();
        let again = backup(&source, &dest).unwrap_err();
        assert!(
            matches!(again, BackupError::DestinationExists { .. }),
            "{again}"
        );
        assert!(std::fs::read(&dest).unwrap() == before);
    }
}
