//! Building the in-memory indexes from the log: at open, after a compaction, and when a
//! read-only follower finds the log replaced.
//!
//! The log is the truth: the index is whatever a scan of it says, with the counters of
//! `streams.json` merged in so that counters never go down.

use std::fs::File;
use std::sync::Arc;

use crate::index::Index;
use crate::scan::{End, Rules, Start, scan};
use crate::sidecar::Counters;

/// The result of a build: the index, and where the scan stopped (with any problem it found).
pub(crate) struct Built {
    pub(crate) index: Index,
    pub(crate) end: End,
}

/// Scans `file` from its start into a new index.
pub(crate) fn build(
    file: Arc<File>,
    counters: &Counters,
    rules: Rules,
) -> Result<Built, BuildError> {
    let mut index = Index::new(Arc::clone(&file), counters).map_err(BuildError::Counters)?;
    let end = scan(&file, Start::default(), rules, |batch| {
        index.add_batch(batch)
    })
    .map_err(BuildError::Io)?;
    index.next = end.next;
    Ok(Built { index, end })
}

/// Extends `index` with the whole batches appended after `index.next`; returns where the scan
/// stopped.
pub(crate) fn extend(index: &mut Index, rules: Rules) -> std::io::Result<End> {
    let file = Arc::clone(&index.file);
    let start = index.next;
    let end = scan(&file, start, rules, |batch| index.add_batch(batch))?;
    index.next = end.next;
    Ok(end)
}

/// Why an index could not be built.
#[derive(Debug)]
pub(crate) enum BuildError {
    /// `streams.json` names an invalid stream.
    Counters(String),
    Io(std::io::Error),
}
