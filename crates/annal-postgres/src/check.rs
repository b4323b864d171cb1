//! `annal verify`'s check of the data derived from the events: the maintained counts (with the
//! events past the watermark added, as readers add them) against a recount, and each run of
//! positions' time bounds against the timestamps of its events at or below the watermark.
//!
//! Invariant: every figure is read in one read snapshot (a read-only `REPEATABLE READ`
//! transaction), beside any writer, so a disagreement is damage, never a race.

use deadpool_postgres::Object;

use crate::retry::ReadFailure;

/// Counts (per type, aggregate type, all, streams holding events) that differ from a recount.
const COUNTS: &str = "WITH recount AS (\
       SELECT 'type' AS kind, type_id AS id, count(*) AS n FROM events GROUP BY type_id \
       UNION ALL SELECT 'aggregate_type', aggregate_type_id, count(*) FROM events \
         GROUP BY aggregate_type_id \
       UNION ALL SELECT 'all', 0, count(*) FROM events \
       UNION ALL SELECT 'streams', 0, count(DISTINCT stream_id) FROM events) \
     SELECT coalesce(c.kind, r.kind), coalesce(c.id, r.id), coalesce(c.events, 0), \
            coalesce(r.n, 0) \
     FROM counts_now c FULL JOIN recount r ON r.kind = c.kind AND r.id = c.id \
     WHERE coalesce(c.events, 0) <> coalesce(r.n, 0) ORDER BY 1, 2";

/// Streams whose count (counted plus past the watermark) differs from a recount.
const STREAM_COUNTS: &str = "WITH \
     tail AS (SELECT stream_id, count(*) AS n FROM uncounted GROUP BY stream_id), \
     recount AS (SELECT stream_id, count(*) AS n FROM events GROUP BY stream_id) \
     SELECT s.name, coalesce(c.events, 0) + coalesce(t.n, 0), coalesce(r.n, 0) \
     FROM streams s LEFT JOIN stream_counts c ON c.stream_id = s.id \
     LEFT JOIN tail t ON t.stream_id = s.id LEFT JOIN recount r ON r.stream_id = s.id \
     WHERE coalesce(c.events, 0) + coalesce(t.n, 0) <> coalesce(r.n, 0) ORDER BY 1";

/// Runs of 4,096 positions whose stored time bounds do not hold the timestamps of their events
/// at or below the watermark (the fold widens them for the events past it).
const TIME_BOUNDS: &str = "WITH actual AS (\
       SELECT position / 4096 AS chunk, min(timestamp) AS lo, max(timestamp) AS hi \
       FROM events WHERE position <= (SELECT value FROM meta WHERE key = 'counted') GROUP BY 1) \
     SELECT a.chunk, a.lo, a.hi, t.min_ts, t.max_ts FROM actual a \
     LEFT JOIN time_chunks t ON t.chunk = a.chunk \
     WHERE t.chunk IS NULL OR t.min_ts > a.lo OR t.max_ts < a.hi ORDER BY 1";

/// The watermark, if it is not between 0 and the head.
const WATERMARK: &str = "SELECT c.value, h.value FROM meta c, meta h \
     WHERE c.key = 'counted' AND h.key = 'head' AND (c.value < 0 OR c.value > h.value)";

/// The problems found, each naming its table.
pub(crate) async fn check_index(mut client: Object) -> Result<Vec<String>, ReadFailure> {
    let transaction = crate::read::snapshot(&mut client).await?;
    let mut problems = Vec::new();
    for row in transaction.query(WATERMARK, &[]).await? {
        let (counted, head): (i64, i64) = (row.get(0), row.get(1));
        problems.push(format!(
            "meta row counted: watermark {counted} is outside 0..={head} (the head)"
        ));
    }
    for row in transaction.query(COUNTS, &[]).await? {
        let (kind, id, kept, actual): (String, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        problems.push(format!(
            "table counts ({kind} {id}): {kept} events counted, {actual} stored"
        ));
    }
    for row in transaction.query(STREAM_COUNTS, &[]).await? {
        let (name, kept, actual): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
        problems.push(format!(
            "table stream_counts ({name:?}): {kept} events counted, {actual} stored"
        ));
    }
    for row in transaction.query(TIME_BOUNDS, &[]).await? {
        let (chunk, lo, hi): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let kept: (Option<i64>, Option<i64>) = (row.get(3), row.get(4));
        problems.push(format!(
            "table time_chunks (run {chunk}): its events span {lo}..={hi}, the bounds kept are {kept:?}"
        ));
    }
    transaction.commit().await?;
    Ok(problems)
}
