//! The events above the derived index's watermark, read in one pass: what `stats` adds to the
//! maintained counts.
//!
//! One plain scan of the rowid range, counted here, instead of one grouped statement per
//! figure: each such statement read the whole tail again, and SQLite groups through a sorter
//! that cost more than the scan itself (figures in `BENCHMARKS.md`, "Cost as the store grows").

use std::collections::HashMap;

use rusqlite::Connection;

/// The rows above the watermark: a rowid range, read without any index (an index on one of
/// the columns would walk the whole log).
pub(crate) const TAIL_SQL: &str = "SELECT stream_id, type_id, aggregate_type_id, timestamp \
     FROM events NOT INDEXED WHERE position > ?1";

/// Counts and time bounds of the events above a watermark, by dictionary id.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    pub(crate) by_type: HashMap<i64, u64>,
    pub(crate) by_aggregate_type: HashMap<i64, u64>,
    pub(crate) by_stream: HashMap<i64, u64>,
    pub(crate) oldest: Option<i64>,
    pub(crate) newest: Option<i64>,
}

/// Reads the events above `mark` once and counts them.
pub(crate) fn read(connection: &Connection, mark: i64) -> rusqlite::Result<Tail> {
    let mut tail = Tail::default();
    let mut statement = connection.prepare_cached(TAIL_SQL)?;
    let mut rows = statement.query([mark])?;
    while let Some(row) = rows.next()? {
        *tail.by_stream.entry(row.get(0)?).or_default() += 1;
        *tail.by_type.entry(row.get(1)?).or_default() += 1;
        *tail.by_aggregate_type.entry(row.get(2)?).or_default() += 1;
        let at: i64 = row.get(3)?;
        tail.oldest = Some(tail.oldest.map_or(at, |oldest| oldest.min(at)));
        tail.newest = Some(tail.newest.map_or(at, |newest| newest.max(at)));
    }
    Ok(tail)
}

/// The stream ids of `tail` as a JSON array, for `json_each` in one statement.
pub(crate) fn stream_ids_json(tail: &Tail) -> String {
    let ids: Vec<String> = tail.by_stream.keys().map(i64::to_string).collect();
    format!("[{}]", ids.join(","))
}
