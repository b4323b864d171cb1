//! `GET /v1/status`: what the server is doing now: the head, the live subscribers, and each
//! swarm projection it keeps (those of `/v1/projections/*` and time travel at the head) with its
//! checkpoint and how far it lags behind the head.
//!
//! The answer never waits: a projection not loaded yet, or catching up at this moment, is
//! reported without a checkpoint rather than after the catch-up.

use annal_core::{Projection, ProjectionRunner};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::auth::{Caller, Scope};
use crate::problem::ApiError;
use crate::state::AppState;

/// One projection's progress.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectionProgress {
    pub(crate) name: String,
    /// The last position folded; absent while the projection is not loaded or is catching up.
    pub(crate) checkpoint: Option<u64>,
    /// Events committed after the checkpoint.
    pub(crate) lag: Option<u64>,
}

/// The server's live figures.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerStatus {
    /// The position of the newest committed event.
    pub(crate) head: u64,
    /// Live SSE subscribers now.
    pub(crate) live_subscribers: u64,
    /// The most live subscribers allowed.
    pub(crate) subscribers_max: u64,
    pub(crate) projections: Vec<ProjectionProgress>,
}

fn progress<P: Projection>(
    slot: &Mutex<Option<ProjectionRunner<P>>>,
    head: u64,
) -> ProjectionProgress {
    let checkpoint = slot
        .try_lock()
        .ok()
        .and_then(|runner| runner.as_ref().map(|r| r.checkpoint().0));
    ProjectionProgress {
        name: P::NAME.to_string(),
        checkpoint,
        lag: checkpoint.map(|c| head.saturating_sub(c)),
    }
}

/// The head, live subscribers and projection checkpoints.
#[utoipa::path(
    get,
    path = "/v1/status", operation_id = "getStatus",
    tag = "store",
    description = "The head, the live subscribers, and each swarm projection the server keeps with its checkpoint and lag behind the head (scope: read).",
    responses((status = 200, description = "The figures", body = ServerStatus), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ServerStatus>, ApiError> {
    caller.require(Scope::Read)?;
    let head = state.store.head().await?.0;
    let max = state.config.subscribers_max;
    let live = max.saturating_sub(state.subscribers.available_permits());
    let kept = &state.projections;
    Ok(Json(ServerStatus {
        head,
        live_subscribers: live as u64,
        subscribers_max: max as u64,
        projections: vec![
            progress(&kept.agents, head),
            progress(&kept.tasks, head),
            progress(&kept.memory, head),
        ],
    }))
}
