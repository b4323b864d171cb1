//! Single-row reads: the head, a stream's version, a snapshot, a projection.

use annal_core::{
    AggregateType, Position, ProjectionName, SavedProjection, Snapshot, StorageError, StreamId,
    Version,
};
use deadpool_postgres::Object;

use crate::retry::ReadFailure;
use crate::row::from_sql;

fn corrupted(location: &str, reason: impl std::fmt::Display) -> ReadFailure {
    ReadFailure::Read(
        StorageError::Corrupted {
            location: location.to_owned(),
            reason: reason.to_string(),
        }
        .into(),
    )
}

/// The last position ever assigned (removals never lower it).
pub(crate) async fn head(client: Object) -> Result<Position, ReadFailure> {
    let statement = client
        .prepare_cached("SELECT value FROM meta WHERE key = 'head'")
        .await?;
    let row = client.query_one(&statement, &[]).await?;
    let head =
        from_sql(row.get(0), || "meta row head".into()).map_err(|e| ReadFailure::Read(e.into()))?;
    Ok(Position(head))
}

/// The stream's last assigned version, 0 if it never held an event.
pub(crate) async fn stream_version(
    client: Object,
    stream: &StreamId,
) -> Result<Version, ReadFailure> {
    let statement = client
        .prepare_cached("SELECT version FROM streams WHERE name = $1")
        .await?;
    let row = client.query_opt(&statement, &[&stream.as_str()]).await?;
    let Some(row) = row else {
        return Ok(Version::NONE);
    };
    let version = from_sql(row.get(0), || format!("streams row {stream}"))
        .map_err(|e| ReadFailure::Read(e.into()))?;
    Ok(Version(version))
}

/// The stored snapshot of `stream`, if any.
pub(crate) async fn load_snapshot(
    client: Object,
    stream: &StreamId,
) -> Result<Option<Snapshot>, ReadFailure> {
    let statement = client
        .prepare_cached(
            "SELECT n.aggregate_type, n.version, n.state, n.timestamp FROM snapshots n \
             JOIN streams s ON s.id = n.stream_id WHERE s.name = $1",
        )
        .await?;
    let Some(row) = client.query_opt(&statement, &[&stream.as_str()]).await? else {
        return Ok(None);
    };
    let location = format!("snapshots row of {stream}");
    let version =
        from_sql(row.get(1), || location.clone()).map_err(|e| ReadFailure::Read(e.into()))?;
    let state = serde_json::from_str(row.get(2)).map_err(|e| corrupted(&location, e))?;
    Ok(Some(Snapshot {
        aggregate_id: stream.clone(),
        aggregate_type: AggregateType::new(row.get::<_, String>(0))
            .map_err(|e| ReadFailure::Read(e.into()))?,
        version: Version(version),
        state,
        timestamp: row.get(3),
    }))
}

/// The saved checkpoint and state of a projection, if any.
pub(crate) async fn load_projection(
    client: Object,
    name: &ProjectionName,
) -> Result<Option<SavedProjection>, ReadFailure> {
    let statement = client
        .prepare_cached("SELECT checkpoint, state FROM projections WHERE name = $1")
        .await?;
    let Some(row) = client.query_opt(&statement, &[&name.as_str()]).await? else {
        return Ok(None);
    };
    let location = format!("projections row {name}");
    let checkpoint =
        from_sql(row.get(0), || location.clone()).map_err(|e| ReadFailure::Read(e.into()))?;
    let state = serde_json::from_str(row.get(1)).map_err(|e| corrupted(&location, e))?;
    Ok(Some(SavedProjection {
        checkpoint: Position(checkpoint),
        state,
    }))
}
