//! Queries through the postings (`postings.rs`): a page examines the entries of the filter's
//! most selective field in the blocks that overlap its time window, instead of every line.
//!
//! Holds the index's read lock only to pick the entries, then reads and checks the lines
//! outside it, like every read. Every picked line is still checked against the whole filter,
//! so the postings only narrow where to look. The cursor is the next position not examined,
//! so a page resumes after candidates that did not match. Filters with no field that has
//! postings and no time window (by stream only, or none) page through [`read::query_page`].

use std::path::Path;
use std::sync::Arc;

use annal_core::{Direction, Filter, Position, ReadError, RecordedEvent};

use crate::index::{Entry, Index};
use crate::postings::BLOCK;
use crate::read::{self, QueryCursor, read_entries};
use crate::writer::{SharedIndex, read_index};

/// Postings or entries a page examines at most before it returns (perhaps empty), so a filter
/// whose candidates mostly fall outside its window still answers in bounded time.
const EXAMINED_MAX: usize = 1 << 20;

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
    let picked = {
        let guard = read_index(index)?;
        let timed = filter.timestamp_from.is_some() || filter.timestamp_to.is_some();
        let picked = match guard.postings.driving(filter) {
            Some(lists) => Some(pick_postings(&guard, filter, &lists, next, page.max(1))),
            None if timed => Some(pick_blocks(&guard, filter, next, page.max(1))),
            None => None,
        };
        picked.map(|(chosen, resume)| {
            let entries: Vec<Entry> = chosen.iter().map(|&at| guard.entries[at]).collect();
            (Arc::clone(&guard.file), entries, resume)
        })
    };
    let Some((file, entries, resume)) = picked else {
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
