//! `/v1/runs`: the run ledger (annal-swarm's `RunLedger`): record a run, list runs by task, time
//! range or recency, and the optimization metrics and violation ranking over all of them.

use annal_swarm::ledger::{OptimizationMetrics, RunEvent, RunLedger, ViolationRanking};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use crate::auth::{Caller, Scope};
use crate::body::JsonBody;
use crate::params::Params;
use crate::problem::ApiError;
use crate::state::AppState;

/// Most run events one list answers: they are decoded and held in memory.
const RUNS_MAX: u64 = 10_000;

/// Query parameters of `GET /v1/runs`: one of `task`, `since`/`until`, or `recent`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsParams {
    /// The runs of this task.
    pub(crate) task: Option<String>,
    /// Runs at or after this time (ms since epoch).
    pub(crate) since: Option<i64>,
    /// Runs at or before this time (ms since epoch).
    pub(crate) until: Option<i64>,
    /// The newest runs, at most this many (default 100).
    pub(crate) recent: Option<u64>,
}

/// Lists run events.
#[utoipa::path(
    get,
    path = "/v1/runs", operation_id = "listRuns",
    tag = "runs",
    description = "Run ledger events by task, time range or recency (scope: read, all streams). A time range holding more than 10,000 runs is refused.",
    params(RunsParams),
    responses((status = 200, description = "Run events", body = Vec<serde_json::Value>), (status = 400, description = "Several selectors given, or more than 10,000 runs in the time range", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<RunsParams>,
) -> Result<Json<Vec<RunEvent>>, ApiError> {
    caller.require_all_streams(Scope::Read)?;
    let ledger = RunLedger::new(state.store.clone());
    let by_time = params.since.is_some() || params.until.is_some();
    let selectors = [params.task.is_some(), by_time, params.recent.is_some()];
    if selectors.into_iter().filter(|given| *given).count() > 1 {
        return Err(ApiError::invalid_parameter(
            "task",
            "give task, or since/until, or recent; not several",
        ));
    }
    let runs = if let Some(task) = &params.task {
        ledger.events_by_task(task).await?
    } else if by_time {
        let since = params.since.unwrap_or(i64::MIN);
        let until = params.until.unwrap_or(i64::MAX);
        // One more than the bound, to tell a full answer from a cut one.
        let runs = ledger
            .events_in_range_at_most(since, until, Some(RUNS_MAX + 1))
            .await?;
        if runs.len() as u64 > RUNS_MAX {
            return Err(ApiError::invalid_parameter(
                "since",
                format!(
                    "more than {RUNS_MAX} runs lie between since and until; narrow the range, \
                     or ask for the runs of one task"
                ),
            ));
        }
        runs
    } else {
        let recent = params.recent.unwrap_or(100);
        if recent > RUNS_MAX {
            return Err(ApiError::invalid_parameter(
                "recent",
                format!("recent is {recent}, the maximum is {RUNS_MAX}"),
            ));
        }
        ledger.recent_events(recent).await?
    };
    Ok(Json(runs))
}

/// Records a run event (evaluated by nothing here: evaluation is the recorder's choice).
#[utoipa::path(
    post,
    path = "/v1/runs", operation_id = "recordRun",
    tag = "runs",
    description = "Record a run event in stream run-<taskId> (scope: append on that stream).",
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses((status = 200, description = "The recorded run event", body = serde_json::Value), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn record(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(run, _): JsonBody<RunEvent>,
) -> Result<Json<RunEvent>, ApiError> {
    let stream = annal_swarm::ledger::run_stream(&run.task_id)?;
    caller.require_stream(Scope::Append, &stream)?;
    let ledger = RunLedger::new(state.store.clone());
    Ok(Json(ledger.log(run).await?))
}

/// Success rate, rework and violation figures over every run.
#[utoipa::path(
    get,
    path = "/v1/runs/metrics", operation_id = "getRunMetrics",
    tag = "runs",
    description = "Optimization metrics over every run (scope: read, all streams).",
    responses((status = 200, description = "The metrics", body = serde_json::Value), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<OptimizationMetrics>, ApiError> {
    caller.require_all_streams(Scope::Read)?;
    Ok(Json(RunLedger::new(state.store.clone()).metrics().await?))
}

/// Violations ranked by how often and how badly they occur.
#[utoipa::path(
    get,
    path = "/v1/runs/violations", operation_id = "getRunViolations",
    tag = "runs",
    description = "Violations ranked (scope: read, all streams).",
    responses((status = 200, description = "The ranking", body = Vec<serde_json::Value>), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn violations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ViolationRanking>>, ApiError> {
    caller.require_all_streams(Scope::Read)?;
    Ok(Json(
        RunLedger::new(state.store.clone())
            .rank_violations()
            .await?,
    ))
}
