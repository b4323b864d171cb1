//! `/v1/streams/{stream}`: append, read, version, delete and truncate one stream.
//!
//! Handlers only translate: every rule (expected versions, retries, limits, atomicity) is the
//! store's. The caller is checked before the body is read.

use std::time::Instant;

use annal_core::{Direction, EventId, ReadStreamOptions, RetentionReport, Version};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::auth::{Caller, Scope};
use crate::body::JsonBody;
use crate::params::{Params, StreamPath};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::wire::{
    AppendRequest, AppendResponse, AppendedEvent, StreamVersion, TruncateRequest,
    WireExpectedVersion, parse_expected,
};

/// Appends a batch to a stream; answers once the batch is durable.
#[utoipa::path(
    post,
    path = "/v1/streams/{stream}/events", operation_id = "appendEvents",
    tag = "streams",
    description = "Append a batch atomically (scope: append). Answers once the batch is durable; a retry with the same ids answers the original result.",
    params(("stream" = String, Path, description = "The stream id (1-256 bytes, no control characters), percent-encoded")),
    request_body(content = crate::openapi::AppendRequestDoc, content_type = "application/json"),
    responses((status = 200, description = "Appended (or an idempotent retry)", body = crate::wire::AppendResponse), (status = 400, description = "Bad body: `field` names it", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 409, description = "wrong-expected-version (with actualVersion) or duplicate-event-id", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 413, description = "body-too-large, batch-too-large or event-too-large", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 415, description = "Not application/json", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "Store unavailable", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn append(
    State(state): State<AppState>,
    caller: Caller,
    StreamPath(stream): StreamPath,
    JsonBody(request, bytes): JsonBody<AppendRequest>,
) -> Result<Response, ApiError> {
    caller.require_stream(Scope::Append, &stream)?;
    let started = Instant::now();
    let mut events = request.events;
    // Ids are chosen here when the client gave none, so the answer can name every event.
    for event in &mut events {
        event.id.get_or_insert_with(EventId::generate);
    }
    let ids: Vec<EventId> = events.iter().filter_map(|event| event.id.clone()).collect();
    let result = state
        .store
        .append(&stream, request.expected_version.0, events)
        .await?;
    crate::metrics::append(ids.len(), bytes, started.elapsed());
    let n_events = ids.len() as u64;
    assert_eq!(
        result.last_position.0 - result.first_position.0 + 1,
        n_events,
        "a batch occupies consecutive positions"
    );
    let first_version = result.stream_version.0 + 1 - n_events;
    let appended = ids
        .into_iter()
        .zip(0u64..)
        .map(|(id, index)| AppendedEvent {
            id,
            position: annal_core::Position(result.first_position.0 + index),
            version: Version(first_version + index),
        })
        .collect();
    let answer = AppendResponse {
        stream: stream.to_string(),
        stream_version: result.stream_version,
        first_position: result.first_position,
        last_position: result.last_position,
        events: appended,
    };
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// Query parameters of a stream read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReadStreamParams {
    /// First version returned (inclusive).
    pub(crate) from: Option<u64>,
    /// `forward` (default) or `backward`.
    #[param(value_type = Option<String>)]
    pub(crate) direction: Option<Direction>,
    /// At most this many events.
    pub(crate) limit: Option<u64>,
}

/// Reads one stream, as a JSON array or NDJSON.
#[utoipa::path(
    get,
    path = "/v1/streams/{stream}/events", operation_id = "readStream",
    tag = "streams",
    description = "Read one stream (scope: read) as a JSON array, or NDJSON with `Accept: application/x-ndjson`; streamed with bounded memory.",
    params(("stream" = String, Path, description = "The stream id (1-256 bytes, no control characters), percent-encoded"), ReadStreamParams),
    responses((status = 200, description = "The events", content((Vec<crate::openapi::RecordedEventDoc> = "application/json"), (crate::openapi::RecordedEventDoc = "application/x-ndjson"))), (status = 404, description = "stream-not-found", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 400, description = "Bad parameter", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn read(
    State(state): State<AppState>,
    caller: Caller,
    StreamPath(stream): StreamPath,
    Params(params): Params<ReadStreamParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require_stream(Scope::Read, &stream)?;
    crate::metrics::read("stream");
    if state.store.stream_version(&stream).await? == Version::NONE {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "stream-not-found",
            format!("stream {stream} has never held an event"),
        )
        .with("stream", stream.as_str()));
    }
    let options = ReadStreamOptions {
        from: params.from.map(Version),
        direction: params.direction.unwrap_or_default(),
        limit: params.limit,
    };
    let events = state.store.read_stream(&stream, options).await?;
    Ok(crate::respond::events(
        events,
        crate::respond::wants_ndjson(&headers),
    ))
}

/// The stream's current version (0: it never held an event).
#[utoipa::path(
    get,
    path = "/v1/streams/{stream}", operation_id = "getStreamVersion",
    tag = "streams",
    description = "The stream's current version, 0 if it never held an event (scope: read).",
    params(("stream" = String, Path, description = "The stream id (1-256 bytes, no control characters), percent-encoded")),
    responses((status = 200, description = "The version", body = crate::wire::StreamVersion), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn version(
    State(state): State<AppState>,
    caller: Caller,
    StreamPath(stream): StreamPath,
) -> Result<Json<StreamVersion>, ApiError> {
    caller.require_stream(Scope::Read, &stream)?;
    let version = state.store.stream_version(&stream).await?;
    Ok(Json(StreamVersion {
        stream: stream.to_string(),
        version,
    }))
}

/// Query parameters of a stream deletion.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeleteParams {
    /// `any` (default), `streamExists` or a version.
    pub(crate) expected_version: Option<String>,
}

/// Removes every event and the snapshot of a stream; its numbers are never reused.
#[utoipa::path(
    delete,
    path = "/v1/streams/{stream}", operation_id = "deleteStream",
    tag = "retention",
    description = "Remove every event and the snapshot of a stream; its numbers are never reused (scope: admin).",
    params(("stream" = String, Path, description = "The stream id (1-256 bytes, no control characters), percent-encoded"), DeleteParams),
    responses((status = 200, description = "Removed", body = crate::openapi::RetentionReportDoc), (status = 409, description = "wrong-expected-version", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    StreamPath(stream): StreamPath,
    Params(params): Params<DeleteParams>,
) -> Result<Json<RetentionReport>, ApiError> {
    caller.require_stream(Scope::Admin, &stream)?;
    let expected = match params.expected_version.as_deref() {
        None => WireExpectedVersion::default(),
        Some(text) => parse_expected(text).ok_or_else(|| {
            ApiError::invalid_parameter(
                "expectedVersion",
                format!("expectedVersion {text:?}: use any, noStream, streamExists or a number"),
            )
        })?,
    };
    Ok(Json(state.store.delete_stream(&stream, expected.0).await?))
}

/// Removes a stream's events before a version.
#[utoipa::path(
    post,
    path = "/v1/streams/{stream}/truncate", operation_id = "truncateStream",
    tag = "retention",
    description = "Remove a stream's events before a version (scope: admin).",
    params(("stream" = String, Path, description = "The stream id (1-256 bytes, no control characters), percent-encoded")),
    request_body(content = crate::wire::TruncateRequest, content_type = "application/json"),
    responses((status = 200, description = "Removed", body = crate::openapi::RetentionReportDoc), (status = 409, description = "protected-by-snapshot", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn truncate(
    State(state): State<AppState>,
    caller: Caller,
    StreamPath(stream): StreamPath,
    JsonBody(request, _): JsonBody<TruncateRequest>,
) -> Result<Json<RetentionReport>, ApiError> {
    caller.require_stream(Scope::Admin, &stream)?;
    let report = state
        .store
        .truncate_before(&stream, request.before, request.force)
        .await?;
    Ok(Json(report))
}
