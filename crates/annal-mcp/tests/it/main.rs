//! Integration tests of annal's MCP server with the official Rust MCP client (rmcp): each test
//! connects a real client to an `AnnalMcp` over an in-memory byte stream (the stdio framing)
//! or over streamable HTTP, on SQLite, NDJSON and PostgreSQL stores, and checks the answers
//! field by field and what the store holds afterwards.

#![allow(clippy::too_many_lines)] // a test reads as one story, from its setup to its last check

mod concurrency;
mod errors;
mod http;
mod resources;
mod scenario;
mod support;
mod tools;
