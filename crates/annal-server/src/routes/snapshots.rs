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
#[utoipa::path(
    get,
    path = "/v1/streams/{stream}/snapshot", operation_id = "getSnapshot",
    tag = "snapshots",
    description = "The stream's newest snapshot (scope: read).",
    params(("stream" = String, Path, description = "The stream id (1-256 bytes, no control characters), percent-encoded")),
    responses((status = 200, description = "The snapshot", body = crate::openapi::SnapshotDoc), (status = 404, description = "snapshot-not-found", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
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
#[utoipa::path(
    put,
    path = "/v1/streams/{stream}/snapshot", operation_id = "saveSnapshot",
    tag = "snapshots",
    description = "Save a snapshot unless a newer one is stored (scope: append).",
    params(("stream" = String, Path, description = "The stream id (1-256 bytes, no control characters), percent-encoded")),
    request_body(content = crate::wire::SnapshotRequest, content_type = "application/json"),
    responses((status = 200, description = "Saved", body = crate::openapi::SnapshotDoc), (status = 409, description = "snapshot-stale or snapshot-ahead-of-stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
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
