//! `check_index`: compares the derived index (`derived.rs`) with the events it describes, for
//! `annal verify`. It reads everything, so it costs a scan of the log; no open runs it.
//!
//! Invariant: it only reads, in one read transaction, so it sees one read snapshot.

use annal_core::ReadError;
use rusqlite::{Connection, OptionalExtension};

use crate::derived::{
    BLOCK_SHIFT, KIND_AGGREGATE_TYPE, KIND_SOURCE, KIND_TYPE, kind_end, row_positions, watermark,
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
    postings(&connection, mark, &mut problems)?;
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

/// Every posting names an event at or below the watermark with its key, and every such event
/// has one posting of each kind.
fn postings(
    connection: &Connection,
    mark: i64,
    problems: &mut Vec<String>,
) -> Result<(), ReadError> {
    let failed = |source| read_failed("the derived index", source);
    let kinds = [
        (KIND_TYPE, "type_id"),
        (KIND_AGGREGATE_TYPE, "aggregate_type_id"),
        (
            KIND_SOURCE,
            "(SELECT s.id FROM sources s WHERE s.name = e.source)",
        ),
    ];
    for (kind, column) in kinds {
        let events: i64 = connection
            .query_row(
                "SELECT count(*) FROM events WHERE position <= ?1",
                [mark],
                |row| row.get(0),
            )
            .map_err(failed)?;
        let mut lookup = connection
            .prepare(&format!(
                "SELECT {kind} + {column} FROM events e WHERE e.position = ?1"
            ))
            .map_err(failed)?;
        let mut statement = connection
            .prepare("SELECT key, last, positions FROM postings WHERE key >= ?1 AND key < ?2")
            .map_err(failed)?;
        let mut rows = statement.query([kind, kind_end(kind)]).map_err(failed)?;
        let (mut held, mut wrong) = (0i64, 0i64);
        while let Some(row) = rows.next().map_err(failed)? {
            let key: i64 = row.get(0).map_err(failed)?;
            let last: i64 = row.get(1).map_err(failed)?;
            let blob = row
                .get_ref(2)
                .and_then(|v| Ok(v.as_blob()?))
                .map_err(failed)?;
            let positions = row_positions(key, last, blob).map_err(failed)?;
            for position in positions {
                held += 1;
                let actual: Option<i64> = lookup
                    .query_row([position], |row| row.get(0))
                    .optional()
                    .map_err(failed)?;
                if actual != Some(key) || position > mark {
                    wrong += 1;
                }
            }
        }
        if held != events || wrong > 0 {
            problems.push(format!(
                "table postings (key kind {}): {held} postings for {events} events at or below \
                 the watermark {mark}, {wrong} of them naming no event with their key",
                kind >> crate::derived::KIND_SHIFT
            ));
        }
    }
    Ok(())
}
