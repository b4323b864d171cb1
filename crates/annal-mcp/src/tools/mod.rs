//! The tools, one module per family. Each `#[tool]` function is a thin wrapper that turns its
//! typed arguments into a call of a plain async method returning an [`Answer`](crate::answer::Answer).

mod agents;
mod common;
mod history;
mod memory;
mod swarm;
mod tasks;
