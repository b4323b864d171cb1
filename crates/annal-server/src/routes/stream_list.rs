//! `GET /v1/streams`: the streams whose id starts with a prefix, in id order, paged by a cursor
//! (the last id of the previous page), each with its event count and newest position.
//!
//! The store keeps no stream catalogue, so the answer comes from one read of the log; it holds
//! at most `limit` streams, and a token limited to some streams sees only those.

use std::collections::BTreeMap;

use annal_core::Position;
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
    description = "The streams whose id starts with `prefix`, in id order, paged with `after` (scope: read; a stream-limited token sees only its streams). Answered from one read of the log.",
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
    let mut found: BTreeMap<String, StreamSummary> = BTreeMap::new();
    let mut events = state.store.read_all(Position::START).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        let id = event.aggregate_id.as_str();
        if !id.starts_with(&prefix) || id <= after.as_str() || !caller.sees(id) {
            continue;
        }
        let summary = found
            .entry(id.to_string())
            .or_insert_with(|| StreamSummary {
                stream: id.to_string(),
                aggregate_type: event.aggregate_type.to_string(),
                events: 0,
                version: 0,
                last_position: 0,
            });
        summary.events += 1;
        summary.version = event.version.0;
        summary.last_position = event.position.0;
    }
    let more = found.len() > limit;
    let streams: Vec<StreamSummary> = found.into_values().take(limit).collect();
    let next = more
        .then(|| streams.last().map(|s| s.stream.clone()))
        .flatten();
    Ok(Json(StreamList { streams, next }))
}
