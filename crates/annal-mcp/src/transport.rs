//! The two transports: stdio for one local client, and a streamable-HTTP tower service for
//! `annal serve` to mount at `/mcp`.
//!
//! Invariant: over stdio nothing but protocol messages reaches standard output.

use std::sync::Arc;

use annal_core::Store;
use rmcp::ServiceExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::{AnnalMcp, Config, WriteCheck};

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The client's initialization failed (it spoke no MCP, or left early).
    #[error("MCP initialization failed")]
    Initialize(#[source] Box<rmcp::service::ServerInitializeError>),
    /// The server's task failed.
    #[error("the MCP server task failed")]
    Task(#[from] tokio::task::JoinError),
}

/// Serves `store` to one client over standard input and output until the client leaves.
pub async fn serve_stdio(store: Arc<dyn Store>, config: Config) -> Result<(), ServeError> {
    let server = AnnalMcp::new(store, config, None);
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| ServeError::Initialize(Box::new(error)))?;
    running.waiting().await?;
    Ok(())
}

/// The streamable-HTTP MCP service for `store`, to mount with
/// `Router::nest_service("/mcp", …)`. Each MCP session gets its own handler; all share the
/// store and projections. `write_check` decides per request whether the caller may use the
/// state-changing tools (the append scope); `http` holds the transport's settings (allowed
/// hosts stay loopback-only unless the caller widens them).
pub fn http_service(
    store: Arc<dyn Store>,
    config: Config,
    write_check: WriteCheck,
    http: StreamableHttpServerConfig,
) -> StreamableHttpService<AnnalMcp, LocalSessionManager> {
    let server = AnnalMcp::new(store, config, Some(write_check));
    StreamableHttpService::new(
        move || Ok(server.session()),
        Arc::new(LocalSessionManager::default()),
        http,
    )
}
