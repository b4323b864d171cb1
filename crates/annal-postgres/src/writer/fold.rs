//! The fold: moves the statistics' watermark (`meta.counted`) up to the head, counting the
//! events past it into `counts` and `stream_counts` and widening the time bounds of their runs
//! of positions (`time_chunks`), and posts each run of 4,096 positions the watermark has passed
//! (`postings`, `meta.posted`), in transactions of its own after the appends committed
//! (`schema.rs`, `SCHEMA_V3` to `SCHEMA_V5`).
//!
//! Invariants: every event at or below the watermark is counted exactly once, and none above
//! it is; the time bounds of a run are exactly the oldest and newest timestamps of its events
//! at or below it; the postings hold exactly the positions below `posted`, each under its type,
//! aggregate type and source. A fold first locks the `counted` row, the lock the delete trigger takes too, then reads
//! the events in a new statement, whose read snapshot includes every deletion that committed
//! before the lock was granted; a deletion that commits later finds the new watermark and
//! uncounts its rows below it. The events read are those up to the head of the same read
//! snapshot, a prefix of the log (`docs/postgres-ordering.md`), so no event is passed over.
//! Every process with a writer folds; their folds take turns on the lock and the later one finds
//! less to do. A failed fold changes nothing: readers add the longer tail until the next one.

use std::sync::Arc;
use std::time::Duration;

use annal_core::Position;
use deadpool_postgres::Pool;
use tokio::sync::watch;

/// How often the fold looks for new events: readers add at most about this much of the log
/// to the counts, and appends between two folds share one fold.
const FOLD_INTERVAL: Duration = Duration::from_millis(50);

/// The wait after a failed fold before the next try.
const FOLD_RETRY: Duration = Duration::from_secs(1);

/// Most events one fold transaction counts, so a long tail (after a fold failed for a while) is
/// counted in bounded steps that each hold the `counted` lock briefly.
const FOLD_EVENTS_MAX: i64 = 100_000;

/// Counts the events in `($1, min(head, $1 + $2)]`, widens their runs' time bounds, and moves
/// the watermark there; returns the new watermark and whether it reached the head. Run after `SELECT … FOR UPDATE` of the
/// `counted` row in the same transaction, so its read snapshot is taken after the lock.
const FOLD: &str = "WITH bounds AS (\
       SELECT least(value, $1::bigint + $2::bigint) AS upto, value AS head FROM meta \
       WHERE key = 'head'), \
     tail AS (SELECT e.position, e.stream_id, e.type_id, e.aggregate_type_id, e.timestamp \
       FROM events e, bounds b \
       WHERE e.position > $1::bigint AND e.position <= b.upto), \
     per_stream AS (SELECT stream_id, count(*) AS n FROM tail GROUP BY stream_id), \
     moved AS (INSERT INTO stream_counts (stream_id, name, events) \
       SELECT p.stream_id, s.name, p.n FROM per_stream p JOIN streams s ON s.id = p.stream_id \
       ORDER BY p.stream_id \
       ON CONFLICT (stream_id) DO UPDATE SET events = stream_counts.events + excluded.events \
       RETURNING stream_counts.stream_id, stream_counts.events AS after), \
     filled AS (SELECT count(*) AS n FROM moved m JOIN per_stream p USING (stream_id) \
       WHERE m.after = p.n), \
     counted AS (INSERT INTO counts (kind, id, events) \
       SELECT kind, id, n FROM ( \
         SELECT 'type' AS kind, type_id AS id, count(*) AS n FROM tail GROUP BY type_id \
         UNION ALL SELECT 'aggregate_type', aggregate_type_id, count(*) FROM tail \
           GROUP BY aggregate_type_id \
         UNION ALL SELECT 'all', 0, count(*) FROM tail \
         UNION ALL SELECT 'streams', 0, n FROM filled) d \
       WHERE n <> 0 ORDER BY kind, id \
       ON CONFLICT (kind, id) DO UPDATE SET events = counts.events + excluded.events), \
     widened AS (INSERT INTO time_chunks (chunk, min_ts, max_ts) \
       SELECT position / 4096, min(timestamp), max(timestamp) FROM tail GROUP BY 1 ORDER BY 1 \
       ON CONFLICT (chunk) DO UPDATE SET \
         min_ts = least(time_chunks.min_ts, excluded.min_ts), \
         max_ts = greatest(time_chunks.max_ts, excluded.max_ts)), \
     marked AS (UPDATE meta SET value = b.upto FROM bounds b \
       WHERE meta.key = 'counted' AND b.upto > $1) \
     SELECT upto, upto >= head FROM bounds";

/// Gives the sources of the events in `[$1, $2)` dictionary ids (`sources`), before [`POST`].
const POST_SOURCES: &str = "INSERT INTO sources (name) \
     SELECT DISTINCT source FROM events WHERE position >= $1 AND position < $2 ORDER BY 1 \
     ON CONFLICT (name) DO NOTHING";

/// Writes the postings of the runs of 4,096 positions in `[$1, $2)` (one row per type,
/// aggregate type and source of each run, its positions' offsets in the run ascending) and moves `meta.posted` to
/// `$2`. A run is posted once, when the watermark has passed its end; a row already there (left
/// by a rebuild) is replaced, since postings are derived from the events.
const POST: &str = "WITH \
     rows AS (SELECT e.position, e.type_id, e.aggregate_type_id, s.id AS source_id \
       FROM events e JOIN sources s ON s.name = e.source \
       WHERE e.position >= $1 AND e.position < $2), \
     keyed AS (SELECT 0::smallint AS kind, type_id AS key, position FROM rows \
       UNION ALL SELECT 1::smallint, aggregate_type_id, position FROM rows \
       UNION ALL SELECT 2::smallint, source_id, position FROM rows), \
     posted AS (INSERT INTO postings (kind, key, chunk, offsets) \
       SELECT kind, key, position / 4096, \
         array_agg((position % 4096)::smallint ORDER BY position) FROM keyed \
       GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 \
       ON CONFLICT (kind, key, chunk) DO UPDATE SET offsets = excluded.offsets) \
     UPDATE meta SET value = $2 WHERE key = 'posted'";

/// Positions per run of `time_chunks` and `postings`.
const RUN: i64 = 4_096;

/// Folds until the watermark reaches the head; returns the watermark.
pub(crate) async fn catch_up(pool: &Pool) -> Result<u64, tokio_postgres::Error> {
    loop {
        let (watermark, done) = fold_once(pool).await?;
        if done {
            return Ok(watermark);
        }
    }
}

/// One fold transaction: at most [`FOLD_EVENTS_MAX`] events.
async fn fold_once(pool: &Pool) -> Result<(u64, bool), tokio_postgres::Error> {
    let Ok(mut client) = pool.get().await else {
        // No connection now: the next tick tries again; nothing was changed.
        return Ok((0, true));
    };
    let transaction = client.transaction().await?;
    // The fold writes only derived data and its own watermark, in one transaction: if a crash
    // loses its commit, the watermark goes back with what it counted, and the next fold redoes
    // it. So it does not wait for its WAL to reach the disk (a later durable commit, whose
    // flush covers all earlier WAL, or the WAL writer takes it there), and leaves the disk's
    // flushes to the appends.
    transaction
        .batch_execute("SET LOCAL synchronous_commit = off")
        .await?;
    let watermark: i64 = transaction
        .query_one(
            "SELECT value FROM meta WHERE key = 'counted' FOR UPDATE",
            &[],
        )
        .await?
        .get(0);
    let fold = transaction.prepare_cached(FOLD).await?;
    let row = transaction
        .query_one(&fold, &[&watermark, &FOLD_EVENTS_MAX])
        .await?;
    let upto: i64 = row.get(0);
    post(&transaction, upto).await?;
    transaction.commit().await?;
    Ok((u64::try_from(upto).unwrap_or(0), row.get(1)))
}

/// Posts every whole run of positions at or below the watermark `counted` that is not posted
/// yet, in the fold's transaction (so under its lock of the `counted` row).
async fn post(
    transaction: &deadpool_postgres::Transaction<'_>,
    counted: i64,
) -> Result<(), tokio_postgres::Error> {
    let posted: i64 = transaction
        .query_one("SELECT value FROM meta WHERE key = 'posted'", &[])
        .await?
        .get(0);
    let through = (counted + 1) / RUN * RUN;
    if through <= posted {
        return Ok(());
    }
    let sources = transaction.prepare_cached(POST_SOURCES).await?;
    transaction.execute(&sources, &[&posted, &through]).await?;
    let post = transaction.prepare_cached(POST).await?;
    transaction.execute(&post, &[&posted, &through]).await?;
    Ok(())
}

/// The fold task: every [`FOLD_INTERVAL`], if this process has seen the head move past what it
/// last folded, folds up to the head. Ends when the store is gone (no receiver of `head` is
/// left).
pub(crate) async fn run(pool: Pool, head: Arc<watch::Sender<Position>>) {
    let mut folded = None;
    loop {
        tokio::select! {
            () = head.closed() => return,
            () = tokio::time::sleep(FOLD_INTERVAL) => {}
        }
        let seen = head.borrow().0;
        if folded.is_some_and(|folded| folded >= seen) {
            continue;
        }
        match catch_up(&pool).await {
            Ok(watermark) => folded = Some(watermark),
            // Counted later: readers add the tail meanwhile, so the figures stay exact. Wait
            // before the next try, so a lasting failure is logged once a second at most.
            Err(error) => {
                tracing::warn!(%error, "counting new events into the statistics failed");
                tokio::select! {
                    () = head.closed() => return,
                    () = tokio::time::sleep(FOLD_RETRY) => {}
                }
            }
        }
    }
}
