//! `/v1/projections/{agents,tasks,memory}`: the swarm projections, brought up to date on each
//! request, answering every query the CLI's `annal project` offers.
//!
//! Each projection's runner is kept in memory between requests (behind a lock, so concurrent
//! requests catch up once), so a request folds only the events committed since the last one.

use std::sync::Arc;

use annal_core::{Position, Projection, ProjectionRunner, Store};
use annal_swarm::projections::{AgentState, AgentStatus, MemoryIndex, TaskHistory, TaskStatus};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

use crate::auth::{Caller, Scope};
use crate::params::Params;
use crate::problem::ApiError;
use crate::state::AppState;

/// The projections' runners, loaded on first use.
#[derive(Default)]
pub(crate) struct Projections {
    pub(crate) agents: Mutex<Option<ProjectionRunner<AgentState>>>,
    pub(crate) tasks: Mutex<Option<ProjectionRunner<TaskHistory>>>,
    pub(crate) memory: Mutex<Option<ProjectionRunner<MemoryIndex>>>,
}

/// The runner in `slot`, loaded if needed and caught up with the store.
async fn caught_up<'a, P: Projection>(
    slot: &'a Mutex<Option<ProjectionRunner<P>>>,
    store: &Arc<dyn Store>,
) -> Result<MutexGuard<'a, Option<ProjectionRunner<P>>>, ApiError> {
    let mut guard = slot.lock().await;
    if guard.is_none() {
        *guard = Some(ProjectionRunner::<P>::load(Arc::clone(store)).await?);
    }
    if let Some(runner) = guard.as_mut() {
        runner.catch_up().await?;
    }
    Ok(guard)
}

fn checkpoint<P: Projection>(guard: &Option<ProjectionRunner<P>>) -> Position {
    guard
        .as_ref()
        .map_or(Position::START, ProjectionRunner::checkpoint)
}

/// Query parameters of `GET /v1/projections/agents`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AgentsParams {
    /// idle, active, blocked, completed or error.
    pub(crate) status: Option<String>,
    /// Only this domain.
    pub(crate) domain: Option<String>,
    /// At most this many.
    pub(crate) limit: Option<usize>,
}

/// Agent state: status, role, domain, task counts, health.
#[utoipa::path(
    get,
    path = "/v1/projections/agents", operation_id = "getAgents",
    tag = "projections",
    description = "Agent state (scope: read, all streams).",
    params(AgentsParams),
    responses((status = 200, description = "{agents, activeCount, checkpoint}", body = serde_json::Value), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn agents(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<AgentsParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require_all_streams(Scope::Read)?;
    let status = params
        .status
        .as_deref()
        .map(|text| {
            AgentStatus::parse(text).ok_or_else(|| {
                ApiError::invalid_parameter(
                    "status",
                    format!("status {text:?}: use idle, active, blocked, completed or error"),
                )
            })
        })
        .transpose()?;
    let guard = caught_up(&state.projections.agents, &state.store).await?;
    let Some(runner) = guard.as_ref() else {
        return Err(ApiError::internal(&"the agents projection did not load"));
    };
    let projection = runner.state();
    let agents: Vec<_> = projection
        .all()
        .filter(|a| status.is_none_or(|s| a.status == s))
        .filter(|a| params.domain.as_deref().is_none_or(|d| a.domain == d))
        .take(params.limit.unwrap_or(usize::MAX))
        .collect();
    Ok(Json(json!({
        "agents": agents,
        "activeCount": projection.active_count(),
        "checkpoint": checkpoint(&guard),
    })))
}

/// Query parameters of `GET /v1/projections/tasks`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TasksParams {
    /// pending, queued, assigned, in-progress, blocked, completed, failed or cancelled.
    pub(crate) status: Option<String>,
    /// Only tasks assigned to this agent.
    pub(crate) agent: Option<String>,
    /// Only this priority.
    pub(crate) priority: Option<String>,
    /// Only blocked tasks.
    #[serde(default)]
    pub(crate) blocked: bool,
    /// At most this many.
    pub(crate) limit: Option<usize>,
}

/// Task history: status, assignment, durations, success and failure rates.
#[utoipa::path(
    get,
    path = "/v1/projections/tasks", operation_id = "getTasks",
    tag = "projections",
    description = "Task history (scope: read, all streams).",
    params(TasksParams),
    responses((status = 200, description = "{tasks, averageDurationMs, successRate, failureRate, checkpoint}", body = serde_json::Value), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn tasks(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<TasksParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require_all_streams(Scope::Read)?;
    let status: Option<TaskStatus> = params
        .status
        .as_deref()
        .map(|text| {
            serde_json::from_value(json!(text)).map_err(|_| {
                ApiError::invalid_parameter(
                    "status",
                    format!(
                        "status {text:?}: use pending, queued, assigned, in-progress, blocked, \
                         completed, failed or cancelled"
                    ),
                )
            })
        })
        .transpose()?;
    let guard = caught_up(&state.projections.tasks, &state.store).await?;
    let Some(runner) = guard.as_ref() else {
        return Err(ApiError::internal(&"the tasks projection did not load"));
    };
    let history = runner.state();
    let tasks: Vec<_> = history
        .all()
        .filter(|t| status.is_none_or(|s| t.status == s))
        .filter(|t| {
            let agent = params.agent.as_deref();
            agent.is_none_or(|a| t.assigned_agent.as_deref() == Some(a))
        })
        .filter(|t| params.priority.as_deref().is_none_or(|p| t.priority == p))
        .filter(|t| !params.blocked || !t.blocked_by.is_empty())
        .take(params.limit.unwrap_or(usize::MAX))
        .collect();
    Ok(Json(json!({
        "tasks": tasks,
        "averageDurationMs": history.average_duration_ms(),
        "successRate": history.success_rate(),
        "failureRate": history.failure_rate(),
        "checkpoint": checkpoint(&guard),
    })))
}

/// Query parameters of `GET /v1/projections/memory`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MemoryParams {
    /// Only this namespace.
    pub(crate) namespace: Option<String>,
    /// The most-read entries, at most this many.
    pub(crate) top: Option<usize>,
}

/// Memory index: entries, sizes per namespace, access counts.
#[utoipa::path(
    get,
    path = "/v1/projections/memory", operation_id = "getMemory",
    tag = "projections",
    description = "Memory index (scope: read, all streams).",
    params(MemoryParams),
    responses((status = 200, description = "{memories, sizeByNamespace, checkpoint}", body = serde_json::Value), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn memory(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<MemoryParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require_all_streams(Scope::Read)?;
    let guard = caught_up(&state.projections.memory, &state.store).await?;
    let Some(runner) = guard.as_ref() else {
        return Err(ApiError::internal(&"the memory projection did not load"));
    };
    let index = runner.state();
    let memories: Vec<_> = match (&params.namespace, params.top) {
        (_, Some(n)) => index.most_accessed(n),
        (Some(namespace), None) => index.by_namespace(namespace),
        (None, None) => index.all().collect(),
    };
    Ok(Json(json!({
        "memories": memories,
        "sizeByNamespace": index.total_size_by_namespace(),
        "checkpoint": checkpoint(&guard),
    })))
}
