//! Single-row reads: the head, a stream's version, a snapshot, a projection's saved state.

use annal_core::{
    AggregateType, Position, ProjectionName, ReadError, SavedProjection, Snapshot, StorageError,
    StreamId, Version,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::row::{read_failed, stored_counter};

/// The newest position ever assigned. Removing the newest events does not lower it: the writer
/// records the head in `meta.head_floor` before any removal, so positions are never reused.
pub(crate) fn head(connection: &Connection) -> Result<Position, ReadError> {
    let sql = "SELECT max(coalesce((SELECT max(position) FROM events), 0), \
               coalesce((SELECT value FROM meta WHERE key = 'head_floor'), 0))";
    let failed = |source| read_failed("the head", source);
    let head: i64 = connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(failed)?;
    let location = || "table events (max position) or meta row head_floor".to_owned();
    Ok(Position(stored_counter(head, location)?))
}

/// The last version assigned in `stream` (0 if it never held an event).
pub(crate) fn stream_version(
    connection: &Connection,
    stream: &StreamId,
) -> Result<Version, ReadError> {
    let failed = |source| read_failed("a stream version", source);
    let version: Option<i64> = connection
        .prepare_cached("SELECT version FROM streams WHERE name = ?1")
        .and_then(|mut statement| {
            statement
                .query_row([stream.as_str()], |row| row.get(0))
                .optional()
        })
        .map_err(failed)?;
    // No row: the stream was never written, which is version 0.
    let Some(version) = version else {
        return Ok(Version::NONE);
    };
    let location = || format!("streams row {stream} (version)");
    Ok(Version(stored_counter(version, location)?))
}

/// The stored snapshot of `stream`, if any.
pub(crate) fn load_snapshot(
    connection: &Connection,
    stream: &StreamId,
) -> Result<Option<Snapshot>, ReadError> {
    let failed = |source| read_failed("a snapshot", source);
    let sql = "SELECT n.aggregate_type, n.version, n.state, n.timestamp FROM snapshots n \
               JOIN streams s ON s.id = n.stream_id WHERE s.name = ?1";
    let row: Option<(String, i64, String, i64)> = connection
        .prepare_cached(sql)
        .and_then(|mut statement| {
            statement
                .query_row([stream.as_str()], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()
        })
        .map_err(failed)?;
    let Some((aggregate_type, version, state, timestamp)) = row else {
        return Ok(None);
    };
    let damaged = |reason: String| {
        ReadError::Storage(StorageError::Corrupted {
            location: format!("snapshot of stream {stream}"),
            reason,
        })
    };
    Ok(Some(Snapshot {
        aggregate_id: stream.clone(),
        aggregate_type: AggregateType::new(aggregate_type).map_err(|e| damaged(e.to_string()))?,
        version: Version(stored_counter(version, || {
            format!("snapshots row of stream {stream} (version)")
        })?),
        state: serde_json::from_str(&state).map_err(|e| damaged(e.to_string()))?,
        timestamp,
    }))
}

/// The saved checkpoint and state of projection `name`, if any.
pub(crate) fn load_projection(
    connection: &Connection,
    name: &ProjectionName,
) -> Result<Option<SavedProjection>, ReadError> {
    let failed = |source| read_failed("a projection", source);
    let row: Option<(i64, String)> = connection
        .prepare_cached("SELECT checkpoint, state FROM projections WHERE name = ?1")
        .and_then(|mut statement| {
            statement
                .query_row(params![name.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(failed)?;
    let Some((checkpoint, state)) = row else {
        return Ok(None);
    };
    let state = serde_json::from_str(&state).map_err(|error| {
        ReadError::Storage(StorageError::Corrupted {
            location: format!("projection {name}"),
            reason: error.to_string(),
        })
    })?;
    Ok(Some(SavedProjection {
        checkpoint: Position(stored_counter(checkpoint, || {
            format!("projections row {name} (checkpoint)")
        })?),
        state,
    }))
}
