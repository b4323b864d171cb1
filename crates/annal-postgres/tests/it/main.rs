//! Integration tests of the PostgreSQL backend: the conformance suite, several writer processes
//! against one database with a subscriber in another, and subscribers whose connections are
//! killed mid-stream, and TLS against a cluster of its own. Every other test gets a fresh
//! database in one throwaway cluster per binary.

// Test code: a panic is how a check reports a failure, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
#![allow(clippy::too_many_lines)] // a test reads as one story, from its setup to its last check

mod conformance;
mod corrupt;
mod listener;
mod processes;
mod query_equivalence;
mod read_only;
mod reconnect;
mod refusals;
mod shared_stream;
mod slow_commit;
mod stats;
mod swarm_events;
mod tls;
mod trace;
mod watermark;
