//! `annal mcp`: serves the store to one MCP client over standard input and output. Standard
//! output carries only the protocol, so nothing else may print there; logs go to stderr.

use std::sync::Arc;

use annal_core::Store;

use crate::args::McpArgs;

pub(crate) async fn run(store: Arc<dyn Store>, args: McpArgs) -> anyhow::Result<()> {
    let config = annal_mcp::Config {
        allow_writes: args.allow_writes,
        ..annal_mcp::Config::default()
    };
    annal_mcp::serve_stdio(store, config).await?;
    Ok(())
}
