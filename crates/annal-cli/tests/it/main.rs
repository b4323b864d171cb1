//! Integration tests of the `annal` binary: each drives the real executable against a store in a
//! temporary directory and checks its output, its exit code and what the store holds afterwards.

#![allow(clippy::too_many_lines)] // a test reads as one story, from its setup to its last check

mod backends;
mod basics;
mod bench;
mod demo;
mod errors;
mod maintenance;
mod mcp;
mod one_answer;
mod pg_two_servers;
mod project;
mod seed_ledger;
mod seed_sqlite;
mod serve;
mod stdin;
mod support;
mod tail;
mod trace;
mod transfer;
