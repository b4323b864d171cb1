//! The three read models of a swarm: [`AgentState`], [`TaskHistory`] and [`MemoryIndex`].
//!
//! Each implements [`annal_core::Projection`]: it folds events in position order, serializes
//! only its entries (the secondary indexes are rebuilt when the state is loaded), and never
//! fails on a bad event. Events it cannot use (a payload that does not decode, an entity it has
//! never seen) are counted in `ignored_events` instead of vanishing silently as in the seed.
//!
//! Queries hand out shared references or owned values, never the mutable internals, so the
//! indexes always agree with the entries.

mod agent_state;
mod memory_index;
mod slot_index;
mod task_history;

pub use agent_state::{Agent, AgentHealth, AgentState, AgentStatus};
pub use memory_index::{Memory, MemoryIndex, MemoryStatus};
pub use task_history::{BlockedTask, Task, TaskHistory, TaskStatus};
