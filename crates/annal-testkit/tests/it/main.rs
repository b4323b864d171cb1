//! The conformance suite's own tests: the in-memory reference backend passes every rule, and
//! deliberately broken backends fail the rules they break, which shows the rules can fail.

#![allow(clippy::too_many_lines)] // a test reads as one story, from its setup to its last check

mod broken;
mod memory;
mod tidy;
