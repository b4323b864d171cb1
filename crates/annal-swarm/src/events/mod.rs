//! The 23 domain events of an agent swarm, typed, and the way in and out of the store.
//!
//! Each event type has a payload struct (in [`agent`], [`task`], [`memory`], [`swarm`]) that
//! serializes with the seed's camelCase field names, and one constructor that returns an
//! [`EventDraft`]: the stream (the aggregate id) plus an [`annal_core::NewEvent`] whose source,
//! metadata, causation and correlation ids the caller can still set. [`DomainEvent::decode`]
//! turns any stored [`annal_core::RecordedEvent`] back into its typed form; event types this crate does not
//! know decode to [`DomainEvent::Unknown`], so foreign events stay readable.
//!
//! Invariant: for every payload type, `decode(store(encode(p))) == p`, and the payload JSON
//! written by the constructor is the JSON the typed value serializes to.

pub mod agent;
mod catalog;
mod draft;
pub mod memory;
pub mod swarm;
pub mod task;

pub use catalog::{DecodeError, DomainEvent, EventKind};
pub use draft::{DEFAULT_SOURCE, EventDraft, Payload};
pub(crate) use draft::{builtin_aggregate_type, builtin_type, to_json};
