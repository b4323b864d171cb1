//! The core of annal, an event store for the state of AI-agent swarms.
//!
//! This crate holds what every backend shares and does no network I/O, and no file I/O but a
//! writer's lock file ([`backend::OsLock`]):
//!
//! - the envelope: [`NewEvent`] in, [`RecordedEvent`] out, with validated [`StreamId`],
//!   [`EventType`] and [`EventId`] newtypes, [`Version`] (place in a stream) and [`Position`]
//!   (place in the whole store, in commit order);
//! - the [`Store`] trait: atomic batch appends with an [`ExpectedVersion`] and idempotent
//!   retries, stream reads, reads of everything from a position, [`Filter`] queries,
//!   subscriptions that deliver history then live events, [`Snapshot`]s, retention, [`Stats`]
//!   and projection checkpoints;
//! - the [`Projection`] contract and its [`ProjectionRunner`], which catches up from a saved
//!   checkpoint and then follows the store live, and [`ProjectionGroup`], which catches up
//!   several projections in one read;
//! - [`MemoryStore`], a backend with every rule but durability;
//! - [`backend`], the parts a backend author shares with every other backend (the writer's
//!   request queue, head publishing, poisoning, paging, the writer lock).
//!
//! ```
//! use annal_core::{EventType, ExpectedVersion, MemoryStore, NewEvent, ReadStreamOptions};
//! use annal_core::{Store, StreamId, collect};
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! let task = StreamId::new("task-1")?;
//! let created = NewEvent::new(EventType::new("task:created")?, json!({"title": "Index docs"}));
//! let result = store.append(&task, ExpectedVersion::NoStream, vec![created]).await?;
//! assert_eq!(result.stream_version.0, 1);
//!
//! let events = collect(store.read_stream(&task, ReadStreamOptions::forward()).await?).await?;
//! assert_eq!(events[0].payload.to_value()["title"], "Index docs");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod backend;
mod batch;
mod clock;
pub mod decide;
mod error;
mod event;
mod filter;
mod ids;
mod limits;
mod live;
mod memory;
mod position;
mod projection;
mod projection_group;
mod raw_object;
mod snapshot;
mod stats;
mod store;
mod subscription;
mod trace;

pub use clock::{Clock, SystemClock};
pub use error::{
    AppendError, CheckpointError, Error, InvalidEvent, ReadError, RetentionError, SnapshotError,
    StorageError,
};
pub use event::{NewEvent, RecordedEvent, Timestamp};
pub use filter::{Direction, Filter, InvalidFilter};
pub use ids::{
    AggregateType, EventId, EventType, InvalidName, NAME_BYTES_MAX, ProjectionName, StreamId,
};
pub use limits::Limits;
pub use live::LiveProjection;
pub use memory::MemoryStore;
pub use position::{ExpectedVersion, Position, Version};
pub use projection::{Projection, ProjectionError, ProjectionRunner, SAVE_EVERY_EVENTS};
pub use projection_group::ProjectionGroup;
pub use raw_object::{InvalidObject, RawObject};
pub use snapshot::{LoadedAggregate, Snapshot};
pub use stats::{Stats, StreamCount};
pub use store::{
    AppendResult, EventStream, ReadStreamOptions, RetentionPolicy, RetentionReport,
    SavedProjection, Store, collect,
};
pub use trace::{Trace, TraceError, TraceLimits, find_event, trace, trace_by_queries};
