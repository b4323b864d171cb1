//! The agent-swarm domain on annal: what the seed orchestrator recorded, typed and queryable.
//!
//! - [`events`]: the 23 domain event types (agent, task, memory, swarm) as payload structs with
//!   the seed's JSON field names, one constructor each, and [`events::DomainEvent`], which
//!   decodes any stored event (unknown types included).
//! - [`projections`]: agent state, task history and memory index, each an
//!   [`annal_core::Projection`], so an [`annal_core::ProjectionRunner`] catches them up from
//!   their saved checkpoint and follows the store live.
//! - [`ledger`]: the guidance run ledger: [`ledger::RunEvent`] stored as `run:recorded` in
//!   stream `run-<taskId>`, with queries, evaluators, metrics and retention.
//! - [`aggregate`]: loading one aggregate from its snapshot plus later events, and the snapshot
//!   policy.
//! - [`workload`]: the deterministic benchmark workload `wl1`.
//!
//! Everything works over any backend through `Arc<dyn Store>`.
//!
//! ```
//! use std::sync::Arc;
//! use annal_core::{MemoryStore, ProjectionRunner, Store, StreamId};
//! use annal_swarm::events::agent;
//! use annal_swarm::projections::{AgentState, AgentStatus};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let coder = StreamId::new("agent-1")?;
//! agent::spawned(&coder, "coder", "core", vec!["rust".into()], 1_000).append(&*store).await?;
//! agent::started(&coder, 1_010).append(&*store).await?;
//!
//! let mut agents = ProjectionRunner::<AgentState>::load(Arc::clone(&store)).await?;
//! agents.catch_up().await?;
//! assert_eq!(agents.state().by_status(AgentStatus::Active).len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod aggregate;
pub mod events;
pub mod ledger;
pub mod projections;
#[cfg(feature = "testing")]
pub mod testing;
pub mod workload;
