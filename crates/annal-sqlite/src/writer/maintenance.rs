//! The writer's other requests: snapshots, truncation, deletion, store-wide retention and
//! projection saves, each decided and written inside the group transaction.
//!
//! Invariants: a stream's version counter never goes down (removal deletes rows, never the
//! `streams` row); the head is pinned in `meta` before any removal, so positions are never
//! reused; events newer than a stream's snapshot stay unless the caller forces their removal.

use annal_core::decide;
use annal_core::{
    ExpectedVersion, RetentionError, RetentionPolicy, RetentionReport, Snapshot, SnapshotError,
    StreamId, Version,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::row::to_sql;
use crate::writer::corrupt::counter;
use crate::writer::state::WriterState;

/// The stored snapshot version of a stream, if it has one.
fn snapshot_version(connection: &Connection, stream_id: i64) -> rusqlite::Result<Option<Version>> {
    let version: Option<i64> = connection
        .prepare_cached("SELECT version FROM snapshots WHERE stream_id = ?1")?
        .query_row([stream_id], |row| row.get(0))
        .optional()?;
    version
        .map(|version| counter(version, || format!("snapshots row {stream_id} (version)")))
        .transpose()
        .map(|version| version.map(Version))
}

/// Saves `snapshot` unless it is ahead of its stream or older than the stored one.
pub(crate) fn save_snapshot(
    connection: &Connection,
    state: &mut WriterState,
    snapshot: Snapshot,
) -> rusqlite::Result<Result<(), SnapshotError>> {
    let stream = &snapshot.aggregate_id;
    let stored = match state.known_stream_id(stream) {
        Some(stream_id) => snapshot_version(connection, stream_id)?,
        None => None,
    };
    let actual = Version(state.version(stream));
    let decided = decide::save_snapshot(stream, snapshot.version, actual, stored);
    if decided.is_ok() {
        write_snapshot(connection, state, &snapshot)?;
    }
    Ok(decided)
}

/// Writes `snapshot` over the stored one of its stream.
fn write_snapshot(
    connection: &Connection,
    state: &mut WriterState,
    snapshot: &Snapshot,
) -> rusqlite::Result<()> {
    // The stream has reached the snapshot's version (at least 1), so its row exists.
    let stream_id = state.stream_id(connection, &snapshot.aggregate_id)?;
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO snapshots (stream_id, aggregate_type, version, state, \
             timestamp) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            stream_id,
            snapshot.aggregate_type.as_str(),
            to_sql(snapshot.version.0),
            snapshot.state.to_string(),
            snapshot.timestamp,
        ])?;
    Ok(())
}

/// Removes the events of `stream` before version `before`.
pub(crate) fn truncate_before(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    before: Version,
    force: bool,
) -> rusqlite::Result<Result<RetentionReport, RetentionError>> {
    let Some(stream_id) = state.known_stream_id(stream) else {
        return Ok(Ok(RetentionReport::default()));
    };
    let snapshot = snapshot_version(connection, stream_id)?;
    if let Err(refused) = decide::truncate_before(stream, before, force, snapshot) {
        return Ok(Err(refused));
    }
    state.pin_head(connection)?;
    let doomed = "stream_id = ?1 AND version < ?2";
    state.forget_indexed(connection, doomed, params![stream_id, to_sql(before.0)])?;
    let removed = connection
        .prepare_cached(&format!("DELETE FROM events WHERE {doomed}"))?
        .execute(params![stream_id, to_sql(before.0)])?;
    connection
        .prepare_cached(
            "UPDATE streams SET truncated_before = max(truncated_before, ?2) WHERE id = ?1",
        )?
        .execute(params![stream_id, to_sql(before.0)])?;
    Ok(Ok(RetentionReport {
        removed: removed as u64,
        protected: 0,
    }))
}

/// Removes every event and the snapshot of `stream`, keeping its version counter.
pub(crate) fn delete_stream(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    expected: ExpectedVersion,
) -> rusqlite::Result<Result<RetentionReport, RetentionError>> {
    let actual = Version(state.version(stream));
    if let Err(refused) = decide::delete_stream(stream, expected, actual) {
        return Ok(Err(refused));
    }
    let Some(stream_id) = state.known_stream_id(stream) else {
        return Ok(Ok(RetentionReport::default()));
    };
    state.pin_head(connection)?;
    state.forget_indexed(connection, "stream_id = ?1", [stream_id])?;
    let removed = connection
        .prepare_cached("DELETE FROM events WHERE stream_id = ?1")?
        .execute([stream_id])?;
    connection
        .prepare_cached("DELETE FROM snapshots WHERE stream_id = ?1")?
        .execute([stream_id])?;
    connection
        .prepare_cached("UPDATE streams SET deleted = 1 WHERE id = ?1")?
        .execute([stream_id])?;
    Ok(Ok(RetentionReport {
        removed: removed as u64,
        protected: 0,
    }))
}

/// Removes the oldest events beyond `policy.max_events` and each stream's longest prefix of
/// events older than its cutoff, except events newer than their stream's snapshot (unless
/// forced): the same verdicts as `annal_core::decide::RetentionPass`, so every stream keeps a
/// contiguous suffix of its versions whatever its timestamps.
pub(crate) fn retain(
    connection: &Connection,
    state: &mut WriterState,
    policy: RetentionPolicy,
) -> rusqlite::Result<Result<RetentionReport, RetentionError>> {
    // The newest position among the events beyond the count limit (0: none are).
    let mut count_bound = 0i64;
    if let Some(max_events) = policy.max_events {
        let total: i64 =
            connection.query_row("SELECT count(*) FROM events", [], |row| row.get(0))?;
        let over = counter(total, || "table events (count)".into())?.saturating_sub(max_events);
        if over > 0 {
            count_bound = connection.query_row(
                "SELECT position FROM events ORDER BY position LIMIT 1 OFFSET ?1",
                [to_sql(over - 1)],
                |row| row.get(0),
            )?;
        }
    }
    let cutoff = policy.before_timestamp.unwrap_or(i64::MIN);
    age_bounds(connection, policy.before_timestamp)?;
    // An event is old enough if it and every earlier version of its stream are older than the
    // cutoff: it comes before the stream's first event at or after the cutoff, if any.
    let selected = "(position <= ?1 OR (timestamp < ?2 AND version < coalesce((SELECT b.version \
                    FROM temp.retain_bounds b WHERE b.stream_id = events.stream_id), ?4)))";
    let uncovered = "EXISTS (SELECT 1 FROM snapshots n WHERE n.stream_id = events.stream_id \
                     AND events.version > n.version)";
    let protected: i64 = if policy.force {
        0
    } else {
        connection.query_row(
            &format!("SELECT count(*) FROM events WHERE {selected} AND {uncovered}"),
            params![count_bound, cutoff, policy.force, i64::MAX],
            |row| row.get(0),
        )?
    };
    state.pin_head(connection)?;
    let doomed = format!("{selected} AND (?3 OR NOT {uncovered})");
    state.forget_indexed(
        connection,
        &doomed,
        params![count_bound, cutoff, policy.force, i64::MAX],
    )?;
    let removed = connection.execute(
        &format!("DELETE FROM events WHERE {doomed}"),
        params![count_bound, cutoff, policy.force, i64::MAX],
    )?;
    connection.execute("DELETE FROM temp.retain_bounds", [])?;
    Ok(Ok(RetentionReport {
        removed: removed as u64,
        protected: counter(protected, || "table events (count)".into())?,
    }))
}

/// Fills `temp.retain_bounds` with each stream's first version at or after `cutoff` (empty
/// without one): one scan of the log, so the removal looks each stream's bound up instead of
/// rescanning the stream for every event.
fn age_bounds(connection: &Connection, cutoff: Option<i64>) -> rusqlite::Result<()> {
    connection.execute(
        "CREATE TEMP TABLE IF NOT EXISTS retain_bounds (stream_id INTEGER PRIMARY KEY, \
         version INTEGER NOT NULL)",
        [],
    )?;
    connection.execute("DELETE FROM temp.retain_bounds", [])?;
    let Some(cutoff) = cutoff else {
        return Ok(());
    };
    connection.execute(
        "INSERT INTO temp.retain_bounds (stream_id, version) SELECT stream_id, min(version) \
         FROM events WHERE timestamp >= ?1 GROUP BY stream_id",
        [cutoff],
    )?;
    Ok(())
}

/// Saves a projection's checkpoint and state in one row, so they can never disagree.
pub(crate) fn save_projection(
    connection: &Connection,
    name: &str,
    checkpoint: u64,
    state_json: &str,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO projections (name, checkpoint, state) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![name, to_sql(checkpoint), state_json])?;
    Ok(())
}
