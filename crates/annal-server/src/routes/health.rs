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
pub(crate) async fn healthz() -> &'static str {
    "ok\n"
}

/// The store answers a read and the server is not shutting down.
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
pub(crate) async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require_all_streams(Scope::Read)?;
    let head = state.store.head().await.ok().map(|head| head.0);
    let mut response = crate::metrics::render(head).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}
