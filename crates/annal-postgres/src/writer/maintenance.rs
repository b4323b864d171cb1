//! The writer's other requests: snapshots, truncation, deletion, store-wide retention and
//! projection saves, each in its own transaction.
//!
//! Invariants: a stream's version counter never goes down (removal deletes event rows, never
//! the `streams` row), and nothing here touches `meta.head`, so positions are never reused;
//! events newer than a stream's snapshot stay unless the caller forces their removal. Each
//! request that reads a stream's version locks its row first, the same lock appends take, so
//! the check and the change see one version.

use annal_core::decide;
use annal_core::{
    ExpectedVersion, RetentionError, RetentionPolicy, RetentionReport, Snapshot, SnapshotError,
    StreamId, Version,
};
use deadpool_postgres::Object;
use tokio_postgres::Transaction;

use crate::row::to_sql;
use crate::writer::corrupt::{Failure, counter};

type Db<T> = Result<T, Failure>;

/// Locks the row of `stream` and returns its id and version, if the stream exists.
async fn lock_stream(transaction: &Transaction<'_>, stream: &StreamId) -> Db<Option<(i64, u64)>> {
    let row = transaction
        .query_opt(
            "SELECT id, version FROM streams WHERE name = $1 FOR UPDATE",
            &[&stream.as_str()],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let id: i64 = row.get(0);
    let version = counter(row.get(1), || format!("streams row {id} (version)"))?;
    Ok(Some((id, version)))
}

async fn snapshot_version(transaction: &Transaction<'_>, stream_id: i64) -> Db<Option<Version>> {
    let row = transaction
        .query_opt(
            "SELECT version FROM snapshots WHERE stream_id = $1",
            &[&stream_id],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let location = || format!("snapshots row of stream {stream_id} (version)");
    Ok(Some(Version(counter(row.get(0), location)?)))
}

/// Saves `snapshot` unless it is ahead of its stream or older than the stored one.
pub(crate) async fn save_snapshot(
    client: &mut Object,
    snapshot: Snapshot,
) -> Db<Result<(), SnapshotError>> {
    let transaction = client.transaction().await?;
    let stream = &snapshot.aggregate_id;
    let (stream_id, actual) = lock_stream(&transaction, stream).await?.unwrap_or((0, 0));
    // A stream without a row is at version 0 (id 0 matches no snapshot row).
    let stored = snapshot_version(&transaction, stream_id).await?;
    let decided = decide::save_snapshot(stream, snapshot.version, Version(actual), stored);
    if decided.is_err() {
        return Ok(decided);
    }
    transaction
        .execute(
            "INSERT INTO snapshots (stream_id, aggregate_type, version, state, timestamp) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream_id) DO UPDATE SET \
             aggregate_type = excluded.aggregate_type, version = excluded.version, \
             state = excluded.state, timestamp = excluded.timestamp",
            &[
                &stream_id,
                &snapshot.aggregate_type.as_str(),
                &to_sql(snapshot.version.0),
                &snapshot.state.to_string(),
                &snapshot.timestamp,
            ],
        )
        .await?;
    transaction.commit().await?;
    Ok(Ok(()))
}

/// Removes the events of `stream` before version `before`.
pub(crate) async fn truncate_before(
    client: &mut Object,
    stream: &StreamId,
    before: Version,
    force: bool,
) -> Db<Result<RetentionReport, RetentionError>> {
    let transaction = client.transaction().await?;
    let Some((stream_id, _)) = lock_stream(&transaction, stream).await? else {
        return Ok(Ok(RetentionReport::default()));
    };
    let snapshot = snapshot_version(&transaction, stream_id).await?;
    let decided = decide::truncate_before(stream, before, force, snapshot);
    if let Err(refused) = decided {
        return Ok(Err(refused));
    }
    let removed = transaction
        .execute(
            "DELETE FROM events WHERE stream_id = $1 AND version < $2",
            &[&stream_id, &to_sql(before.0)],
        )
        .await?;
    transaction
        .execute(
            "UPDATE streams SET truncated_before = greatest(truncated_before, $2) WHERE id = $1",
            &[&stream_id, &to_sql(before.0)],
        )
        .await?;
    transaction.commit().await?;
    Ok(Ok(RetentionReport {
        removed,
        protected: 0,
    }))
}

/// Removes every event and the snapshot of `stream`, keeping its version counter.
pub(crate) async fn delete_stream(
    client: &mut Object,
    stream: &StreamId,
    expected: ExpectedVersion,
) -> Db<Result<RetentionReport, RetentionError>> {
    let transaction = client.transaction().await?;
    let locked = lock_stream(&transaction, stream).await?;
    // A stream without a row was never written: version 0.
    let actual = Version(locked.map_or(0, |(_, version)| version));
    if let Err(refused) = decide::delete_stream(stream, expected, actual) {
        return Ok(Err(refused));
    }
    let Some((stream_id, _)) = locked else {
        return Ok(Ok(RetentionReport::default()));
    };
    let removed = transaction
        .execute("DELETE FROM events WHERE stream_id = $1", &[&stream_id])
        .await?;
    transaction
        .execute("DELETE FROM snapshots WHERE stream_id = $1", &[&stream_id])
        .await?;
    transaction
        .execute(
            "UPDATE streams SET deleted = true WHERE id = $1",
            &[&stream_id],
        )
        .await?;
    transaction.commit().await?;
    Ok(Ok(RetentionReport {
        removed,
        protected: 0,
    }))
}

/// Removes the oldest events beyond `policy.max_events` and each stream's longest prefix of
/// events older than its cutoff, except events newer than their stream's snapshot (unless
/// forced): the same verdicts as `annal_core::decide::RetentionPass`, so every stream keeps a
/// contiguous suffix of its versions whatever its timestamps.
pub(crate) async fn retain(
    client: &mut Object,
    policy: RetentionPolicy,
) -> Db<Result<RetentionReport, RetentionError>> {
    let transaction = client.transaction().await?;
    // The newest position among the events beyond the count limit (0: none are).
    let mut count_bound = 0i64;
    if let Some(max_events) = policy.max_events {
        let total: i64 = transaction
            .query_one(
                "SELECT coalesce(sum(events), 0)::bigint FROM counts_now WHERE kind = 'all'",
                &[],
            )
            .await?
            .get(0);
        let over = counter(total, || "table events (count)".into())?.saturating_sub(max_events);
        if over > 0 {
            count_bound = transaction
                .query_one(
                    "SELECT position FROM events ORDER BY position LIMIT 1 OFFSET $1",
                    &[&to_sql(over - 1)],
                )
                .await?
                .get(0);
        }
    }
    let cutoff = policy.before_timestamp.unwrap_or(i64::MIN);
    // Each stream's first version at or after the cutoff, found in one scan; an event is old
    // enough only before it (every event of a stream without one is). Joined, not looked up
    // per event, so the cost stays one pass over the log.
    let selected = "WITH bounds AS (SELECT stream_id, min(version) AS version FROM events \
                    WHERE timestamp >= $2 GROUP BY stream_id), \
                    selected AS (SELECT e.position, (n.version IS NOT NULL AND \
                    e.version > n.version) AS uncovered FROM events e \
                    LEFT JOIN bounds b ON b.stream_id = e.stream_id \
                    LEFT JOIN snapshots n ON n.stream_id = e.stream_id \
                    WHERE e.position <= $1 OR (e.timestamp < $2 AND \
                    (b.version IS NULL OR e.version < b.version)))";
    let protected: i64 = if policy.force {
        0
    } else {
        transaction
            .query_one(
                &format!("{selected} SELECT count(*) FROM selected WHERE uncovered"),
                &[&count_bound, &cutoff],
            )
            .await?
            .get(0)
    };
    let removed = transaction
        .execute(
            &format!(
                "{selected} DELETE FROM events WHERE position IN \
                 (SELECT position FROM selected WHERE $3 OR NOT uncovered)"
            ),
            &[&count_bound, &cutoff, &policy.force],
        )
        .await?;
    transaction.commit().await?;
    Ok(Ok(RetentionReport {
        removed,
        protected: counter(protected, || "table events (count)".into())?,
    }))
}

/// Saves a projection's checkpoint and state in one row, so they can never disagree.
pub(crate) async fn save_projection(
    client: &Object,
    name: &str,
    checkpoint: u64,
    state_json: &str,
) -> Db<()> {
    client
        .execute(
            "INSERT INTO projections (name, checkpoint, state) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET checkpoint = excluded.checkpoint, \
             state = excluded.state",
            &[&name, &to_sql(checkpoint), &state_json],
        )
        .await?;
    Ok(())
}
