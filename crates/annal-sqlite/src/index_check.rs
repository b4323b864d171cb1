//! `check_index`: compares the derived index (`derived.rs`) with the events it describes, for
//! `annal verify`. It reads everything, so it costs a scan of the log; no open runs it.
//!
//! Invariant: it only reads, in one read transaction, so it sees one consistent snapshot.

use annal_core::ReadError;
use rusqlite::Connection;

use crate::derived::{
    BLOCK_SHIFT, KIND_AGGREGATE_TYPE, KIND_SOURCE, KIND_TYPE, kind_end, watermark,
};
use crate::read::{recount_stats, stats};
use crate::row::read_failed;

/// The problems found, each naming the table and what disagrees; empty when the index matches
/// the events (or the store has none: then every query scans, which is always right).
pub(crate) fn check_index(connection: &Connection) -> Result<Vec<String>, ReadError> {
    let failed = |source| read_failed("the derived index", source);
    let connection = connection.unchecked_transaction().map_err(failed)?;
    let Some(mark) = watermark(&connection).map_err(failed)? else {
        return Ok(Vec::new());
    };
    let mut problems = Vec::new();
    let count = |sql: &str| -> Result<i64, ReadError> {
        connection
            .query_row(sql, [mark], |row| row.get(0))
            .map_err(failed)
    };
    let kinds = [
        (KIND_TYPE, "e.type_id"),
        (KIND_AGGREGATE_TYPE, "e.aggregate_type_id"),
        (
            KIND_SOURCE,
            "(SELECT s.id FROM sources s WHERE s.name = e.source)",
        ),
    ];
    for (kind, column) in kinds {
        let end = kind_end(kind);
        let missing = count(&format!(
            "SELECT count(*) FROM events e WHERE e.position <= ?1 AND NOT EXISTS (SELECT 1 \
             FROM postings p WHERE p.key = {kind} + {column} AND p.position = e.position)"
        ))?;
        let extra = count(&format!(
            "SELECT count(*) FROM postings p WHERE p.key >= {kind} AND p.key < {end} AND \
             ?1 = ?1 AND NOT EXISTS (SELECT 1 FROM events e WHERE e.position = p.position \
             AND {kind} + {column} = p.key)"
        ))?;
        if missing + extra > 0 {
            problems.push(format!(
                "table postings (key kind {}): {missing} events at or below the watermark \
                 {mark} have no posting, {extra} postings match no event",
                kind >> crate::derived::KIND_SHIFT
            ));
        }
    }
    let blocks = count(&format!(
        "SELECT (SELECT count(*) FROM (SELECT position >> {BLOCK_SHIFT} AS b, min(timestamp) \
         AS lo, max(timestamp) AS hi FROM events WHERE position <= ?1 GROUP BY b \
         EXCEPT SELECT block, min_ts, max_ts FROM time_blocks)) \
         + (SELECT count(*) FROM time_blocks) - (SELECT count(DISTINCT position >> \
         {BLOCK_SHIFT}) FROM events WHERE position <= ?1)"
    ))?;
    if blocks != 0 {
        problems.push(format!(
            "table time_blocks: {blocks} blocks disagree with the events at or below {mark}"
        ));
    }
    let maintained = stats(&connection, usize::MAX)?;
    let recounted = recount_stats(&connection, usize::MAX)?;
    if maintained != recounted {
        problems.push(format!(
            "tables counts and stream_counts: the maintained statistics {maintained:?} differ \
             from a recount {recounted:?}"
        ));
    }
    Ok(problems)
}
