//! Integration tests of the SQLite backend: the conformance suite, opening and refusing files,
//! poisoning, real second processes, and a crash test that kills a writer process with SIGKILL.

// Test code: a panic is how a check reports a failure, helpers included, and seeds are printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
#![allow(clippy::too_many_lines)] // a test reads as one story, from its setup to its last check

mod catch_up;
mod conformance;
mod crash;
mod creation;
mod derived_index;
mod ids;
mod integrity;
mod io_faults;
mod log_reads;
mod open;
mod parts;
mod poison;
mod power_loss;
mod processes;
mod support;
