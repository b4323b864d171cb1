//! Integration tests of annal-swarm, one binary with a module per feature.
//!
//! Goal: show that the swarm domain works end to end over the Store trait object: events
//! round-trip, each projection answers every query correctly (including the cases the seed got
//! wrong), the run ledger keeps the seed's contract, and the wl1 workload is rebuilt exactly.
//! Method: every test drives an `Arc<dyn Store>` (MemoryStore for now) through the public API
//! only; seed test cases are ported one for one and marked where annal deliberately differs.

// Helpers outside #[test] functions unwrap too: a failed setup step should fail the test loudly.
#![allow(clippy::unwrap_used)]
#![allow(clippy::too_many_lines)] // a test reads as one story, from its setup to its last check

mod agent_state;
mod aggregate;
mod events;
mod ledger;
mod live;
mod memory_index;
mod retention;
mod support;
mod task_history;
mod workload;
