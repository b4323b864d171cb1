//! Reads: pages of events located through the index and read from the log with `pread`.
//!
//! Each page holds the index's read lock only to copy out the entries it needs (offsets and
//! lengths, plus the file handle of the log generation they refer to), then reads, checks (the
//! line's checksum, its position) and decodes the lines outside the lock, on a blocking thread.
//! Memory stays bounded by one page.
//!
//! The page rules, cursors included, are those of the reference backend (`MemoryStore`), so
//! every backend pages, limits and skips the same way.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use annal_core::{Direction, Filter, Position, ReadError, RecordedEvent, StorageError};

use crate::index::Entry;
use crate::line;
use crate::writer::{SharedIndex, read_index};

/// How many lines a query looks at per page at most, as a multiple of the page size, so a
/// sparse filter still returns (a possibly empty page) in bounded time.
const QUERY_SCAN_PAGES: usize = 16;

/// Reads and decodes the lines of `entries`, in the order given.
pub(crate) fn read_entries(
    file: &File,
    path: &Path,
    entries: &[Entry],
) -> Result<Vec<RecordedEvent>, ReadError> {
    let (Some(low), Some(high)) = (
        entries.iter().map(|e| e.offset).min(),
        entries.iter().map(|e| e.offset + u64::from(e.len)).max(),
    ) else {
        return Ok(Vec::new());
    };
    let read_error = |error: std::io::Error| {
        ReadError::Storage(StorageError::backend(
            format!("reading {}", path.display()),
            error,
        ))
    };
    let total: u64 = entries.iter().map(|e| u64::from(e.len) + 1).sum();
    let mut events = Vec::with_capacity(entries.len());
    if high - low <= total.saturating_mul(2) {
        // Dense (a run of positions, or a stream written in runs): one read for the page.
        let mut bytes = vec![0; (high - low) as usize];
        file.read_exact_at(&mut bytes, low).map_err(read_error)?;
        for entry in entries {
            let from = (entry.offset - low) as usize;
            let text = &bytes[from..from + entry.len as usize];
            events.push(decode(path, entry, text)?);
        }
    } else {
        let mut bytes = Vec::new();
        for entry in entries {
            bytes.resize(entry.len as usize, 0);
            file.read_exact_at(&mut bytes, entry.offset)
                .map_err(read_error)?;
            events.push(decode(path, entry, &bytes)?);
        }
    }
    Ok(events)
}

fn decode(path: &Path, entry: &Entry, text: &[u8]) -> Result<RecordedEvent, ReadError> {
    let corrupted = |reason: String| StorageError::Corrupted {
        location: format!("{} at byte {}", path.display(), entry.offset),
        reason,
    };
    // Checked again on every read, not only at open: bytes can go bad on disk after the scan.
    line::check_sum(text).map_err(corrupted)?;
    let event = line::event(text).map_err(corrupted)?;
    if event.position.0 != entry.position {
        return Err(StorageError::Corrupted {
            location: format!("{} at byte {}", path.display(), entry.offset),
            reason: format!(
                "the line holds position {}, the index expected {}",
                event.position.0, entry.position
            ),
        }
        .into());
    }
    Ok(event)
}

/// The readable event with this id: the id index's candidates, confirmed against their lines
/// (a hash collision reads one more line, never gives a wrong answer).
pub(crate) fn event_by_id(
    index: &SharedIndex,
    path: &Path,
    id: &str,
) -> Result<Option<RecordedEvent>, ReadError> {
    let (file, entries) = {
        let index = read_index(index)?;
        (Arc::clone(&index.file), index.entries_with_id(id))
    };
    let events = read_entries(&file, path, &entries)?;
    Ok(events.into_iter().find(|event| event.id.as_str() == id))
}

/// Up to `page` events at or after `from` and before `until`.
pub(crate) fn all_page(
    index: &SharedIndex,
    path: &Path,
    from: Position,
    until: Option<Position>,
    page: usize,
) -> Result<Vec<RecordedEvent>, ReadError> {
    let (file, entries) = {
        let index = read_index(index)?;
        let at = index.first_at_or_after(from.0);
        let end = match until {
            Some(until) => index.first_at_or_after(until.0),
            None => index.entries.len(),
        };
        let end = end.min(at + page).max(at);
        (Arc::clone(&index.file), index.entries[at..end].to_vec())
    };
    read_entries(&file, path, &entries)
}

/// The first positions of the `n_pages` pages of `page` events that start at `from`, and the
/// position the page after them starts at (`None`: they reach the end of the log).
pub(crate) fn page_starts(
    index: &SharedIndex,
    from: Position,
    page: usize,
    n_pages: usize,
) -> Result<(Vec<Position>, Option<Position>), ReadError> {
    let index = read_index(index)?;
    let at = index.first_at_or_after(from.0);
    let mut starts = Vec::with_capacity(n_pages);
    for k in 0..=n_pages {
        let Some(entry) = index.entries.get(at + k * page) else {
            return Ok((starts, None));
        };
        if k == n_pages {
            return Ok((starts, Some(Position(entry.position))));
        }
        // The first page starts at `from` itself, so events appended before it is read count.
        starts.push(if k == 0 {
            from
        } else {
            Position(entry.position)
        });
    }
    Ok((starts, None))
}

/// Up to `page` events of `stream` after the version `after` (exclusive), or from the read's
/// start when `after` is `None`.
pub(crate) fn stream_page(
    index: &SharedIndex,
    path: &Path,
    stream: &str,
    direction: Direction,
    from: Option<u64>,
    after: Option<u64>,
    page: usize,
) -> Result<Vec<RecordedEvent>, ReadError> {
    let (file, entries) = {
        let index = read_index(index)?;
        let Some(entry) = index.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let versions = &entry.entries;
        let picked: Vec<Entry> = match direction {
            Direction::Forward => {
                let from = after.map_or(from.unwrap_or(1), |a| a + 1);
                let at = versions.partition_point(|e| e.version < from);
                versions[at..].iter().take(page).map(|e| e.entry).collect()
            }
            Direction::Backward => {
                let to = match after {
                    Some(after) => after.saturating_sub(1),
                    None => from.unwrap_or(entry.counter),
                };
                let end = versions.partition_point(|e| e.version <= to);
                versions[..end]
                    .iter()
                    .rev()
                    .take(page)
                    .map(|e| e.entry)
                    .collect()
            }
        };
        (Arc::clone(&index.file), picked)
    };
    read_entries(&file, path, &entries)
}

/// Where a query page resumes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryCursor {
    /// The next position to look at (forward: lowest not yet seen; backward: highest).
    pub(crate) next: Option<Position>,
    pub(crate) skipped: u64,
    pub(crate) taken: u64,
}

impl QueryCursor {
    /// Adds `event` to `events` if `filter` selects it and the offset is used up, counting it.
    pub(crate) fn admit(
        &mut self,
        filter: &Filter,
        event: RecordedEvent,
        events: &mut Vec<RecordedEvent>,
    ) {
        if !filter.matches(&event) {
            return;
        }
        if self.skipped < filter.offset {
            self.skipped += 1;
            return;
        }
        self.taken += 1;
        events.push(event);
    }
}

/// The next page of a query and the cursor after it; `None` when the query is done.
pub(crate) fn query_page(
    index: &SharedIndex,
    path: &Path,
    filter: &Filter,
    mut cursor: QueryCursor,
    page: usize,
) -> Result<Option<(Vec<RecordedEvent>, QueryCursor)>, ReadError> {
    let Some(next) = cursor.next else {
        return Ok(None);
    };
    let window_len = page * QUERY_SCAN_PAGES + 1;
    let (file, window) = {
        let index = read_index(index)?;
        let window: Vec<Entry> = match filter.direction {
            Direction::Forward => {
                let at = index.first_at_or_after(next.0);
                let end = (at + window_len).min(index.entries.len());
                index.entries[at..end].to_vec()
            }
            Direction::Backward => {
                let end = index.entries.partition_point(|e| e.position <= next.0);
                let start = end.saturating_sub(window_len);
                index.entries[start..end].iter().rev().copied().collect()
            }
        };
        (Arc::clone(&index.file), window)
    };
    let mut events = Vec::new();
    cursor.next = None;
    let mut scanned = 0usize;
    'window: for chunk in window.chunks(page.max(1)) {
        for (entry, event) in chunk.iter().zip(read_entries(&file, path, chunk)?) {
            if filter.limit.is_some_and(|limit| cursor.taken >= limit) {
                break 'window;
            }
            if events.len() >= page || scanned >= page * QUERY_SCAN_PAGES {
                cursor.next = Some(Position(entry.position));
                break 'window;
            }
            scanned += 1;
            cursor.admit(filter, event, &mut events);
        }
    }
    if events.is_empty() && cursor.next.is_none() {
        return Ok(None);
    }
    Ok(Some((events, cursor)))
}
