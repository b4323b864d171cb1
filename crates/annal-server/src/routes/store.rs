//! Store-wide endpoints: head, stats, retention and verify.

use std::collections::HashMap;

use annal_core::{Position, RetentionPolicy, RetentionReport, Stats, StreamId, Version};
use axum::Json;
use axum::extract::State;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Scope};
use crate::body::JsonBody;
use crate::params::Params;
use crate::problem::ApiError;
use crate::state::AppState;
use crate::wire::Head;

/// The position of the newest committed event.
#[utoipa::path(
    get,
    path = "/v1/head", operation_id = "getHead",
    tag = "store",
    description = "The position of the newest committed event (scope: read).",
    responses((status = 200, description = "The head", body = crate::wire::Head), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn head(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Head>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(Json(Head {
        head: state.store.head().await?,
    }))
}

/// Query parameters of `GET /v1/stats`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StatsParams {
    /// How many of the largest streams to list (default 10, at most 1,000).
    pub(crate) top: Option<usize>,
}

/// Most streams `GET /v1/stats` lists: the list is built in memory.
const TOP_STREAMS_MAX: usize = 1000;

/// Counts over the readable events.
#[utoipa::path(
    get,
    path = "/v1/stats", operation_id = "getStats",
    tag = "store",
    description = "Counts over the readable events (scope: read, all streams).",
    params(StatsParams),
    responses((status = 200, description = "The counts", body = crate::openapi::StatsDoc), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<StatsParams>,
) -> Result<Json<Stats>, ApiError> {
    caller.require_all_streams(Scope::Read)?;
    let top = params.top.unwrap_or(10);
    if top > TOP_STREAMS_MAX {
        return Err(ApiError::invalid_parameter(
            "top",
            format!("top is {top}, the maximum is {TOP_STREAMS_MAX}"),
        ));
    }
    Ok(Json(state.store.stats(top).await?))
}

/// Applies a store-wide retention policy.
#[utoipa::path(
    post,
    path = "/v1/retention", operation_id = "applyRetention",
    tag = "retention",
    description = "Apply a store-wide retention policy (scope: admin).",
    request_body(content = crate::openapi::RetentionPolicyDoc, content_type = "application/json"),
    responses((status = 200, description = "Removed", body = crate::openapi::RetentionReportDoc), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn retain(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(policy, _): JsonBody<RetentionPolicy>,
) -> Result<Json<RetentionReport>, ApiError> {
    caller.require_all_streams(Scope::Admin)?;
    Ok(Json(state.store.retain(policy).await?))
}

/// Most problems a verify answer lists; the count covers all.
const LISTED_PROBLEMS_MAX: usize = 100;

/// What `GET /v1/verify` found.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VerifyReport {
    /// Events read.
    pub(crate) events: u64,
    /// Streams seen.
    pub(crate) streams: u64,
    /// Problems found.
    pub(crate) problems: u64,
    /// The first problems, described.
    pub(crate) listed: Vec<String>,
}

/// Reads the whole store and checks positions increase and versions are contiguous.
#[utoipa::path(
    get,
    path = "/v1/verify", operation_id = "verifyStore",
    tag = "store",
    description = "Read the whole store and check positions and versions (scope: admin).",
    responses((status = 200, description = "The report", body = VerifyReport), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<VerifyReport>, ApiError> {
    caller.require_all_streams(Scope::Admin)?;
    let mut events = state.store.read_all(Position::START).await?;
    let mut report = VerifyReport {
        events: 0,
        streams: 0,
        problems: 0,
        listed: Vec::new(),
    };
    let note = |report: &mut VerifyReport, problem: String| {
        report.problems += 1;
        if report.listed.len() < LISTED_PROBLEMS_MAX {
            report.listed.push(problem);
        }
    };
    let mut last_position = Position::START;
    let mut last_version: HashMap<StreamId, Version> = HashMap::new();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                note(
                    &mut report,
                    format!("after {last_position}: unreadable: {error}"),
                );
                break;
            }
        };
        report.events += 1;
        if event.position <= last_position {
            note(
                &mut report,
                format!("{}: not after {last_position}", event.position),
            );
        }
        last_position = event.position;
        if let Some(previous) = last_version.get(&event.aggregate_id)
            && event.version != previous.next()
        {
            let problem = format!(
                "{}: stream {} jumps from {previous} to {}",
                event.position, event.aggregate_id, event.version
            );
            note(&mut report, problem);
        }
        last_version.insert(event.aggregate_id, event.version);
    }
    for (stream, version) in &last_version {
        let current = state.store.stream_version(stream).await?;
        if current < *version {
            note(
                &mut report,
                format!("stream {stream}: counter {current} behind {version}"),
            );
        }
    }
    report.streams = last_version.len() as u64;
    Ok(Json(report))
}
