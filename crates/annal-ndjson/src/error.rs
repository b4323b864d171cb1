//! [`OpenError`]: why a store directory could not be opened.
//!
//! Every variant names the file. None of them leaves the directory changed: the checks that
//! produce them read before anything is written.

use std::path::PathBuf;

/// Errors from [`NdjsonStore::open`](crate::NdjsonStore::open).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another writer holds the store (in this process or another one).
    #[error(
        "{dir} is in use by another writer{holder} (lock file {lock_path}); stop it, wait for \
         it with a lock timeout, or open the store read-only"
    )]
    InUse {
        /// The store directory.
        dir: PathBuf,
        /// The lock file.
        lock_path: PathBuf,
        /// Who holds it, as recorded in the lock file (" (pid 1234)"), or empty if unknown.
        holder: String,
    },
    /// The directory holds files that are not an annal store (a seed ledger, say); it was left
    /// untouched.
    #[error("{path} is not an annal NDJSON store: {reason}")]
    NotAnnalStore {
        /// The file that gave it away.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The store was written by a newer annal; it was left untouched.
    #[error(
        "{path} has format version {found}, newer than the {supported} this annal understands; \
         upgrade annal"
    )]
    NewerFormat {
        /// The index file.
        path: PathBuf,
        /// The format version in the file.
        found: u32,
        /// The newest format version this build knows.
        supported: u32,
    },
    /// A read-only open of a directory without a log.
    #[error("{path} does not exist (a writer creates the store)")]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// Acknowledged data is damaged: a bad line with good lines after it, or a sidecar file that
    /// does not decode. The store was left untouched and cannot be opened until it is repaired
    /// (see `docs/ndjson-format.md`, "Recovery").
    #[error("{path} is damaged at line {line} (byte offset {offset}): {reason}")]
    Corrupted {
        /// The damaged file.
        path: PathBuf,
        /// The damaged line, from 1 (1 for a sidecar file).
        line: u64,
        /// The byte offset of the line's start.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading, locking, creating or repairing a file failed.
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
}

impl OpenError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| OpenError::Io {
            context,
            path,
            source,
        }
    }
}
