//! [`Recovery`]: what opening a store found and repaired, for the caller to report.
//!
//! Recovery itself lives in `open` and `scan`; this module only describes its outcome, so that
//! a torn tail or a rebuilt index is reported instead of silently absorbed (the seed dropped bad
//! lines without a word).

use std::path::PathBuf;

/// What opening the store found and did about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// An unfinished append at the end of the log: cut off by a writer open, ignored by a
    /// read-only one. It was never acknowledged, since appends are acknowledged after fsync.
    pub torn_tail: Option<TornTail>,
    /// What `index.json` held. The index is always rebuilt from the log, which is the truth.
    pub index: IndexStatus,
    /// Readable events in the log.
    pub events: u64,
    /// Leftovers of interrupted atomic writes that a writer open removed.
    pub removed_temp_files: Vec<PathBuf>,
    /// Snapshot and projection files a writer open renamed from their format version 1 names.
    pub renamed_files: Vec<PathBuf>,
}

/// An unfinished append found at the end of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Where the unfinished batch starts: the log's length after the cut.
    pub offset: u64,
    /// How many bytes it held.
    pub bytes: u64,
    /// Why it counts as unfinished.
    pub reason: String,
    /// Whether the open cut it off (a writer open does; a read-only one leaves the file alone).
    pub cut: bool,
}

/// What `index.json` held when the store was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexStatus {
    /// It described the log exactly.
    Current,
    /// It described an older or different log (normal after a crash: it is refreshed every few
    /// seconds, not per append).
    Stale,
    /// There was none (a new store, or one whose index was deleted).
    Missing,
    /// It did not decode (a truncated write, say).
    Damaged {
        /// Why it did not decode.
        reason: String,
    },
}
