//! Integration tests of annal-server: each test starts the real server on 127.0.0.1:0 over a
//! SQLite store in a temp dir and drives it with an HTTP client over a real socket, checking
//! answers and, after errors, that the store is unchanged.

#![allow(clippy::unwrap_used)] // a failed unwrap in a test or its helpers is a failed test
#![allow(clippy::too_many_lines)] // a test reads as one story, from its setup to its last check

mod harness;

mod append_read;
mod auth;
mod backends;
mod bad_input;
mod dashboard;
mod mcp;
mod subscribe;
mod swarm;
mod timeouts;
mod tls;
