//! Integration tests of the NDJSON backend: the conformance suite, recovery from faults on disk
//! (torn tails, corrupt lines, lost indexes, stale and live locks), real second processes, and a
//! crash test that kills a writer process with SIGKILL.

// Test code: a panic is how a check reports a failure, helpers included, and seeds are printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
#![allow(clippy::too_many_lines)] // a test reads as one story, from its setup to its last check

mod acknowledged;
mod backup;
mod by_id;
mod conformance;
mod crash;
mod derived_index;
mod faults;
mod foreign_files;
mod io_faults;
mod power_loss;
mod processes;
mod support;
mod swarm_events;
mod upgrade;
