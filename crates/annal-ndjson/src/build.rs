//! Building the in-memory index from the log: at open, after a compaction, and when a
//! read-only follower finds the log replaced.
//!
//! The log is the truth: the index is whatever a scan of it says, with the counters of
//! `streams.json` merged in so that counters never go down. A scan can start after the derived
//! index's watermark (the index then already holds what is before it), and can move the tail to
//! disk as it goes, so building the index of a large log never holds all of it in memory.

use std::fs::File;
use std::sync::Arc;

use crate::ids::IdHasher;
use crate::index::Index;
use crate::scan::{End, Rules, Start, scan};
use crate::sidecar::Counters;

/// The result of a build: the index, and where the scan stopped (with any problem it found).
pub(crate) struct Built {
    pub(crate) index: Index,
    pub(crate) end: End,
    /// Lines the scan read.
    pub(crate) scanned_lines: u64,
}

/// Scans `file` from its start into a new index held in memory.
pub(crate) fn build(
    file: Arc<File>,
    counters: &Counters,
    rules: Rules,
    hasher: IdHasher,
) -> Result<Built, BuildError> {
    let index = Index::new(file, counters, hasher).map_err(BuildError::Counters)?;
    build_from(index, rules, |_| {})
}

/// Scans the log of `index` from `index.next` into it, calling `after_batch` after each whole
/// batch (with `index.next` just after it), which may move the tail to disk.
pub(crate) fn build_from(
    mut index: Index,
    rules: Rules,
    mut after_batch: impl FnMut(&mut Index),
) -> Result<Built, BuildError> {
    let file = Arc::clone(&index.file);
    let start = index.next;
    let end = scan(&file, start, rules, |batch| {
        index.add_batch(batch)?;
        if let Some(last) = batch.last() {
            index.next = Start {
                offset: last.offset + u64::from(last.len) + 1,
                line: index.next.line + batch.len() as u64,
                last_position: last.position,
            };
        }
        after_batch(&mut index);
        Ok(())
    })
    .map_err(BuildError::Io)?;
    index.next = end.next;
    let scanned_lines = end.next.line - start.line;
    Ok(Built {
        index,
        end,
        scanned_lines,
    })
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
