//! `/mcp`: annal's MCP tools (annal-mcp) over streamable HTTP, behind the same bearer tokens as
//! the REST API.
//!
//! Invariant: a request reaches the MCP service only with a token that may read every stream
//! (the tools answer across streams); a state-changing tool runs only for a token with the
//! append scope, checked per request. The MCP host check stays on: loopback names, plus the
//! address the server listens on when it is a specific one.

use std::sync::Arc;

use annal_mcp::{Config, HttpConfig, WriteCheck};
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::auth::{Caller, Scope};
use crate::state::AppState;

/// The `/mcp` route over `state`'s store.
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let may_append: WriteCheck = Arc::new(|parts: &axum::http::request::Parts| {
        parts
            .extensions
            .get::<Caller>()
            .is_some_and(|caller| caller.require(Scope::Append).is_ok())
    });
    let config = Config {
        allow_writes: true,
        ..Config::default()
    };
    let mut http = HttpConfig::default();
    let ip = state.config.listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        http.allowed_hosts.push(ip.to_string());
    }
    http.cancellation_token = state.shutdown.child_token();
    let service = annal_mcp::http_service(Arc::clone(&state.store), config, may_append, http);
    Router::new()
        .nest_service("/mcp", service)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
}

/// Refuses a request without a token that may read everything; hands the caller on to the
/// write check.
async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = caller.require_all_streams(Scope::Read) {
        return error.into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}
