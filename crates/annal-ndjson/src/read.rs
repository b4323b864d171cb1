//! Reads: pages of events located through the index and read from the log with `pread`.
//!
//! Each page holds the index's read lock only to copy out the entries of the tail it needs
//! (offsets and lengths, plus the file handle of the log generation they refer to, and the
//! derived index's watermark), then looks up the part on disk, and reads, checks (the line's
//! checksum, its position) and decodes the lines outside the lock, on a blocking thread. Memory
//! stays bounded by one page. A read whose disk lookup met a compaction starts over
//! ([`fresh`]).
//!
//! The page rules, cursors included, are those of the reference backend (`MemoryStore`), so
//! every backend pages, limits and skips the same way.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use annal_core::{Direction, Filter, Position, ReadError, RecordedEvent, StorageError};

use crate::disk::Stale;
use crate::disk::lookup::{self, Walk};
use crate::index::{DiskPart, Entry};
use crate::line;
use crate::writer::{SharedIndex, read_index};

/// How many times a read starts over after meeting a compaction's new generation.
const STALE_TRIES: u32 = 12;

/// Runs `attempt` until it did not meet a new generation of the derived index (a compaction
/// renamed its rebuilt index into place while the read looked). The writer swaps the new
/// in-memory index in right after that rename, and a follower in another process within its
/// next poll, so each try waits twice as long as the one before (1 ms, then up to about 2 s
/// in all).
pub(crate) fn fresh<T>(
    mut attempt: impl FnMut() -> Result<Result<T, Stale>, ReadError>,
) -> Result<T, ReadError> {
    for tried in 0..STALE_TRIES {
        if let Ok(found) = attempt()? {
            return Ok(found);
        }
        std::thread::sleep(std::time::Duration::from_millis(1 << tried.min(9)));
    }
    Err(StorageError::Poisoned {
        reason: format!("the store was compacted {STALE_TRIES} times during one read"),
    }
    .into())
}

/// Runs `read` on the derived index as of `part`'s mark, given its watermark.
pub(crate) fn on_disk<T>(
    part: &DiskPart,
    read: impl FnOnce(&rusqlite::Connection, u64) -> Result<T, String>,
) -> Result<Result<T, Stale>, ReadError> {
    let through = part.mark.position;
    Ok(part
        .index
        .read(part.mark.generation, |connection| read(connection, through))?)
}

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
    fresh(|| {
        let (file, mut entries, disk, hash) = {
            let index = read_index(index)?;
            let hash = index.hasher.hash(id);
            (
                Arc::clone(&index.file),
                index.entries_with_id(id),
                index.disk_part(),
                hash,
            )
        };
        if let Some(part) = disk {
            match on_disk(&part, |c, through| lookup::ids(c, hash, through))? {
                Ok(found) => entries.extend(found),
                Err(Stale) => return Ok(Err(Stale)),
            }
        }
        let events = read_entries(&file, path, &entries)?;
        Ok(Ok(events.into_iter().find(|event| event.id.as_str() == id)))
    })
}

/// Up to `limit` entries at or after `from` (and before `until`): those on disk, then the
/// tail's.
fn entries_from(
    index: &SharedIndex,
    from: Position,
    until: Option<Position>,
    limit: usize,
) -> Result<(Arc<File>, Vec<Entry>), ReadError> {
    fresh(|| {
        let (file, tail, disk) = {
            let index = read_index(index)?;
            let at = index.first_at_or_after(from.0);
            let end = match until {
                Some(until) => index.first_at_or_after(until.0),
                None => index.entries.len(),
            };
            let end = end.min(at + limit).max(at);
            let disk = index.disk_part().filter(|d| from.0 <= d.mark.position);
            (
                Arc::clone(&index.file),
                index.entries[at..end].to_vec(),
                disk,
            )
        };
        let mut entries = match disk {
            None => Vec::new(),
            Some(part) => {
                let read = |c: &rusqlite::Connection, through| {
                    let walk = Walk {
                        forward: true,
                        start: from.0,
                        through,
                    };
                    lookup::range(c, walk, until.map(|u| u.0), limit)
                };
                match on_disk(&part, read)? {
                    Ok(found) => found,
                    Err(Stale) => return Ok(Err(Stale)),
                }
            }
        };
        entries.extend(tail);
        entries.truncate(limit);
        Ok(Ok((Arc::clone(&file), entries)))
    })
}

/// Up to `limit` entries at or before `through`, newest first: the tail's, then those on disk.
pub(crate) fn entries_back(
    index: &SharedIndex,
    through: Position,
    limit: usize,
) -> Result<(Arc<File>, Vec<Entry>), ReadError> {
    fresh(|| {
        let (file, mut entries, disk) = {
            let index = read_index(index)?;
            let end = index.entries.partition_point(|e| e.position <= through.0);
            let start = end.saturating_sub(limit);
            let tail: Vec<Entry> = index.entries[start..end].iter().rev().copied().collect();
            (Arc::clone(&index.file), tail, index.disk_part())
        };
        if let Some(part) = disk.filter(|_| entries.len() < limit) {
            let wanted = limit - entries.len();
            let read = |c: &rusqlite::Connection, on_disk| {
                let walk = Walk {
                    forward: false,
                    start: through.0,
                    through: on_disk,
                };
                lookup::range(c, walk, None, wanted)
            };
            match on_disk(&part, read)? {
                Ok(found) => entries.extend(found),
                Err(Stale) => return Ok(Err(Stale)),
            }
        }
        Ok(Ok((file, entries)))
    })
}

/// Up to `page` events at or after `from` and before `until`.
pub(crate) fn all_page(
    index: &SharedIndex,
    path: &Path,
    from: Position,
    until: Option<Position>,
    page: usize,
) -> Result<Vec<RecordedEvent>, ReadError> {
    let (file, entries) = entries_from(index, from, until, page)?;
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
    let (_, entries) = entries_from(index, from, None, n_pages * page + 1)?;
    let mut starts = Vec::with_capacity(n_pages);
    for k in 0..=n_pages {
        let Some(entry) = entries.get(k * page) else {
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
    let forward = direction == Direction::Forward;
    let (file, entries) = fresh(|| {
        let (file, tail, disk, start) = {
            let index = read_index(index)?;
            let Some(entry) = index.streams.get(stream) else {
                return Ok(Ok((Arc::clone(&index.file), Vec::new())));
            };
            let versions = &entry.entries;
            let (start, tail): (u64, Vec<Entry>) = if forward {
                let from = after.map_or(from.unwrap_or(1), |a| a + 1);
                let at = versions.partition_point(|e| e.version < from);
                (
                    from,
                    versions[at..].iter().take(page).map(|e| e.entry).collect(),
                )
            } else {
                let to = match after {
                    Some(after) => after.saturating_sub(1),
                    None => from.unwrap_or(entry.counter),
                };
                let end = versions.partition_point(|e| e.version <= to);
                let tail = versions[..end].iter().rev().take(page);
                (to, tail.map(|e| e.entry).collect())
            };
            (Arc::clone(&index.file), tail, index.disk_part(), start)
        };
        let wanted = if forward { page } else { page - tail.len() };
        let on_disk = match disk.filter(|_| wanted > 0 && (forward || start > 0)) {
            None => Vec::new(),
            Some(part) => {
                let read = |c: &rusqlite::Connection, through| {
                    lookup::stream(c, stream, forward, start, through, wanted)
                };
                match on_disk(&part, read)? {
                    Ok(found) => found,
                    Err(Stale) => return Ok(Err(Stale)),
                }
            }
        };
        let entries = if forward {
            on_disk.into_iter().chain(tail).take(page).collect()
        } else {
            tail.into_iter().chain(on_disk).take(page).collect()
        };
        Ok(Ok((file, entries)))
    })?;
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
    let (file, window) = match filter.direction {
        Direction::Forward => entries_from(index, next, None, window_len)?,
        Direction::Backward => entries_back(index, next, window_len)?,
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
