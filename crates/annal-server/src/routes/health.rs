//! Liveness, readiness and metrics at the root.
//!
//! `/healthz` says the process answers; `/readyz` says the store answers a read; `/metrics`
//! needs a read token when tokens are configured, since it shows the store's head.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, Scope};
use crate::problem::ApiError;
use crate::state::AppState;

/// The process answers.
#[utoipa::path(
    get,
    path = "/healthz", operation_id = "healthz",
    tag = "meta",
    description = "The process answers.",
    security(()),
    responses((status = 200, description = "ok", content_type = "text/plain"))
)]
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// The store answers a read and the server is not shutting down.
#[utoipa::path(
    get,
    path = "/readyz", operation_id = "readyz",
    tag = "meta",
    description = "The store answers and the server is not shutting down.",
    security(()),
    responses((status = 200, description = "ready", content_type = "text/plain"), (status = 503, description = "store-unavailable or shutting-down", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    if state.shutdown.is_cancelled() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "the server is shutting down",
        ));
    }
    state.store.head().await?;
    Ok("ready\n")
}

/// Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics", operation_id = "metrics",
    tag = "meta",
    description = "Prometheus metrics (scope: read, all streams, when tokens are configured).",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require_all_streams(Scope::Read)?;
    let head = state.store.head().await.ok().map(|head| head.0);
    let lag = match (state.tail.get(), head) {
        (Some(tail), Some(head)) => tail.most_behind(head),
        _ => 0,
    };
    let mut response = crate::metrics::render(head, lag).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}
