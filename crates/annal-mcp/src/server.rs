//! [`AnnalMcp`]: the MCP server handler. It owns the tool router (history, memory, task, agent
//! and swarm tools; the state-changing ones removed when writes are not allowed), the server's
//! description, the write check, and the resources.
//!
//! Invariant: a tool in [`WRITE_TOOLS`] runs only when writes are allowed and, over HTTP, the
//! request passes the [`WriteCheck`].

use std::sync::Arc;

use annal_core::Store;
use annal_swarm::projections::{AgentState, MemoryIndex, TaskHistory};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use crate::answer::ToolError;
use crate::config::{Config, WRITE_TOOLS, WriteCheck};
use crate::folded::Shared;

const INSTRUCTIONS: &str = "annal is an event store holding this swarm's history. Every answer \
comes from recorded events: swarm tools (memory_*, task_*, agent_*, swarm_*) answer from \
projections and list the events behind the answer; events_trace explains why an event \
happened; streams are also resources at annal://streams/{id}.";

/// The MCP server over one store. Cloning is cheap: clones share the store, the projections
/// and the tool router, as the sessions of one HTTP server must.
#[derive(Clone)]
pub struct AnnalMcp {
    pub(crate) inner: Arc<Inner>,
    tools: Arc<ToolRouter<AnnalMcp>>,
}

/// What every session of one server shares.
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: Config,
    write_check: Option<WriteCheck>,
    pub(crate) agents: Shared<AgentState>,
    pub(crate) tasks: Shared<TaskHistory>,
    pub(crate) memory: Shared<MemoryIndex>,
}

impl std::fmt::Debug for AnnalMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnnalMcp")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AnnalMcp {
    /// A server over `store`. `write_check` is asked before each state-changing tool call that
    /// arrives over HTTP; `None` lets every such call through (stdio, or a server without
    /// scopes).
    pub fn new(store: Arc<dyn Store>, config: Config, write_check: Option<WriteCheck>) -> Self {
        let mut tools = Self::history_tools()
            + Self::memory_tools()
            + Self::task_tools()
            + Self::agent_tools()
            + Self::swarm_tools();
        if !config.allow_writes {
            for name in WRITE_TOOLS {
                tools.remove_route(name);
            }
        }
        Self {
            inner: Arc::new(Inner {
                store,
                config,
                write_check,
                agents: Shared::new(),
                tasks: Shared::new(),
                memory: Shared::new(),
            }),
            tools: Arc::new(tools),
        }
    }

    /// The handler of one more session: it shares everything with this one.
    pub fn session(&self) -> Self {
        self.clone()
    }

    pub(crate) fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Why a state-changing call may not run, if it may not.
    fn write_refusal(&self, context: &RequestContext<RoleServer>) -> Option<ToolError> {
        if !self.inner.config.allow_writes {
            return Some(ToolError::new(
                "read_only",
                "this server is read-only",
                "start it with writes allowed (annal mcp --allow-writes) to change state",
            ));
        }
        let check = self.inner.write_check.as_ref()?;
        let parts = context.extensions.get::<http::request::Parts>()?;
        (!check(parts)).then(|| {
            ToolError::new(
                "forbidden",
                "this token may read but not append",
                "use a token with the append scope for state-changing tools",
            )
        })
    }
}

impl ServerHandler for AnnalMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("annal", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS.to_owned())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if WRITE_TOOLS.contains(&request.name.as_ref())
            && let Some(refusal) = self.write_refusal(&context)
        {
            return Ok(refusal.into_result().into());
        }
        let call = ToolCallContext::new(self, request, context);
        self.tools.call(call).await
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.list_all()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.get(name).cloned()
    }
}
