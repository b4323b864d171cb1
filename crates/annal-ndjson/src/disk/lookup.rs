//! Reads of the derived index: entries by position, by stream version, by posting and by id
//! hash, each bounded by the watermark the reader saw (`through`), since a pass may have moved
//! the index past it while the reader's tail still holds those events.
//!
//! Each runs inside [`super::DiskIndex::read`]'s transaction. A blob that does not decode is
//! reported as damage of the index, naming the table.

use rusqlite::{Connection, Row, params};

use super::pass::id_bucket;
use super::records::{Keyed, Located, Record, Versioned, decode};
use crate::index::Entry;
use crate::postings::Field;

/// Which way a read goes and where it starts (inclusive), with the watermark it may not pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk {
    pub(crate) forward: bool,
    pub(crate) start: u64,
    pub(crate) through: u64,
}

impl Walk {
    /// Whether `position` is in the walk's reach: on its side of the start, and on disk.
    fn admits(&self, position: u64) -> bool {
        position <= self.through
            && if self.forward {
                position >= self.start
            } else {
                position <= self.start
            }
    }

    /// The highest position a backward walk reads.
    fn top(&self) -> u64 {
        self.start.min(self.through)
    }
}

fn sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The records of the blob in `column` of `row`, or damage naming `table`.
pub(crate) fn blob<R: Record>(row: &Row<'_>, column: usize, table: &str) -> Result<Vec<R>, String> {
    let bytes = row.get_ref(column).map_err(|e| e.to_string())?;
    let bytes = bytes.as_blob().map_err(|e| format!("table {table}: {e}"))?;
    decode(bytes).map_err(|reason| format!("table {table}: {reason}"))
}

/// Visits the events on disk from `walk.start` in its direction, in blocks, skipping whole
/// blocks whose time bounds miss `window` (`[from, to)`, either side open), until `visit`
/// returns `false`.
pub(crate) fn blocks(
    connection: &Connection,
    walk: Walk,
    window: (Option<i64>, Option<i64>),
    mut visit: impl FnMut(Located) -> bool,
) -> Result<(), String> {
    let sql_text = if walk.forward {
        "SELECT min_ts, max_ts, entries FROM blocks WHERE first >= \
         coalesce((SELECT max(first) FROM blocks WHERE first <= ?1), 0) AND first <= ?2 \
         ORDER BY first"
    } else {
        "SELECT min_ts, max_ts, entries FROM blocks WHERE first <= ?2 AND last >= ?1 \
         ORDER BY first DESC"
    };
    let (low, high) = if walk.forward {
        (walk.start, walk.through)
    } else {
        (0, walk.top())
    };
    let mut statement = connection
        .prepare_cached(sql_text)
        .map_err(|e| e.to_string())?;
    let mut rows = statement
        .query(params![sql(low), sql(high)])
        .map_err(|e| e.to_string())?;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let (min, max): (i64, i64) = (
            row.get(0).map_err(|e| e.to_string())?,
            row.get(1).map_err(|e| e.to_string())?,
        );
        let overlaps =
            window.0.is_none_or(|from| max >= from) && window.1.is_none_or(|to| min < to);
        if !overlaps {
            continue;
        }
        let mut records: Vec<Located> = blob(row, 2, "blocks")?;
        if !walk.forward {
            records.reverse();
        }
        for record in records {
            if walk.admits(record.entry.position) && !visit(record) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Up to `limit` entries on disk from `walk.start` in its direction.
pub(crate) fn range(
    connection: &Connection,
    walk: Walk,
    until: Option<u64>,
    limit: usize,
) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    if limit == 0 {
        return Ok(entries);
    }
    blocks(connection, walk, (None, None), |record| {
        if until.is_some_and(|until| record.entry.position >= until) {
            return false;
        }
        entries.push(record.entry);
        entries.len() < limit
    })?;
    Ok(entries)
}

/// Up to `want` records of one posting list on disk from `walk.start` in its direction whose
/// timestamp is in `window` (`[from, to)`, either side open), skipping whole rows whose time
/// bounds miss it; and whether the list had no more (`true`: exhausted).
pub(crate) fn postings(
    connection: &Connection,
    field: Field,
    name: &str,
    walk: Walk,
    window: (Option<i64>, Option<i64>),
    want: usize,
) -> Result<(Vec<Located>, bool), String> {
    let sql_text = if walk.forward {
        "SELECT entries FROM postings WHERE field = ?1 AND name = ?2 AND last >= ?3 \
         AND first <= ?4 AND max_ts >= ?5 AND min_ts < ?6 ORDER BY last"
    } else {
        "SELECT entries FROM postings WHERE field = ?1 AND name = ?2 AND last >= ?3 \
         AND first <= ?4 AND max_ts >= ?5 AND min_ts < ?6 ORDER BY last DESC"
    };
    let (low, high) = if walk.forward {
        (walk.start, walk.through)
    } else {
        (0, walk.top())
    };
    let (from, to) = (window.0.unwrap_or(i64::MIN), window.1.unwrap_or(i64::MAX));
    let in_window = |r: &Located| r.timestamp >= from && window.1.is_none_or(|to| r.timestamp < to);
    let mut statement = connection
        .prepare_cached(sql_text)
        .map_err(|e| e.to_string())?;
    let mut rows = statement
        .query(params![field as i64, name, sql(low), sql(high), from, to])
        .map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let mut records: Vec<Located> = blob(row, 0, "postings")?;
        if !walk.forward {
            records.reverse();
        }
        found.extend(
            records
                .into_iter()
                .filter(|r| walk.admits(r.entry.position) && in_window(r)),
        );
        if found.len() >= want {
            found.truncate(want);
            return Ok((found, false));
        }
    }
    Ok((found, true))
}

/// Up to `limit` events of `stream` on disk: forward from version `from`, or backward from
/// version `from` down.
pub(crate) fn stream(
    connection: &Connection,
    stream: &str,
    forward: bool,
    from: u64,
    through: u64,
    limit: usize,
) -> Result<Vec<Entry>, String> {
    let sql_text = if forward {
        "SELECT entries FROM stream_runs WHERE stream = ?1 AND last_version >= ?2 \
         ORDER BY last_version"
    } else {
        "SELECT entries FROM stream_runs WHERE stream = ?1 AND first_version <= ?2 \
         ORDER BY last_version DESC"
    };
    let mut statement = connection
        .prepare_cached(sql_text)
        .map_err(|e| e.to_string())?;
    let mut rows = statement
        .query(params![stream, sql(from)])
        .map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let mut records: Vec<Versioned> = blob(row, 0, "stream_runs")?;
        if !forward {
            records.reverse();
        }
        let reach = |r: &Versioned| {
            r.entry.position <= through
                && if forward {
                    r.version >= from
                } else {
                    r.version <= from
                }
        };
        found.extend(records.iter().filter(|r| reach(r)).map(|r| r.entry));
        if found.len() >= limit {
            found.truncate(limit);
            break;
        }
    }
    Ok(found)
}

/// The entries on disk whose id hashes to `hash`.
pub(crate) fn ids(connection: &Connection, hash: u64, through: u64) -> Result<Vec<Entry>, String> {
    let mut statement = connection
        .prepare_cached("SELECT entries FROM ids WHERE bucket = ?1 ORDER BY last")
        .map_err(|e| e.to_string())?;
    let mut rows = statement
        .query([id_bucket(hash)])
        .map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let records: Vec<Keyed> = blob(row, 0, "ids")?;
        found.extend(
            records
                .iter()
                .filter(|r| r.hash == hash && r.entry.position <= through)
                .map(|r| r.entry),
        );
    }
    Ok(found)
}

/// The last entry on disk (the line just before the watermark), if any.
pub(crate) fn last_entry(connection: &Connection) -> Result<Option<Entry>, String> {
    let mut statement = connection
        .prepare_cached("SELECT entries FROM blocks ORDER BY first DESC LIMIT 1")
        .map_err(|e| e.to_string())?;
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let Some(row) = rows.next().map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let records: Vec<Located> = blob(row, 0, "blocks")?;
    Ok(records.last().map(|r| r.entry))
}
