//! `/v1/streams/{stream}/snapshot`: save and load a stream's snapshot.

use annal_core::{ReadStreamOptions, Snapshot};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use futures::StreamExt;

use crate::auth::{Caller, Scope};
use crate::body::JsonBody;
use crate::params::StreamPath;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::wire::SnapshotRequest;

/// The stream's newest snapshot.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    StreamPath(stream): StreamPath,
) -> Result<Json<Snapshot>, ApiError> {
    caller.require_stream(Scope::Read, &stream)?;
    match state.store.load_snapshot(&stream).await? {
        Some(snapshot) => Ok(Json(snapshot)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "snapshot-not-found",
            format!("stream {stream} has no snapshot"),
        )),
    }
}

/// Saves a snapshot unless a newer one is stored.
pub(crate) async fn put(
    State(state): State<AppState>,
    caller: Caller,
    StreamPath(stream): StreamPath,
    JsonBody(request, _): JsonBody<SnapshotRequest>,
) -> Result<Json<Snapshot>, ApiError> {
    caller.require_stream(Scope::Append, &stream)?;
    let aggregate_type = match request.aggregate_type {
        Some(aggregate_type) => aggregate_type,
        None => {
            let options = ReadStreamOptions::backward().limit(1);
            let mut newest = state.store.read_stream(&stream, options).await?;
            match newest.next().await {
                Some(event) => event?.aggregate_type,
                None => {
                    return Err(ApiError::invalid_field(
                        "aggregateType",
                        format!("stream {stream} has no events; give aggregateType"),
                    ));
                }
            }
        }
    };
    let snapshot = Snapshot {
        aggregate_id: stream,
        aggregate_type,
        version: request.version,
        state: request.state,
        timestamp: now_ms(),
    };
    state.store.save_snapshot(snapshot.clone()).await?;
    Ok(Json(snapshot))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
