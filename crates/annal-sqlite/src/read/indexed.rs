//! Queries served by the derived index (`derived.rs`): by event type, aggregate type, source
//! and time range, at a cost of the postings and rows they examine instead of the whole log.
//!
//! A page runs in one read transaction, so the watermark and the index it reads agree. The
//! positions at or below the watermark are found through the postings of the most selective
//! dimension (by maintained count), restricted to the time blocks whose bounds overlap the
//! window; the positions above it (at most `index_every` plus a group) are scanned. Every
//! candidate row is then checked against the whole filter in SQL, so the index only narrows
//! where to look: a stale-looking block bound or a posting of another event can cost a row
//! read, never a wrong answer. The cursor is the last position examined, not the last one
//! returned, so a page resumes after the candidates that did not match.

use annal_core::{Direction, Filter, ReadError, RecordedEvent};
use rusqlite::Connection;
use rusqlite::types::Value;

use super::Names;
use super::query::{all_of, conditions};
use crate::derived::{
    BLOCK_SHIFT, KIND_AGGREGATE_TYPE, KIND_SOURCE, KIND_TYPE, row_positions, watermark,
};
use crate::row::{EVENT_COLUMNS, EVENT_FROM, decode, read_failed, to_sql};

/// Where an indexed query resumes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IndexedCursor {
    /// The last position examined; `None` before the first page.
    after: Option<i64>,
    /// Matching events still to skip (the filter's offset).
    skip: u64,
    /// Matching events still to return, when the filter has a limit.
    remaining: Option<u64>,
}

impl IndexedCursor {
    /// The cursor of a query's first page.
    pub(crate) fn start(filter: &Filter) -> Self {
        Self {
            after: None,
            skip: filter.offset,
            remaining: filter.limit,
        }
    }
}

/// Whether the derived index serves `filter`: it selects by type, aggregate type, source or
/// time, and by none of the fields that indexes in the commit serve (stream, correlation,
/// causation), which stay with [`super::query_page`].
pub(crate) fn serves(filter: &Filter) -> bool {
    let dimension = !filter.event_types.is_empty()
        || !filter.aggregate_types.is_empty()
        || filter.source.is_some()
        || filter.timestamp_from.is_some()
        || filter.timestamp_to.is_some();
    let committed = !filter.aggregate_ids.is_empty()
        || filter.correlation_id.is_some()
        || filter.causation_id.is_some();
    dimension && !committed
}

/// A contiguous range of positions, inclusive at both ends.
#[derive(Clone, Copy, Debug)]
struct Span {
    low: i64,
    high: i64,
}

/// What examining part of a span found.
struct Examined {
    events: Vec<RecordedEvent>,
    /// The last position examined, in the read's direction.
    last: i64,
    /// Whether the span holds nothing more to examine.
    done: bool,
}

/// The query's state for one page.
struct Page<'a> {
    connection: &'a Connection,
    filter: &'a Filter,
    forward: bool,
    clauses: Vec<String>,
    values: Vec<Value>,
    /// The postings keys of the dimension that drives the indexed part; `None` drives it by
    /// position (a time-only filter). An empty list matches nothing below the watermark.
    keys: Option<Vec<i64>>,
}

/// The next page of `filter`'s results and the cursor after it; `None` when the query is done.
pub(crate) fn indexed_page(
    connection: &Connection,
    names: &mut Names,
    filter: &Filter,
    cursor: IndexedCursor,
    page: usize,
) -> Result<Option<(Vec<RecordedEvent>, IndexedCursor)>, ReadError> {
    let failed = |source| read_failed("an indexed query", source);
    let mut cursor = cursor;
    let mut want = page as u64;
    if let Some(remaining) = cursor.remaining {
        if remaining == 0 {
            return Ok(None);
        }
        want = want.min(remaining);
    }
    let transaction = connection.unchecked_transaction().map_err(failed)?;
    // No index (dropped, or not built yet): nothing is below the watermark, the page scans.
    let mark = watermark(&transaction).map_err(failed)?.unwrap_or(0);
    let (clauses, values) = conditions(filter);
    let plan = Page {
        connection: &transaction,
        filter,
        forward: filter.direction == Direction::Forward,
        clauses,
        values,
        keys: driving_keys(&transaction, filter).map_err(failed)?,
    };
    let mut events = Vec::new();
    while (events.len() as u64) < want {
        let Some((span, indexed)) = plan.next_span(cursor.after, mark) else {
            break;
        };
        let wanted = (want - events.len() as u64).saturating_add(cursor.skip);
        let examined = if indexed {
            plan.examine_indexed(span, wanted, names)?
        } else {
            plan.examine_rows(span, wanted, names)?
        };
        let mut found = examined.events.into_iter();
        let skipped = cursor.skip.min(found.len() as u64);
        cursor.skip -= skipped;
        found.by_ref().take(skipped as usize).for_each(drop);
        events.extend(found);
        cursor.after = Some(match (examined.done, plan.forward) {
            (true, true) => span.high,
            (true, false) => span.low,
            (false, _) => examined.last,
        });
    }
    drop(transaction);
    if events.is_empty() {
        return Ok(None);
    }
    cursor.remaining = cursor.remaining.map(|r| r - events.len() as u64);
    Ok(Some((events, cursor)))
}

impl Page<'_> {
    /// The span after `after` in the read's direction, and whether it lies at or below the
    /// watermark `mark`: forward, the indexed part then the tail; backward, the reverse.
    fn next_span(&self, after: Option<i64>, mark: i64) -> Option<(Span, bool)> {
        if self.forward {
            let after = after.unwrap_or(0);
            if after == i64::MAX {
                return None;
            }
            if after < mark {
                return Some((
                    Span {
                        low: after + 1,
                        high: mark,
                    },
                    true,
                ));
            }
            return Some((
                Span {
                    low: after + 1,
                    high: i64::MAX,
                },
                false,
            ));
        }
        let after = after.unwrap_or(i64::MAX);
        if after > mark + 1 {
            return Some((
                Span {
                    low: mark + 1,
                    high: after - 1,
                },
                false,
            ));
        }
        (after > 1).then_some((
            Span {
                low: 1,
                high: after - 1,
            },
            true,
        ))
    }

    /// Examines `span` (at or below the watermark): only the time blocks overlapping the
    /// window, and in them only the postings of the driving keys.
    fn examine_indexed(
        &self,
        span: Span,
        wanted: u64,
        names: &mut Names,
    ) -> Result<Examined, ReadError> {
        let span = match self.overlapping_blocks(span)? {
            Some(blocks) => blocks,
            None => {
                return Ok(Examined {
                    events: Vec::new(),
                    last: 0,
                    done: true,
                });
            }
        };
        if self.keys.as_ref().is_some_and(Vec::is_empty) {
            // No stored name matches: nothing at or below the watermark can.
            return Ok(Examined {
                events: Vec::new(),
                last: 0,
                done: true,
            });
        }
        let mut examined = match &self.keys {
            None => self.examine_rows(span, wanted, names)?,
            Some(keys) => self.examine_postings(keys, span, wanted, names)?,
        };
        // The blocks were a part of the span: the rest of the span is still to examine.
        if examined.done {
            examined.done = false;
            examined.last = if self.forward { span.high } else { span.low };
        }
        Ok(examined)
    }

    /// The first stretch of consecutive time blocks in `span` (in the read's direction) whose
    /// bounds overlap the filter's window, clipped to `span`; the whole span without a window;
    /// `None` when no block in it overlaps.
    fn overlapping_blocks(&self, span: Span) -> Result<Option<Span>, ReadError> {
        let (from, to) = (self.filter.timestamp_from, self.filter.timestamp_to);
        if from.is_none() && to.is_none() {
            return Ok(Some(span));
        }
        let failed = |source| read_failed("the time blocks", source);
        let order = if self.forward { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT block FROM time_blocks WHERE block BETWEEN ?1 AND ?2 AND max_ts >= ?3 \
             AND min_ts < ?4 ORDER BY block {order} LIMIT 256"
        );
        let mut statement = self.connection.prepare_cached(&sql).map_err(failed)?;
        let blocks = statement
            .query_map(
                rusqlite::params![
                    span.low >> BLOCK_SHIFT,
                    span.high >> BLOCK_SHIFT,
                    from.unwrap_or(i64::MIN),
                    to.unwrap_or(i64::MAX),
                ],
                |row| row.get::<_, i64>(0),
            )
            .map_err(failed)?
            .collect::<Result<Vec<i64>, _>>()
            .map_err(failed)?;
        let Some(&first) = blocks.first() else {
            return Ok(None);
        };
        let step = if self.forward { 1 } else { -1 };
        let consecutive = blocks
            .iter()
            .enumerate()
            .take_while(|(i, block)| **block == first + step * *i as i64)
            .count() as i64;
        let last = first + step * (consecutive - 1);
        let (low_block, high_block) = (first.min(last), first.max(last));
        Ok(Some(Span {
            low: span.low.max(low_block << BLOCK_SHIFT),
            high: span.high.min(((high_block + 1) << BLOCK_SHIFT) - 1),
        }))
    }
}

/// The postings keys of the most selective dimension of `filter` that has postings (fewest
/// events by the maintained counts; source only without the others), or `None` when the
/// filter selects by time alone.
fn driving_keys(connection: &Connection, filter: &Filter) -> rusqlite::Result<Option<Vec<i64>>> {
    let lookup = |table: &str, kind: i64, names: Vec<&str>| -> rusqlite::Result<Vec<i64>> {
        let mut statement =
            connection.prepare_cached(&format!("SELECT id FROM {table} WHERE name = ?1"))?;
        let mut keys = Vec::new();
        for name in names {
            let mut rows = statement.query([name])?;
            if let Some(row) = rows.next()? {
                keys.push(kind + row.get::<_, i64>(0)?);
            }
        }
        Ok(keys)
    };
    let weight = |keys: &[i64]| -> rusqlite::Result<i64> {
        let mut statement = connection
            .prepare_cached("SELECT coalesce(sum(events), 0) FROM counts WHERE key = ?1")?;
        let mut total = 0i64;
        for key in keys {
            total += statement.query_row([key], |row| row.get::<_, i64>(0))?;
        }
        Ok(total)
    };
    let mut best: Option<(i64, Vec<i64>)> = None;
    if !filter.event_types.is_empty() {
        let names = filter.event_types.iter().map(|t| t.as_str()).collect();
        let keys = lookup("types", KIND_TYPE, names)?;
        best = Some((weight(&keys)?, keys));
    }
    if !filter.aggregate_types.is_empty() {
        let names = filter.aggregate_types.iter().map(|a| a.as_str()).collect();
        let keys = lookup("aggregate_types", KIND_AGGREGATE_TYPE, names)?;
        let total = weight(&keys)?;
        if best.as_ref().is_none_or(|(best, _)| total < *best) {
            best = Some((total, keys));
        }
    }
    if best.is_none()
        && let Some(source) = &filter.source
    {
        best = Some((0, lookup("sources", KIND_SOURCE, vec![source.as_str()])?));
    }
    Ok(best.map(|(_, keys)| keys))
}

impl Page<'_> {
    /// Reads the rows of `span` that match the filter, in the read's direction, up to `wanted`.
    fn examine_rows(
        &self,
        span: Span,
        wanted: u64,
        names: &mut Names,
    ) -> Result<Examined, ReadError> {
        let order = if self.forward { "ASC" } else { "DESC" };
        let condition = all_of(&self.clauses);
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE e.position BETWEEN {} AND {} \
             AND {condition} ORDER BY e.position {order} LIMIT {}",
            span.low,
            span.high,
            to_sql(wanted)
        );
        let events = self.fetch(&sql, names)?;
        let done = (events.len() as u64) < wanted;
        let last = events.last().map_or(0, |e| to_sql(e.position.0));
        Ok(Examined { events, last, done })
    }

    /// Takes the next `wanted` postings of `keys` in `span` (in the read's direction, merged
    /// across keys) and reads the rows among them that match the whole filter.
    fn examine_postings(
        &self,
        keys: &[i64],
        span: Span,
        wanted: u64,
        names: &mut Names,
    ) -> Result<Examined, ReadError> {
        let failed = |source| read_failed("the postings", source);
        let order = if self.forward { "ASC" } else { "DESC" };
        let mut candidates: Vec<i64> = Vec::new();
        // One more than wanted from each key: a key that has it is not exhausted.
        let enough = usize::try_from(wanted)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        for &key in keys {
            let taken = self.key_positions(key, span, enough).map_err(failed)?;
            candidates.extend(taken);
        }
        candidates.sort_unstable();
        candidates.dedup();
        if !self.forward {
            candidates.reverse();
        }
        // Beyond the first `wanted` candidates nothing was examined: some key may have more.
        let done = (candidates.len() as u64) <= wanted;
        candidates.truncate(usize::try_from(wanted).unwrap_or(usize::MAX));
        let Some(&last) = candidates.last() else {
            return Ok(Examined {
                events: Vec::new(),
                last: 0,
                done: true,
            });
        };
        let list = candidates
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let condition = all_of(&self.clauses);
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE e.position IN ({list}) \
             AND {condition} ORDER BY e.position {order}"
        );
        let events = self.fetch(&sql, names)?;
        Ok(Examined { events, last, done })
    }

    /// Up to `enough` positions of `key` within `span`, nearest the span's start in the read's
    /// direction first. Rows are keyed by their last position, so the first row that may hold
    /// a position at the start is the first whose last position reaches it.
    fn key_positions(&self, key: i64, span: Span, enough: usize) -> rusqlite::Result<Vec<i64>> {
        let mut found = Vec::new();
        if self.forward {
            let mut statement = self.connection.prepare_cached(
                "SELECT last, positions FROM postings WHERE key = ?1 AND last >= ?2 ORDER BY last",
            )?;
            let mut rows = statement.query(rusqlite::params![key, span.low])?;
            while let Some(row) = rows.next()? {
                let held = row_positions(key, row.get(0)?, row.get_ref(1)?.as_blob()?)?;
                for position in held.into_iter().filter(|p| *p >= span.low) {
                    if position > span.high || found.len() >= enough {
                        return Ok(found);
                    }
                    found.push(position);
                }
            }
            return Ok(found);
        }
        let upper: Option<i64> = self.connection.query_row(
            "SELECT min(last) FROM postings WHERE key = ?1 AND last >= ?2",
            rusqlite::params![key, span.high],
            |row| row.get(0),
        )?;
        let mut statement = self.connection.prepare_cached(
            "SELECT last, positions FROM postings WHERE key = ?1 AND last >= ?2 AND last <= ?3 \
             ORDER BY last DESC",
        )?;
        let upper = upper.unwrap_or(i64::MAX);
        let mut rows = statement.query(rusqlite::params![key, span.low, upper])?;
        while let Some(row) = rows.next()? {
            let held = row_positions(key, row.get(0)?, row.get_ref(1)?.as_blob()?)?;
            for position in held.into_iter().rev().filter(|p| *p <= span.high) {
                if position < span.low || found.len() >= enough {
                    return Ok(found);
                }
                found.push(position);
            }
        }
        Ok(found)
    }

    /// Runs one statement over `events e` with the filter's parameters and decodes its rows.
    fn fetch(&self, sql: &str, names: &mut Names) -> Result<Vec<RecordedEvent>, ReadError> {
        let failed = |source| read_failed("a query", source);
        let mut statement = self.connection.prepare(sql).map_err(failed)?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(self.values.iter()))
            .map_err(failed)?;
        let mut events = Vec::new();
        while let Some(row) = rows.next().map_err(failed)? {
            events.push(decode(row, self.connection, names)?);
        }
        Ok(events)
    }
}
