//! What an MCP server may do: [`Config`] (writes allowed or not) and the per-request append
//! check of the HTTP transport ([`WriteCheck`]).

use std::sync::Arc;

/// Decides, from an HTTP request's parts (its headers and the extensions the server's
/// authentication put there), whether the caller may append. Over stdio there is no request
/// and [`Config::allow_writes`] alone decides.
pub type WriteCheck = Arc<dyn Fn(&http::request::Parts) -> bool + Send + Sync>;

/// The tools that change state. They are listed only when writes are allowed.
pub const WRITE_TOOLS: &[&str] = &[
    "events_append",
    "memory_store",
    "memory_delete",
    "task_create",
    "task_update",
    "task_complete",
    "task_assign",
    "task_cancel",
    "agent_spawn",
    "agent_terminate",
    "swarm_init",
];

/// How an [`AnnalMcp`](crate::AnnalMcp) server behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// List and run the tools that change state ([`WRITE_TOOLS`]). Off by default.
    pub allow_writes: bool,
    /// Events a read returns when the caller gives no limit.
    pub default_limit: u64,
    /// The most events one read returns, whatever the caller asks.
    pub limit_max: u64,
    /// Payloads longer than this (bytes of JSON) are shortened unless the caller asks for
    /// `full`.
    pub payload_bytes_max: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            allow_writes: false,
            default_limit: 20,
            limit_max: 500,
            payload_bytes_max: 1_000,
        }
    }
}

impl Config {
    /// The limit to use for a caller's `limit`.
    pub(crate) fn limit(&self, asked: Option<u64>) -> u64 {
        asked.unwrap_or(self.default_limit).min(self.limit_max)
    }
}
