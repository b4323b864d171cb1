//! `GET /v1/streams`: the streams whose id starts with a prefix, in id order, paged by a cursor
//! (the last id of the previous page), each with its event count and newest position.
//!
//! The store keeps each stream's count (`stats`), so a page costs one read of those counts
//! (O(streams), never a read of the log) plus two one-event reads per stream shown: its oldest
//! readable event (the aggregate type) and its newest (version and position). A token limited
//! to some streams sees only those.

use annal_core::{ReadStreamOptions, RecordedEvent, StreamCount, StreamId};
use axum::Json;
use axum::extract::State;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, Scope};
use crate::params::Params;
use crate::problem::ApiError;
use crate::state::AppState;

/// Most streams one page answers.
const LIMIT_MAX: usize = 1000;

/// Query parameters of `GET /v1/streams`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamListParams {
    /// Only streams whose id starts with this.
    pub(crate) prefix: Option<String>,
    /// Only streams whose id sorts after this (the last id of the previous page).
    pub(crate) after: Option<String>,
    /// At most this many streams (default 100, at most 1,000).
    pub(crate) limit: Option<usize>,
}

/// One stream in a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamSummary {
    pub(crate) stream: String,
    pub(crate) aggregate_type: String,
    /// Readable events.
    pub(crate) events: u64,
    /// Its newest event's version.
    pub(crate) version: u64,
    /// Its newest event's position.
    pub(crate) last_position: u64,
}

/// A page of streams.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamList {
    pub(crate) streams: Vec<StreamSummary>,
    /// The cursor of the next page (`after`), absent on the last page.
    pub(crate) next: Option<String>,
}

/// Lists streams by id prefix.
#[utoipa::path(
    get,
    path = "/v1/streams", operation_id = "listStreams",
    tag = "streams",
    description = "The streams whose id starts with `prefix`, in id order, paged with `after` (scope: read; a stream-limited token sees only its streams). Answered from the maintained counts and two one-event reads per stream shown, never a read of the log.",
    params(StreamListParams),
    responses((status = 200, description = "A page of streams", body = StreamList), (status = 400, description = "Bad parameter", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StreamListParams>,
) -> Result<Json<StreamList>, ApiError> {
    caller.require(Scope::Read)?;
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > LIMIT_MAX {
        return Err(ApiError::invalid_parameter(
            "limit",
            format!("limit is {limit}, use 1 to {LIMIT_MAX}"),
        ));
    }
    let prefix = params.prefix.unwrap_or_default();
    let after = params.after.unwrap_or_default();
    let mut counted: Vec<StreamCount> = state
        .store
        .stats(usize::MAX)
        .await?
        .top_streams
        .into_iter()
        .filter(|counted| {
            let id = counted.stream.as_str();
            id.starts_with(&prefix) && id > after.as_str() && caller.sees(id)
        })
        .collect();
    counted.sort_unstable_by(|a, b| a.stream.as_str().cmp(b.stream.as_str()));
    let more = counted.len() > limit;
    counted.truncate(limit);
    let mut streams = Vec::with_capacity(counted.len());
    for stream in &counted {
        // A stream emptied since the counts were read is left out, as a later read would.
        if let Some(summary) = summary(&state, stream).await? {
            streams.push(summary);
        }
    }
    let next = more
        .then(|| counted.last().map(|c| c.stream.to_string()))
        .flatten();
    Ok(Json(StreamList { streams, next }))
}

/// One stream's summary: its count, and its oldest and newest readable events; `None` if it has
/// none.
async fn summary(
    state: &AppState,
    counted: &StreamCount,
) -> Result<Option<StreamSummary>, ApiError> {
    let id = &counted.stream;
    let one = |options: ReadStreamOptions| ReadStreamOptions {
        limit: Some(1),
        ..options
    };
    let (Some(oldest), Some(newest)) = (
        first(state, id, one(ReadStreamOptions::forward())).await?,
        first(state, id, one(ReadStreamOptions::backward())).await?,
    ) else {
        return Ok(None);
    };
    Ok(Some(StreamSummary {
        stream: id.to_string(),
        aggregate_type: oldest.aggregate_type.to_string(),
        events: counted.events,
        version: newest.version.0,
        last_position: newest.position.0,
    }))
}

/// The first event a read of `id` with `options` gives.
async fn first(
    state: &AppState,
    id: &StreamId,
    options: ReadStreamOptions,
) -> Result<Option<RecordedEvent>, ApiError> {
    let mut events = state.store.read_stream(id, options).await?;
    Ok(events.next().await.transpose()?)
}
