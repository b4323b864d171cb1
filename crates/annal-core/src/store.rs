//! The [`Store`] trait: the one API every backend implements and every caller programs against.
//!
//! It is async and object-safe, so the CLI and server can hold an `Arc<dyn Store>` picked at run
//! time from a `--store` URL. Everything that can yield many events returns an [`EventStream`],
//! which pages through the backend with bounded memory.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{
    AppendError, CheckpointError, ReadError, RetentionError, SnapshotError, StorageError,
};
use crate::event::{NewEvent, RecordedEvent, Timestamp};
use crate::filter::{Direction, Filter};
use crate::ids::{EventId, ProjectionName, StreamId};
use crate::position::{ExpectedVersion, Position, Version};
use crate::snapshot::{LoadedAggregate, Snapshot};
use crate::stats::Stats;
use crate::trace::{Trace, TraceError, TraceLimits};

/// A stream of events read from a store, in the order the read asked for.
pub type EventStream = BoxStream<'static, Result<RecordedEvent, ReadError>>;

/// What a successful append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppendResult {
    /// The position of the batch's first event.
    pub first_position: Position,
    /// The position of the batch's last event.
    pub last_position: Position,
    /// The stream's version after the append: the version of the batch's last event.
    pub stream_version: Version,
}

/// How to read one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReadStreamOptions {
    /// The first version to return (inclusive). Forward reads default to the start, backward
    /// reads to the newest event.
    pub from: Option<Version>,
    /// Oldest or newest first.
    pub direction: Direction,
    /// At most this many events.
    pub limit: Option<u64>,
}

impl ReadStreamOptions {
    /// Every event of the stream, oldest first.
    pub fn forward() -> Self {
        Self::default()
    }

    /// Every event of the stream, newest first.
    pub fn backward() -> Self {
        Self {
            direction: Direction::Backward,
            ..Self::default()
        }
    }

    /// Starts at `version` (inclusive).
    pub fn from(mut self, version: Version) -> Self {
        self.from = Some(version);
        self
    }

    /// Returns at most `limit` events.
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Whether `version` lies on the read's side of `from`.
    pub fn admits(&self, version: Version) -> bool {
        match (self.direction, self.from) {
            (_, None) => true,
            (Direction::Forward, Some(from)) => version >= from,
            (Direction::Backward, Some(from)) => version <= from,
        }
    }
}

/// Store-wide retention for ledger-like logs: remove the oldest events beyond a count or age.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RetentionPolicy {
    /// Keep at most this many events (the newest by position).
    pub max_events: Option<u64>,
    /// Remove events whose timestamp is before this (ms since epoch), each stream's oldest
    /// ones up to its first event at or after it: timestamps are the caller's and need not
    /// grow with the version, and a stream must stay a contiguous suffix of its versions.
    pub before_timestamp: Option<Timestamp>,
    /// Also remove events newer than their stream's snapshot.
    pub force: bool,
}

/// What a truncation, deletion or retention pass removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionReport {
    /// Events removed.
    pub removed: u64,
    /// Events the policy selected but kept because a snapshot does not cover them.
    pub protected: u64,
}

/// A projection's saved checkpoint and state, written together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedProjection {
    /// The last position the state includes.
    pub checkpoint: Position,
    /// The projection's serialized state.
    pub state: Value,
}

/// An event store. See the crate documentation for the guarantees every implementation keeps.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Appends `events` to `stream` as one atomic batch, if the stream is at `expected`.
    ///
    /// Returns once the batch is durable (for backends with a disk). Retrying a batch whose ids
    /// are all stored, in this stream, in this order, returns the original result and writes
    /// nothing.
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, AppendError>;

    /// The stream's current version: its last assigned version, 0 if it never held an event.
    async fn stream_version(&self, stream: &StreamId) -> Result<Version, ReadError>;

    /// The position of the newest committed event (0 for an empty store).
    async fn head(&self) -> Result<Position, ReadError>;

    /// Reads one stream.
    async fn read_stream(
        &self,
        stream: &StreamId,
        options: ReadStreamOptions,
    ) -> Result<EventStream, ReadError>;

    /// Reads every event at or after `from`, in position order.
    async fn read_all(&self, from: Position) -> Result<EventStream, ReadError>;

    /// Reads the events `filter` selects.
    async fn query(&self, filter: &Filter) -> Result<EventStream, ReadError>;

    /// Delivers the events at or after `from` that `filter` selects, then follows new commits
    /// live, each exactly once and in position order. A slow consumer never loses events: the
    /// subscription reads them from the store. The stream ends only if the store closes.
    async fn subscribe(&self, from: Position, filter: Filter) -> Result<EventStream, ReadError>;

    /// Saves `snapshot` unless a newer one is stored.
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), SnapshotError>;

    /// The newest snapshot of `stream`, if any.
    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, ReadError>;

    /// The newest snapshot of `stream` and the events after it.
    async fn load_aggregate(&self, stream: &StreamId) -> Result<LoadedAggregate, ReadError> {
        let snapshot = self.load_snapshot(stream).await?;
        let from = snapshot
            .as_ref()
            .map_or(Version(1), |snapshot| snapshot.version.next());
        let events = self
            .read_stream(stream, ReadStreamOptions::forward().from(from))
            .await?;
        Ok(LoadedAggregate { snapshot, events })
    }

    /// Removes the events of `stream` with versions before `before`. Events the stream's
    /// snapshot does not cover are kept unless `force` is set.
    async fn truncate_before(
        &self,
        stream: &StreamId,
        before: Version,
        force: bool,
    ) -> Result<RetentionReport, RetentionError>;

    /// Removes every event and the snapshot of `stream`. Its versions and positions are never
    /// reused: a later append continues after the deleted version.
    async fn delete_stream(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
    ) -> Result<RetentionReport, RetentionError>;

    /// Applies a store-wide retention policy.
    async fn retain(&self, policy: RetentionPolicy) -> Result<RetentionReport, RetentionError>;

    /// The readable event with this id, if any. The default scans the log in position order;
    /// a backend that keeps an index of ids answers from it.
    async fn event_by_id(&self, id: &EventId) -> Result<Option<RecordedEvent>, ReadError> {
        crate::trace::find_event(self, id.as_str()).await
    }

    /// The event with `id`, its causes, effects and correlated events ([`crate::trace`]). The
    /// default builds it from [`Store::event_by_id`] and [`Store::query`]
    /// ([`crate::trace_by_queries`]); a backend that can answer it in one read overrides it
    /// with the same answer.
    async fn trace(&self, id: &EventId, limits: TraceLimits) -> Result<Trace, TraceError> {
        crate::trace::trace_by_queries(self, id, limits).await
    }

    /// Counts over the readable events; `top_streams` caps the per-stream list.
    async fn stats(&self, top_streams: usize) -> Result<Stats, ReadError>;

    /// Saves a projection's checkpoint and state in one atomic write.
    async fn save_projection(
        &self,
        name: &ProjectionName,
        saved: &SavedProjection,
    ) -> Result<(), CheckpointError>;

    /// Loads a projection's checkpoint and state, if it was ever saved.
    async fn load_projection(
        &self,
        name: &ProjectionName,
    ) -> Result<Option<SavedProjection>, ReadError>;

    /// Makes every acknowledged append durable. Appends are durable on acknowledgment by default,
    /// so this only matters for a store opened in a relaxed durability mode.
    async fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// Collects an event stream into a vector: for tests and small reads only.
pub async fn collect(stream: EventStream) -> Result<Vec<RecordedEvent>, ReadError> {
    stream.collect::<Vec<_>>().await.into_iter().collect()
}
