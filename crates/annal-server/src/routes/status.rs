//! `GET /v1/status`: what the server is doing now: the head, the live subscribers, and each
//! swarm projection's saved checkpoint and how far it lags behind the head.
//!
//! Checkpoints are read from the store (what a restart would resume from), so the answer holds
//! for projections kept by this server or by any other process sharing the store.

use annal_core::{Projection, ProjectionName, Store};
use annal_swarm::projections::{AgentState, MemoryIndex, TaskHistory};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Caller, Scope};
use crate::problem::ApiError;
use crate::state::AppState;

/// One projection's progress.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectionProgress {
    pub(crate) name: String,
    /// The last position folded and saved (0: never run).
    pub(crate) checkpoint: u64,
    /// Events committed after the checkpoint.
    pub(crate) lag: u64,
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

async fn progress<P: Projection>(
    store: &dyn Store,
    head: u64,
) -> Result<ProjectionProgress, ApiError> {
    let name = ProjectionName::new(P::NAME).map_err(|error| ApiError::internal(&error))?;
    let checkpoint = store
        .load_projection(&name)
        .await?
        .map_or(0, |saved| saved.checkpoint.0);
    Ok(ProjectionProgress {
        name: P::NAME.to_string(),
        checkpoint,
        lag: head.saturating_sub(checkpoint),
    })
}

/// The head, live subscribers and projection checkpoints.
#[utoipa::path(
    get,
    path = "/v1/status", operation_id = "getStatus",
    tag = "store",
    description = "The head, the live subscribers, and each swarm projection's saved checkpoint and lag behind the head (scope: read).",
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
    let store = state.store.as_ref();
    Ok(Json(ServerStatus {
        head,
        live_subscribers: live as u64,
        subscribers_max: max as u64,
        projections: vec![
            progress::<AgentState>(store, head).await?,
            progress::<TaskHistory>(store, head).await?,
            progress::<MemoryIndex>(store, head).await?,
        ],
    }))
}
