//! [`Recovery`]: what opening a store found and repaired, for the caller to report.
//!
//! Recovery itself lives in `open` and `scan`; this module only describes its outcome, so that
//! a torn tail or a rebuilt index is reported instead of silently absorbed (the seed dropped bad
//! lines without a word).

use std::path::PathBuf;

/// What opening the store found and did about it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// An unfinished append at the end of the log: cut off by a writer open, ignored by a
    /// read-only one. It was never acknowledged, since appends are acknowledged after fsync.
    pub torn_tail: Option<TornTail>,
    /// What `index.json` held. The index is always rebuilt from the log, which is the truth.
    pub index: IndexStatus,
    /// What `head.json` held: how far the log was known synced, hence which damage could be
    /// told from a torn write.
    pub head: HeadStatus,
    /// The format version a writer open upgraded the store from (its old lines stay readable).
    pub upgraded_from: Option<u32>,
    /// Readable events in the log.
    pub events: u64,
    /// Lines of the log the open read and checked: those after the derived index's watermark
    /// (`index.sqlite`), or every line when there was no index it could trust.
    pub scanned_lines: u64,
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

/// What `head.json` held when the store was opened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeadStatus {
    /// It gave the log's synced length: any problem before it was refused as damage.
    Current {
        /// The synced length.
        synced_bytes: u64,
    },
    /// There was none: a new store, or one format version 1 wrote.
    Missing,
    /// It did not decode or failed its checksum (a write cut by power loss, say).
    Damaged {
        /// Why it did not decode.
        reason: String,
    },
    /// It described another log file: one restored by hand, or a crash just after a compaction
    /// renamed a new log into place.
    OtherLog,
}

impl Recovery {
    /// One line per finding that a person should hear about: a torn tail, a synced length that
    /// could not be used, an upgrade, files removed or renamed. Empty after a clean close.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Some(torn) = &self.torn_tail {
            let done = if torn.cut { "cut off" } else { "ignored" };
            warnings.push(format!(
                "an unfinished append ({} bytes at byte offset {}: {}) was {done}; it was \
                 never acknowledged",
                torn.bytes, torn.offset, torn.reason
            ));
        }
        match &self.head {
            HeadStatus::Damaged { reason } => warnings.push(format!(
                "head.json is damaged ({reason}); damage at the end of the log could not be told \
                 from a torn write during this open"
            )),
            HeadStatus::OtherLog => warnings.push(
                "head.json describes another log file; damage at the end of the log could not \
                 be told from a torn write during this open"
                    .to_owned(),
            ),
            HeadStatus::Current { .. } | HeadStatus::Missing => {}
        }
        if let Some(from) = self.upgraded_from {
            warnings.push(format!(
                "the store was upgraded from format version {from}; builds older than this one \
                 can no longer open it"
            ));
        }
        for path in &self.removed_temp_files {
            warnings.push(format!("removed {} (an interrupted write)", path.display()));
        }
        for path in &self.renamed_files {
            warnings.push(format!(
                "renamed a format version 1 file to {}",
                path.display()
            ));
        }
        warnings
    }
}
