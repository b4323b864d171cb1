//! Snapshots: the saved state of one aggregate at one version, so loading it need not replay
//! the whole stream.
//!
//! A store keeps the newest snapshot per stream and refuses an older one (the seed let an old
//! snapshot overwrite a newer one).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::Timestamp;
use crate::ids::{AggregateType, StreamId};
use crate::position::Version;
use crate::store::EventStream;

/// The state of an aggregate after applying its events up to and including `version`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The stream the state was folded from.
    pub aggregate_id: StreamId,
    /// The kind of aggregate.
    pub aggregate_type: AggregateType,
    /// The last event version folded into `state`.
    pub version: Version,
    /// The folded state.
    pub state: Value,
    /// When the snapshot was taken, in ms since the epoch.
    pub timestamp: Timestamp,
}

/// An aggregate as loaded: its newest snapshot, if any, and a stream of the events after it.
pub struct LoadedAggregate {
    /// The newest snapshot, or `None` when the stream must be folded from the start.
    pub snapshot: Option<Snapshot>,
    /// The events with versions after the snapshot's version, oldest first.
    pub events: EventStream,
}

impl std::fmt::Debug for LoadedAggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedAggregate")
            .field("snapshot", &self.snapshot)
            .finish_non_exhaustive()
    }
}
