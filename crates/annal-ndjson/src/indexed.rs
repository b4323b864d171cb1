//! Queries through the postings (`postings.rs` for the tail, `disk/` for the events before
//! it): a page examines the entries of the filter's chosen field in the blocks that overlap its
//! time window, instead of every line.
//!
//! Holds the index's read lock only to pick the tail's entries and see the watermark, then
//! looks up the part on disk, and reads and checks the lines outside the lock, like every read.
//! Every picked line is still checked against the whole filter, so the postings only narrow
//! where to look. The cursor is the next position not examined, so a page resumes after
//! candidates that did not match; a page holds candidates from one side of the watermark only,
//! so the cursor crosses it between pages. Filters with no field that has postings and no time
//! window (by stream only, or none) page through [`read::query_page`].

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use annal_core::{Direction, Filter, Position, ReadError, RecordedEvent};
use rusqlite::Connection;

use crate::disk::Stale;
use crate::disk::lookup::{self, Walk};
use crate::disk::records::Located;
use crate::index::{DiskPart, Entry, Index};
use crate::postings::{BLOCK, Field, choose};
use crate::read::{self, QueryCursor, fresh, on_disk, read_entries};
use crate::writer::{SharedIndex, read_index};

/// Postings or entries a page examines at most before it returns (perhaps empty), so a filter
/// whose candidates mostly fall outside its window still answers in bounded time.
const EXAMINED_MAX: usize = 1 << 20;

/// What a page picked: the entries to read, and where the next page resumes (`None`: done).
type Picked = (Vec<Entry>, Option<Position>);

/// The next page of `filter`'s results and the cursor after it; `None` when the query is done.
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
    if filter.limit.is_some_and(|limit| cursor.taken >= limit) {
        return Ok(None);
    }
    // A query that wants few more events reads no more candidates than that (they may still
    // fail the rest of the filter; then the next page picks more).
    let wanted = filter.limit.map_or(u64::MAX, |limit| {
        (limit - cursor.taken).saturating_add(filter.offset.saturating_sub(cursor.skipped))
    });
    let want = usize::try_from(wanted)
        .unwrap_or(usize::MAX)
        .clamp(1, page.max(1));
    let Some((file, entries, resume)) = fresh(|| pick(index, filter, next, want))? else {
        return read::query_page(index, path, filter, cursor, page);
    };
    let mut events = Vec::new();
    cursor.next = resume;
    for event in read_entries(&file, path, &entries)? {
        if filter.limit.is_some_and(|limit| cursor.taken >= limit) {
            cursor.next = None;
            break;
        }
        cursor.admit(filter, event, &mut events);
    }
    if events.is_empty() && cursor.next.is_none() {
        return Ok(None);
    }
    Ok(Some((events, cursor)))
}

/// How a query is driven: through one field's postings, or through the time blocks.
#[derive(Clone)]
enum Driver {
    Postings(Field, Vec<String>),
    Blocks,
}

/// Picks a page's entries on the side of the watermark `next` is on; `None` when the filter
/// has neither postings nor a time window.
#[allow(clippy::type_complexity)]
fn pick(
    index: &SharedIndex,
    filter: &Filter,
    next: Position,
    want: usize,
) -> Result<Result<Option<(Arc<File>, Vec<Entry>, Option<Position>)>, Stale>, ReadError> {
    let forward = filter.direction == Direction::Forward;
    let (file, driver, tail, disk) = {
        let guard = read_index(index)?;
        let timed = filter.timestamp_from.is_some() || filter.timestamp_to.is_some();
        let driver = match choose(filter, guard.type_counts()) {
            Some((field, keys)) => Driver::Postings(field, keys),
            None if timed => Driver::Blocks,
            None => return Ok(Ok(None)),
        };
        let disk = guard.disk_part();
        let through = disk.as_ref().map_or(0, |d| d.mark.position);
        // Forward, the tail starts after the watermark; backward, where the cursor is.
        let tail_next = if forward {
            Position(next.0.max(through + 1))
        } else {
            next
        };
        let (chosen, resume) = match &driver {
            Driver::Postings(field, keys) => {
                let lists = guard.postings.lists(*field, keys);
                pick_postings(&guard, filter, &lists, tail_next, want)
            }
            Driver::Blocks => pick_blocks(&guard, filter, tail_next, want),
        };
        let entries: Vec<Entry> = chosen.iter().map(|&at| guard.entries[at]).collect();
        (Arc::clone(&guard.file), driver, (entries, resume), disk)
    };
    let picked = match disk {
        Some(part) if forward && next.0 <= part.mark.position => {
            match pick_on_disk(&part, filter, &driver, next, want)? {
                Ok((chosen, None)) if chosen.is_empty() => tail,
                Ok((chosen, resume)) => (chosen, resume.or(Some(Position(part.mark.position + 1)))),
                Err(Stale) => return Ok(Err(Stale)),
            }
        }
        Some(part) if !forward && tail.0.is_empty() && tail.1.is_none() => {
            let start = Position(next.0.min(part.mark.position));
            match pick_on_disk(&part, filter, &driver, start, want)? {
                Ok(found) => found,
                Err(Stale) => return Ok(Err(Stale)),
            }
        }
        Some(part) if !forward && tail.1.is_none() => {
            // The tail is done; the next page goes on below the watermark.
            let below = (part.mark.position > 0).then_some(Position(part.mark.position));
            (tail.0, below)
        }
        _ => tail,
    };
    Ok(Ok(Some((file, picked.0, picked.1))))
}

/// Picks a page's entries on disk, from `start` (inclusive) in the read's direction.
fn pick_on_disk(
    part: &DiskPart,
    filter: &Filter,
    driver: &Driver,
    start: Position,
    want: usize,
) -> Result<Result<Picked, Stale>, ReadError> {
    let forward = filter.direction == Direction::Forward;
    on_disk(part, |connection, through| {
        let walk = Walk {
            forward,
            start: start.0,
            through,
        };
        match driver {
            Driver::Postings(field, keys) => {
                disk_postings(connection, filter, *field, keys, walk, want)
            }
            Driver::Blocks => disk_blocks(connection, filter, walk, want),
        }
    })
}

/// Whether a record's timestamp is in the filter's window (a time-only query's blocks).
fn in_window(filter: &Filter, record: &Located) -> bool {
    filter
        .timestamp_from
        .is_none_or(|from| record.timestamp >= from)
        && filter.timestamp_to.is_none_or(|to| record.timestamp < to)
}

/// The position after `position` in the walk's direction (`None` past the first position).
fn step(forward: bool, position: u64) -> Option<Position> {
    if forward {
        position.checked_add(1).map(Position)
    } else {
        position.checked_sub(1).filter(|p| *p > 0).map(Position)
    }
}

/// Up to `want` candidates from the postings of `keys` on disk in the filter's time window,
/// merged in the walk's direction, and where the next page resumes.
fn disk_postings(
    connection: &Connection,
    filter: &Filter,
    field: Field,
    keys: &[String],
    walk: Walk,
    want: usize,
) -> Result<Picked, String> {
    let window = (filter.timestamp_from, filter.timestamp_to);
    let mut candidates: Vec<Located> = Vec::new();
    let mut exhausted = true;
    for key in keys {
        // One more than wanted from each list: a list that has it is not exhausted.
        let (found, done) = lookup::postings(connection, field, key, walk, window, want + 1)?;
        exhausted &= done;
        candidates.extend(found);
    }
    candidates.sort_unstable_by_key(|c| c.entry.position);
    candidates.dedup_by_key(|c| c.entry.position);
    if !walk.forward {
        candidates.reverse();
    }
    let complete = exhausted && candidates.len() <= want;
    candidates.truncate(want);
    let resume = match candidates.last() {
        Some(last) if !complete => step(walk.forward, last.entry.position),
        _ => None,
    };
    Ok((candidates.into_iter().map(|c| c.entry).collect(), resume))
}

/// Up to `want` entries on disk in the blocks that overlap the window, in the walk's
/// direction, and where the next page resumes.
fn disk_blocks(
    connection: &Connection,
    filter: &Filter,
    walk: Walk,
    want: usize,
) -> Result<Picked, String> {
    let mut chosen = Vec::new();
    let mut examined = 0usize;
    let mut resume = None;
    let window = (filter.timestamp_from, filter.timestamp_to);
    lookup::blocks(connection, walk, window, |record| {
        if chosen.len() >= want || examined >= EXAMINED_MAX {
            resume = Some(Position(record.entry.position));
            return false;
        }
        examined += 1;
        if in_window(filter, &record) {
            chosen.push(record.entry);
        }
        true
    })?;
    Ok((chosen, resume))
}

/// The entry index where a page starts: forward, the first entry at or after `next`;
/// backward, one past the last entry at or before it.
fn start_at(index: &Index, filter: &Filter, next: Position) -> usize {
    match filter.direction {
        Direction::Forward => index.first_at_or_after(next.0),
        Direction::Backward => index.entries.partition_point(|e| e.position <= next.0),
    }
}

/// The position after entry `at` in the read's direction (`None` past the first position).
fn after(index: &Index, filter: &Filter, at: usize) -> Option<Position> {
    let position = index.entries[at].position;
    match filter.direction {
        Direction::Forward => position.checked_add(1).map(Position),
        Direction::Backward => position.checked_sub(1).filter(|p| *p > 0).map(Position),
    }
}

/// Up to `want` entries from `lists` (merged, in the read's direction) whose blocks overlap
/// the window, and where the next page resumes (`None`: the lists are exhausted).
fn pick_postings(
    index: &Index,
    filter: &Filter,
    lists: &[&[u32]],
    next: Position,
    want: usize,
) -> (Vec<usize>, Option<Position>) {
    let forward = filter.direction == Direction::Forward;
    let mut start = start_at(index, filter, next);
    let mut chosen = Vec::new();
    let mut examined = 0usize;
    loop {
        let mut candidates: Vec<usize> = Vec::new();
        for list in lists {
            let split = list.partition_point(|&at| (at as usize) < start);
            // One more than wanted from each list: a list that has it is not exhausted.
            if forward {
                let end = (split + want + 1).min(list.len());
                candidates.extend(list[split..end].iter().map(|&at| at as usize));
            } else {
                let from = split.saturating_sub(want + 1);
                candidates.extend(list[from..split].iter().map(|&at| at as usize));
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        if !forward {
            candidates.reverse();
        }
        let exhausted = candidates.len() <= want;
        candidates.truncate(want);
        let Some(&last) = candidates.last() else {
            return (chosen, None);
        };
        examined += candidates.len();
        chosen.extend(
            candidates
                .into_iter()
                .filter(|&at| index.postings.block_overlaps(at, filter)),
        );
        if exhausted {
            return (chosen, None);
        }
        if !chosen.is_empty() || examined >= EXAMINED_MAX {
            return (chosen, after(index, filter, last));
        }
        start = if forward { last + 1 } else { last };
    }
}

/// Up to `want` entries in the blocks that overlap the window (a filter by time alone),
/// skipping the other blocks whole, and where the next page resumes.
fn pick_blocks(
    index: &Index,
    filter: &Filter,
    next: Position,
    want: usize,
) -> (Vec<usize>, Option<Position>) {
    let forward = filter.direction == Direction::Forward;
    let len = index.entries.len();
    let mut chosen = Vec::new();
    let mut examined = 0usize;
    // `at` walks entry indexes: forward from the start, backward from one past it.
    let mut at = start_at(index, filter, next);
    loop {
        let current = if forward {
            (at < len).then_some(at)
        } else {
            at.checked_sub(1)
        };
        let Some(current) = current else {
            return (chosen, None);
        };
        if chosen.len() >= want || examined >= EXAMINED_MAX {
            return (chosen, Some(Position(index.entries[current].position)));
        }
        examined += 1;
        if index.postings.block_overlaps(current, filter) {
            chosen.push(current);
            at = if forward { current + 1 } else { current };
        } else if forward {
            at = (current / BLOCK + 1) * BLOCK;
        } else {
            at = current / BLOCK * BLOCK;
        }
    }
}
