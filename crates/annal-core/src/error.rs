//! Errors: one enum per operation, plus [`StorageError`] for trouble in the backend itself.
//!
//! A caller's mistake (bad input, a wrong expected version) is its own variant with the context
//! needed to act on it. Trouble in the world (disk, database, a damaged file) is a
//! [`StorageError`]; after a failed write the store is poisoned and says so.

use crate::filter::InvalidFilter;
use crate::ids::{EventId, EventType, InvalidName, StreamId};
use crate::position::{ExpectedVersion, Version};

/// A failure of the backend rather than of the request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The backend's I/O or database call failed.
    #[error("{context}")]
    Backend {
        /// What the store was doing.
        context: String,
        /// The underlying failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A write failed earlier, so the store refuses writes until it is reopened.
    #[error("the store refuses writes after an earlier failure ({reason}); reopen it")]
    Poisoned {
        /// The failure that poisoned the store.
        reason: String,
    },
    /// The store was opened read-only.
    #[error("the store is open read-only")]
    ReadOnly,
    /// Stored bytes do not decode; nothing was changed.
    #[error("stored data is damaged at {location}: {reason}")]
    Corrupted {
        /// Where (a file and offset, a table and row).
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store has been closed.
    #[error("the store is closed")]
    Closed,
}

impl StorageError {
    /// Wraps a backend failure with what the store was doing.
    pub fn backend(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StorageError::Backend {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// Why one event of an append was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidEvent {
    /// The payload was not a JSON object.
    #[error("payload must be a JSON object, got {found}")]
    PayloadNotObject {
        /// The JSON kind that was given.
        found: &'static str,
    },
    /// The metadata was given but not a JSON object.
    #[error("metadata must be a JSON object, got {found}")]
    MetadataNotObject {
        /// The JSON kind that was given.
        found: &'static str,
    },
    /// The payload was larger than the store's limit.
    #[error("payload is {bytes} bytes, the maximum is {max}")]
    PayloadTooLarge {
        /// Its size as compact JSON.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The metadata was larger than the store's limit.
    #[error("metadata is {bytes} bytes, the maximum is {max}")]
    MetadataTooLarge {
        /// Its size as compact JSON.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A text field (source, causation id, correlation id) was too long.
    #[error("{field} is {bytes} bytes, the maximum is {max}")]
    TextTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A text field (source, causation id, correlation id) held a NUL character, which not
    /// every backend can store (PostgreSQL text cannot), so no backend takes it.
    #[error("{field} contains a NUL character (U+0000)")]
    NulInText {
        /// Which field.
        field: &'static str,
    },
    /// No aggregate type was given and the event type's domain (the part before the first
    /// `:`) is empty, so there is none to default to.
    #[error(
        "event type {event_type:?} has an empty domain (the part before ':'), so it names no \
         aggregate type; give one"
    )]
    NoAggregateType {
        /// The event type.
        event_type: EventType,
    },
    /// The same event id appears twice in one batch.
    #[error("event id {id} appears twice in the batch")]
    DuplicateInBatch {
        /// The repeated id.
        id: EventId,
    },
}

/// Errors from [`Store::append`](crate::Store::append). When one is returned, nothing was written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The stream is not at the expected version; re-read and retry.
    #[error("stream {stream} is at {actual}, expected {expected}")]
    WrongExpectedVersion {
        /// The stream appended to.
        stream: StreamId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's current version (0: the stream never held an event).
        actual: Version,
    },
    /// An event id is already stored, but not as this exact batch in this stream.
    #[error("event id {id} is already stored in stream {stored_in}")]
    DuplicateEventId {
        /// The id.
        id: EventId,
        /// The stream that holds it.
        stored_in: StreamId,
    },
    /// The batch was empty.
    #[error("an append needs at least one event")]
    EmptyBatch,
    /// The batch held more events than the store's limit.
    #[error("a batch of {len} events is over the limit of {max}")]
    BatchTooLarge {
        /// Events in the batch.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The batch's events add up to more bytes than the store's limit (`batch_bytes_max`).
    #[error(
        "the batch exceeds the limit of {max} bytes (batch_bytes_max) at its event {index}; \
         split it into smaller appends"
    )]
    BatchBytesTooLarge {
        /// The index, from 0, of the event that took the batch over the limit.
        index: usize,
        /// The limit.
        max: usize,
    },
    /// One event was invalid.
    #[error("event {index} of the batch is invalid: {reason}")]
    InvalidEvent {
        /// Its index in the batch, from 0.
        index: usize,
        /// What is wrong with it.
        reason: InvalidEvent,
    },
    /// The stream's version counter would overflow.
    #[error("stream {stream} cannot grow past version {}", u64::MAX)]
    VersionOverflow {
        /// The stream.
        stream: StreamId,
    },
    /// The store's position counter would reach `u64::MAX`, which is never assigned: a reader
    /// resuming after it would have nowhere to go.
    #[error(
        "the store's positions are exhausted (position {} is never assigned)",
        u64::MAX
    )]
    PositionOverflow,
    /// The backend failed; nothing of the batch is acknowledged.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors from reads, queries, subscriptions and stats.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The filter contradicts itself.
    #[error("invalid filter: {0}")]
    InvalidFilter(#[from] InvalidFilter),
    /// A stored value could not be turned back into a type (a name too long, say).
    #[error("invalid stored name: {0}")]
    InvalidName(#[from] InvalidName),
    /// The backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors from [`Store::save_snapshot`](crate::Store::save_snapshot).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A newer snapshot is already stored; the older one is refused.
    #[error("stream {stream} already has a snapshot at {stored}, newer than {offered}")]
    Stale {
        /// The stream.
        stream: StreamId,
        /// The version of the stored snapshot.
        stored: Version,
        /// The version offered.
        offered: Version,
    },
    /// The snapshot claims a version the stream has not reached.
    #[error("snapshot of stream {stream} at {offered} is ahead of the stream (at {actual})")]
    AheadOfStream {
        /// The stream.
        stream: StreamId,
        /// The version offered.
        offered: Version,
        /// The stream's current version.
        actual: Version,
    },
    /// A snapshot must cover at least one event.
    #[error("a snapshot needs a version of at least 1")]
    VersionZero,
    /// The state was not a JSON object.
    #[error("snapshot state must be a JSON object")]
    StateNotObject,
    /// The backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors from truncation, deletion and retention.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RetentionError {
    /// The request would remove events newer than the stream's snapshot; pass `force` to do it.
    #[error(
        "stream {stream} has a snapshot at version {snapshot}; removing events before {before} \
         would lose events the snapshot does not cover (use force)"
    )]
    ProtectedBySnapshot {
        /// The stream.
        stream: StreamId,
        /// The snapshot's version.
        snapshot: Version,
        /// The first version the request would keep.
        before: Version,
    },
    /// The stream is not at the expected version.
    #[error("stream {stream} is at {actual}, expected {expected}")]
    WrongExpectedVersion {
        /// The stream.
        stream: StreamId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's current version.
        actual: Version,
    },
    /// The backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Errors from saving a projection's checkpoint and state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The projection name is empty or too long.
    #[error("invalid projection name: {0}")]
    InvalidName(#[from] InvalidName),
    /// The state did not serialize.
    #[error("projection state does not serialize")]
    State(#[source] serde_json::Error),
    /// The backend failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Every error of the annal API, for callers that handle them together.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From an append.
    #[error(transparent)]
    Append(#[from] AppendError),
    /// From a read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// From a snapshot save.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// From retention.
    #[error(transparent)]
    Retention(#[from] RetentionError),
    /// From a checkpoint save.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// From a projection.
    #[error(transparent)]
    Projection(#[from] crate::projection::ProjectionError),
    /// From the backend, outside any one operation.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The JSON kind of a value, for error messages.
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
