//! The conformance suite's own tests: the in-memory reference backend passes every rule, and
//! deliberately broken backends fail the rules they break, which shows the rules can fail.

mod broken;
mod memory;
mod tidy;
