//! annal over HTTP: appends, reads, queries, live subscriptions (Server-Sent Events), snapshots,
//! projections, the run ledger, retention and verify, behind scoped bearer tokens, with an
//! OpenAPI description and Prometheus metrics.
//!
//! The server takes any `Arc<dyn Store>`; it never names a backend. Every rule about events
//! (expected versions, retries, limits, atomicity) is the store's; the handlers translate HTTP to
//! store calls and store errors to `application/problem+json` ([`ApiError`]).
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<dyn annal_core::Store>) -> std::io::Result<()> {
//! use annal_server::{Auth, ServerConfig, bind, serve_until};
//! let config = ServerConfig::default();
//! let listener = bind(&config).await?;
//! serve_until(listener, store, config, Auth::Open, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

pub mod auth;
mod body;
mod config;
mod mcp;
mod metrics;
mod openapi;
mod params;
mod problem;
mod respond;
mod routes;
mod serve;
mod sse;
mod state;
mod tail;
mod tls;
pub mod wire;

use std::future::Future;
use std::sync::Arc;

use annal_core::Store;

pub use auth::{Auth, Scope, TokenFile, TokenSource};
pub use config::{DEFAULT_LISTEN, ServerConfig, TlsFiles};
pub use openapi::document as openapi_document;
pub use problem::{ApiError, PROBLEM_JSON};
pub use routes::router;
pub use state::AppState;
pub use wire::{AppendResponse, AppendedEvent};

/// Binds the configured address.
pub async fn bind(config: &ServerConfig) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(config.listen).await
}

/// Serves `store` on `listener` until `shutdown` completes, then shuts down gracefully: in-flight
/// requests finish, SSE streams end, and the store is released when this returns.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    store: Arc<dyn Store>,
    config: ServerConfig,
    auth: Auth,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let state = AppState::new(store, config, auth);
    serve::serve(listener, state, shutdown).await
}
