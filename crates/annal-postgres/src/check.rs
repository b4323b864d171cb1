//! `annal verify`'s check of the data derived from the events: the maintained counts (with the
//! events past the watermark added, as readers add them) against a recount, each run of
//! positions' time bounds against the timestamps of its events at or below the watermark, and
//! the postings against the positions of the events below `meta.posted`.
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

/// Runs of 4,096 positions whose stored time bounds are not exactly the oldest and newest
/// timestamps of their events at or below the watermark, or that have no such events.
pub(crate) const TIME_BOUNDS: &str = "WITH actual AS (\
       SELECT position / 4096 AS chunk, min(timestamp) AS lo, max(timestamp) AS hi \
       FROM events WHERE position <= (SELECT value FROM meta WHERE key = 'counted') GROUP BY 1) \
     SELECT coalesce(a.chunk, t.chunk), a.lo, a.hi, t.min_ts, t.max_ts FROM actual a \
     FULL JOIN time_chunks t ON t.chunk = a.chunk \
     WHERE t.min_ts IS DISTINCT FROM a.lo OR t.max_ts IS DISTINCT FROM a.hi ORDER BY 1";

/// Postings rows that differ from the positions of their run's events with their type,
/// aggregate type or source, below `meta.posted`.
pub(crate) const POSTINGS: &str = "WITH keyed AS (\
       SELECT 0::smallint AS kind, e.type_id AS key, e.position FROM events e \
       UNION ALL SELECT 1::smallint, e.aggregate_type_id, e.position FROM events e \
       UNION ALL SELECT 2::smallint, s.id, e.position FROM events e \
         LEFT JOIN sources s ON s.name = e.source), \
     actual AS (SELECT kind, key, position / 4096 AS chunk, \
         array_agg((position % 4096)::smallint ORDER BY position) AS offsets FROM keyed \
       WHERE position < (SELECT value FROM meta WHERE key = 'posted') GROUP BY 1, 2, 3) \
     SELECT coalesce(a.kind, p.kind), coalesce(a.key, p.key), coalesce(a.chunk, p.chunk), \
            coalesce(cardinality(p.offsets), 0), coalesce(cardinality(a.offsets), 0) \
     FROM actual a FULL JOIN postings p \
       ON p.kind = a.kind AND p.key IS NOT DISTINCT FROM a.key AND p.chunk = a.chunk \
     WHERE p.offsets IS DISTINCT FROM a.offsets ORDER BY 1, 2, 3";

/// The watermarks, if `counted` is not between 0 and the head, or `posted` is not a whole
/// number of runs at most one past `counted`.
const WATERMARK: &str = "SELECT c.value, h.value, p.value FROM meta c, meta h, meta p \
     WHERE c.key = 'counted' AND h.key = 'head' AND p.key = 'posted' \
     AND (c.value < 0 OR c.value > h.value OR p.value < 0 OR p.value % 4096 <> 0 \
          OR p.value > c.value + 1)";

/// The problems found, each naming its table.
pub(crate) async fn check_index(mut client: Object) -> Result<Vec<String>, ReadFailure> {
    let transaction = crate::read::snapshot(&mut client).await?;
    let mut problems = Vec::new();
    for row in transaction.query(WATERMARK, &[]).await? {
        let (counted, head, posted): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        problems.push(format!(
            "meta rows counted and posted: watermarks {counted} and {posted} with head {head} \
             (counted must be in 0..=head, posted a multiple of 4096 in 0..=counted + 1)"
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
        let chunk: i64 = row.get(0);
        let span: (Option<i64>, Option<i64>) = (row.get(1), row.get(2));
        let kept: (Option<i64>, Option<i64>) = (row.get(3), row.get(4));
        problems.push(format!(
            "table time_chunks (run {chunk}): its counted events span {span:?}, the bounds kept are {kept:?}"
        ));
    }
    for row in transaction.query(POSTINGS, &[]).await? {
        let (kind, key, chunk): (i16, Option<i64>, i64) = (row.get(0), row.get(1), row.get(2));
        let (kept, actual): (i32, i32) = (row.get(3), row.get(4));
        problems.push(format!(
            "table postings (kind {kind}, key {key:?}, run {chunk}): {kept} positions kept, \
             {actual} events stored"
        ));
    }
    transaction.commit().await?;
    Ok(problems)
}
