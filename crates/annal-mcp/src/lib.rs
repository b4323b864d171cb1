//! annal's Model Context Protocol face: agents read a swarm's history and keep its state in
//! annal through MCP tools, over any backend.
//!
//! - [`AnnalMcp`] is the MCP server (one per client session; everything it shares lives behind
//!   an `Arc`). It takes an `Arc<dyn Store>` and never names a backend.
//! - History tools (`events_read`, `events_query`, `events_recent`, `streams_list`,
//!   `store_stats`, `events_trace`, `projection_get`) read the log; swarm tools with the
//!   orchestrator's names (`memory_*`, `task_*`, `agent_*`, `swarm_*`) append annal-swarm's
//!   typed domain events with expected versions and answer from its projections, with the
//!   events behind each answer; `events_append` appends raw events.
//! - Read-only is the default: without [`Config::allow_writes`] the tools that change state
//!   are not listed and cannot be called. Over HTTP a [`WriteCheck`] decides per request
//!   whether the caller holds the append scope.
//! - Streams are resources (`annal://streams/{id}`); a subscribed client is told when one
//!   changes.
//! - Transports: [`serve_stdio`] (logs never go to standard output) and [`http_service`], a
//!   tower service to mount at `/mcp`.
//!
//! Invariant: every state-changing tool is listed in [`WRITE_TOOLS`], and none of them runs
//! unless writes are allowed and the request's [`WriteCheck`] passes.

mod answer;
mod config;
mod folded;
mod server;
mod tools;
mod transport;
mod view;

pub use config::{Config, WRITE_TOOLS, WriteCheck};
pub use server::AnnalMcp;
pub use transport::{ServeError, http_service, serve_stdio};
