//! Child process for the multi-process and crash tests (filled in by the crash test commit).

fn main() {}
