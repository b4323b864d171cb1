//! The router: every path, its handler, and the layers every request passes through (request
//! id, tracing, body size and read time limits).

pub(crate) mod as_of;
mod as_of_view;
mod dashboard;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod projections;
pub(crate) mod runs;
pub(crate) mod snapshots;
pub(crate) mod status;
pub(crate) mod store;
pub(crate) mod stream_list;
pub(crate) mod streams;
pub(crate) mod trace;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::problem::ApiError;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API over `state`.
pub fn router(state: AppState) -> Router {
    let body_bytes_max = state.config.body_bytes_max();
    let body_read_timeout = state.config.body_read_timeout;
    let v1 = Router::new()
        .route(
            "/streams/{stream}/events",
            post(streams::append).get(streams::read),
        )
        .route(
            "/streams/{stream}",
            get(streams::version).delete(streams::delete),
        )
        .route("/streams/{stream}/truncate", post(streams::truncate))
        .route(
            "/streams/{stream}/snapshot",
            get(snapshots::get).put(snapshots::put),
        )
        .route("/events", get(events::read))
        .route("/streams", get(stream_list::list))
        .route("/events/{id}/trace", get(trace::trace))
        .route("/status", get(status::status))
        .route("/projections/as-of", get(as_of::as_of))
        .route("/subscribe", get(crate::sse::subscribe))
        .route("/head", get(store::head))
        .route("/stats", get(store::stats))
        .route("/retention", post(store::retain))
        .route("/verify", get(store::verify))
        .route("/projections/agents", get(projections::agents))
        .route("/projections/tasks", get(projections::tasks))
        .route("/projections/memory", get(projections::memory))
        .route("/runs", get(runs::list).post(runs::record))
        .route("/runs/metrics", get(runs::metrics))
        .route("/runs/violations", get(runs::violations));
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", id, method = %request.method(), uri = %request.uri())
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(RequestBodyTimeoutLayer::new(body_read_timeout));
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(crate::openapi::openapi_json))
        .merge(crate::mcp::routes(&state))
        .merge(dashboard::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_bytes_max))
        .layer(layers)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this endpoint does not take that method; see /openapi.json",
    )
}
