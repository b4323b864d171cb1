//! Store statistics, as reported by [`Store::stats`](crate::Store::stats).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::event::Timestamp;
use crate::ids::StreamId;
use crate::position::Position;

/// Counts over the events currently readable (deleted and truncated events are not counted).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Number of readable events.
    pub total_events: u64,
    /// Events per event type.
    pub events_by_type: BTreeMap<String, u64>,
    /// Events per aggregate type.
    pub events_by_aggregate_type: BTreeMap<String, u64>,
    /// The streams with the most events, most first (ties by name), at most the number asked.
    pub top_streams: Vec<StreamCount>,
    /// Number of streams that hold at least one readable event.
    pub stream_count: u64,
    /// The smallest timestamp, if any event exists.
    pub oldest_timestamp: Option<Timestamp>,
    /// The largest timestamp, if any event exists.
    pub newest_timestamp: Option<Timestamp>,
    /// The position of the oldest readable event.
    pub first_position: Option<Position>,
    /// The position of the newest readable event.
    pub last_position: Option<Position>,
    /// Number of stored snapshots.
    pub snapshot_count: u64,
    /// Bytes the store occupies on disk; `None` for a store that has no disk.
    pub bytes_on_disk: Option<u64>,
}

/// One stream and its number of readable events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamCount {
    /// The stream.
    pub stream: StreamId,
    /// Its readable events.
    pub events: u64,
}
