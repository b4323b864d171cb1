//! The crash harness of the durable backends: one probe process and one SIGKILL test, each
//! written once and run against every backend that keeps its store on disk.
//!
//! - [`probe_main`] is the whole `main` of a backend's probe binary (`src/bin/probe.rs`): the
//!   child process that the crash test kills, that the fault and power-loss tests
//!   ([`crate::faults`]) run under their shim, and that the lock and multi-process tests use as
//!   a second process. A backend only says how its store is opened ([`ProbeBackend`]).
//! - [`sigkill_test`] kills a probe writing to one store 20 times at random moments and checks
//!   the reopened store after every kill; a backend adds what only it can check
//!   ([`KillTarget`]) and runs it with one [`crate::sigkill_tests!`] call.
//!
//! Invariant: the probe prints an acknowledgment only after the store answered the append,
//! and the test counts only whole acknowledgment lines, so every id the test holds was
//! acknowledged by the store before the kill.

mod appender;
mod probe;
#[cfg(unix)]
mod sigkill;

pub use probe::{ProbeBackend, ProbeDurability, ProbeOpenError, ProbeResult, probe_main};
#[cfg(unix)]
pub use sigkill::{KillTarget, sigkill_test};
