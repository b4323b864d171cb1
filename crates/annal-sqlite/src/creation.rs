//! A new store's creation, made safe against an interruption: the lock file records that a
//! creation is under way before the first byte of the new database file is written, and the
//! record goes only once the new store is durable (`open.rs`). A writer that finds the record
//! and a file that fails inspection knows the file is what an interrupted creation left (a torn
//! header, a hot rollback journal the read-only inspection cannot replay, a schema that never
//! reached the file): it moves the file and its sidecars aside and creates the store anew.
//!
//! Invariant: only a file whose creation never finished is set aside, and nothing is deleted:
//! it is renamed to `<db>.unfinished-<n>` (its `-wal`, `-shm` and `-journal` beside it under the
//! same name). No event was ever acknowledged in such a file, because a store's open returns only
//! after the record is gone. A file that fails inspection without the record is refused as
//! before, untouched; a read-only open never gets here.

use std::path::{Path, PathBuf};

use crate::error::OpenError;
use crate::lock::WriterLock;
use crate::schema::Found;

/// The line of the lock file that records a creation under way.
pub(crate) const UNDER_WAY: &str = "creation under way";

/// The sidecar files SQLite may keep beside a database file.
const SIDECARS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// How many `<db>.unfinished-<n>` names are tried before the open gives up.
const ASIDE_NAMES: u32 = 1_000;

/// Whether the lock file's `text` records a creation that never finished.
pub(crate) fn under_way(text: &str) -> bool {
    text.lines().any(|line| line.trim() == UNDER_WAY)
}

/// Whether a file that failed inspection with `error` may be what an interrupted creation left:
/// damage or a file SQLite cannot read, not a lock held elsewhere, a newer schema or a failure
/// to reach the file at all.
pub(crate) fn recoverable(error: &OpenError) -> bool {
    matches!(
        error,
        OpenError::NotAnnalStore { .. }
            | OpenError::Damaged { .. }
            | OpenError::FailedCheck { .. }
            | OpenError::MissingWal { .. }
            | OpenError::Sqlite { .. }
    )
}

/// Decides, under the writer lock, what the open does with what the inspection found at
/// `path`: `Ok(creating)`, where `creating` says the lock file records (durably, now) a
/// creation under way that the open must finish ([`finish`]). A file that failed inspection,
/// left by an interrupted creation, is moved aside first, and the store is created anew.
/// `record` is false for a private store nobody reopens.
pub(crate) fn prepare(
    path: &Path,
    lock: &mut WriterLock,
    inspected: Result<Found, OpenError>,
    record: bool,
) -> Result<bool, OpenError> {
    let unfinished = under_way(lock.previous());
    let found = match inspected {
        Ok(found) => found,
        Err(error) if unfinished && recoverable(&error) => {
            lock.begin_creation(path)?;
            set_aside(path)?;
            Found::Missing
        }
        Err(error) => return Err(error),
    };
    let creating = unfinished || (record && !matches!(found, Found::Annal(_)));
    if creating {
        lock.begin_creation(path)?;
    }
    Ok(creating)
}

/// Renames the unfinished database file at `path` and its sidecars to the first free
/// `<db>.unfinished-<n>`, then syncs the directory so the move is durable before a new file
/// takes the name.
fn set_aside(path: &Path) -> Result<(), OpenError> {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let io = |context, source| OpenError::Io {
        context,
        path: real.clone(),
        source,
    };
    let aside = (1..=ASIDE_NAMES)
        .map(|n| with_suffix(&real, &format!(".unfinished-{n}")))
        .find(|aside| {
            std::iter::once(String::new())
                .chain(SIDECARS.iter().map(|s| (*s).to_owned()))
                .all(|sidecar| !with_suffix(aside, &sidecar).exists())
        })
        .ok_or_else(|| {
            io(
                "finding a free name to set an unfinished store aside beside",
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            )
        })?;
    for sidecar in std::iter::once("").chain(SIDECARS) {
        let from = with_suffix(&real, sidecar);
        match std::fs::rename(&from, with_suffix(&aside, sidecar)) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(io("setting an unfinished store aside:", source)),
        }
    }
    let dir = match real.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| io("syncing the directory after setting aside", source))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Makes a new store's creation durable (its database file, its WAL and, already synced by the
/// open, their directory) and then erases the record of it from the lock file.
pub(crate) fn finish(path: &Path, lock: &mut WriterLock) -> Result<(), OpenError> {
    for file in [path.to_path_buf(), crate::check::wal_path(path)] {
        match std::fs::File::open(&file).and_then(|opened| opened.sync_all()) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && file != path => {}
            Err(source) => {
                return Err(OpenError::Io {
                    context: "syncing the new store",
                    path: file,
                    source,
                });
            }
        }
    }
    lock.finish_creation(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_line_records_a_creation() {
        assert!(under_way("pid 7\ncreation under way\n"));
        assert!(!under_way("pid 7"));
        assert!(!under_way(
            "pid 7\nclosed cleanly: database 1 bytes at 2 ns, wal none"
        ));
    }

    #[test]
    fn setting_aside_moves_the_file_and_its_sidecars_to_a_free_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("annal.db");
        std::fs::write(&path, b"torn").unwrap();
        std::fs::write(with_suffix(&path, "-journal"), b"journal").unwrap();
        std::fs::write(dir.path().join("annal.db.unfinished-1"), b"older").unwrap();
        set_aside(&path).unwrap();
        assert!(!path.exists() && !with_suffix(&path, "-journal").exists());
        let aside = dir.path().join("annal.db.unfinished-2");
        assert_eq!(std::fs::read(&aside).unwrap(), b"torn");
        assert_eq!(
            std::fs::read(with_suffix(&aside, "-journal")).unwrap(),
            b"journal"
        );
        assert_eq!(
            std::fs::read(dir.path().join("annal.db.unfinished-1")).unwrap(),
            b"older",
            "an earlier unfinished file is kept"
        );
    }
}
