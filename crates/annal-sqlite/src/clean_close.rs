//! The record of a writer's clean close, kept in the lock file: the sizes and modification
//! times of the database and its WAL as the writer left them.
//!
//! A writer that finds its record intact knows that nothing has written to the file since a
//! writer closed it cleanly, and skips `quick_check` (which reads every page); a crash, a copy,
//! an edit by another program or damage by a tool leaves no record or one that does not match,
//! and the next writer checks the whole file before writing to it (`open.rs`). The lock file,
//! not the database, holds the record because writing the database would change what it
//! records.
//!
//! Invariant: a record is written only after the writer's connection closed without error, so
//! a matching record means the file is exactly as a clean writer left it (up to damage that
//! leaves size and modification time alone, which no check short of reading every page sees).

use std::path::Path;
use std::time::UNIX_EPOCH;

use crate::check::wal_path;

/// How a writer's connection ended, as far as the next writer needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Never poisoned, `writer_open` cleared, and the connection closed without error.
    Cleanly,
    /// Not cleanly (a failure, an open that stopped half-way), but no WAL is left: closing the
    /// last connection copied it into the database file and removed it, which SQLite does
    /// only after a complete WAL copy. The file holds every commit, though perhaps
    /// also what made the writer fail.
    Complete,
}

impl Closed {
    /// What to record once the writer's connection to `path` is closed, the lock still held:
    /// `None` when its WAL is still there (it holds what the file may lack).
    pub(crate) fn after(path: &Path, clean: bool) -> Option<Self> {
        if clean {
            Some(Self::Cleanly)
        } else if !wal_path(path).exists() {
            Some(Self::Complete)
        } else {
            None
        }
    }
}

/// The line that starts each kind of record in the lock file.
const CLEAN: &str = "closed cleanly:";
const COMPLETE: &str = "closed without a WAL left:";
const COMPLETE_FILE: &str = "complete as closed:";

/// The record of the database at `path` as it is now, for a close of that kind (`None` if the
/// file cannot be read).
pub(crate) fn record(path: &Path, closed: Closed) -> Option<String> {
    let prefix = match closed {
        Closed::Cleanly => CLEAN,
        Closed::Complete => COMPLETE,
    };
    let complete = completeness(path)?;
    Some(format!("{prefix} {}\n{complete}", state(path)?))
}

/// The line that says the database at `path` needs no WAL: its size and the WAL's absence.
/// Its modification time is left out: a copy of the directory made by a tool that does not keep
/// times (or a restored image) holds the same complete file.
fn completeness(path: &Path) -> Option<String> {
    let len = std::fs::metadata(path).ok()?.len();
    let wal = if wal_path(path).exists() {
        "present"
    } else {
        "none"
    };
    Some(format!("{COMPLETE_FILE} database {len} bytes, wal {wal}"))
}

/// Whether the lock file's `text` records a clean close of the database at `path` as it is now.
pub(crate) fn matches(text: &str, path: &Path) -> bool {
    found(text, path, &[CLEAN])
}

/// Whether the lock file's `text` records a close of the database at `path` as it is now that
/// left it complete (cleanly or not): then a missing WAL took no commit with it.
pub(crate) fn complete(text: &str, path: &Path) -> bool {
    completeness(path).is_some_and(|now| text.lines().any(|line| line == now))
}

fn found(text: &str, path: &Path, prefixes: &[&str]) -> bool {
    let Some(now) = state(path) else {
        return false;
    };
    prefixes
        .iter()
        .any(|prefix| text.lines().any(|line| line == format!("{prefix} {now}")))
}

/// The database's and the WAL's fingerprints.
fn state(path: &Path) -> Option<String> {
    let database = fingerprint(path)?;
    let wal = fingerprint(&wal_path(path)).unwrap_or_else(|| "none".into());
    Some(format!("database {database}, wal {wal}"))
}

/// Size and modification time (nanoseconds) of a file.
fn fingerprint(path: &Path) -> Option<String> {
    let metadata = std::fs::metadata(path).ok()?;
    let modified = metadata.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some(format!(
        "{} bytes at {} ns",
        metadata.len(),
        modified.as_nanos()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_matches_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        std::fs::write(&path, b"pages").unwrap();
        let text = format!("pid 1\n{}", record(&path, Closed::Cleanly).unwrap());
        assert!(matches(&text, &path));
        let failed = format!("pid 1\n{}", record(&path, Closed::Complete).unwrap());
        assert!(
            !matches(&failed, &path),
            "a close after a failure is not clean"
        );
        assert!(complete(&failed, &path) && complete(&text, &path));
        assert!(!matches("pid 1", &path), "no record, no match");
        std::fs::write(wal_path(&path), b"frames").unwrap();
        assert!(!matches(&text, &path), "a WAL appeared");
        std::fs::remove_file(wal_path(&path)).unwrap();
        assert!(matches(&text, &path));
        std::fs::write(&path, b"pageS").unwrap();
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(!matches(&text, &path), "the database was rewritten");
    }
}
