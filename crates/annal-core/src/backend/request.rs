//! [`Request`]: what a store sends its writer, each request with the channel its answer goes
//! back on.
//!
//! Invariant: a writer answers a request only after what it wrote is committed (and, when the
//! backend is durable, on disk), or with an error once writing it failed. A caller that stopped
//! waiting (its future was dropped) needs no answer, so a failed send is ignored.

use tokio::sync::oneshot;

use crate::batch::PreparedEvent;
use crate::error::{AppendError, CheckpointError, RetentionError, SnapshotError, StorageError};
use crate::ids::{ProjectionName, StreamId};
use crate::position::{ExpectedVersion, Version};
use crate::snapshot::Snapshot;
use crate::store::{AppendResult, RetentionPolicy, RetentionReport, SavedProjection};

/// Where one request's answer goes.
pub type Reply<T, E> = oneshot::Sender<Result<T, E>>;

/// A request to a writer; `A` is the backend's append request ([`Append`] unless the backend
/// needs more, such as a batch that arrives in parts).
#[derive(Debug)]
pub enum Request<A = Append> {
    /// Append a validated batch.
    Append(A),
    /// Save a snapshot (already checked for shape).
    SaveSnapshot {
        /// The snapshot.
        snapshot: Snapshot,
        /// Where the answer goes.
        reply: Reply<(), SnapshotError>,
    },
    /// Remove a stream's events before a version.
    Truncate {
        /// The stream.
        stream: StreamId,
        /// The first version kept.
        before: Version,
        /// Whether to remove events a snapshot depends on.
        force: bool,
        /// Where the answer goes.
        reply: Reply<RetentionReport, RetentionError>,
    },
    /// Remove a stream's events and snapshot.
    Delete {
        /// The stream.
        stream: StreamId,
        /// The version the stream must be at.
        expected: ExpectedVersion,
        /// Where the answer goes.
        reply: Reply<RetentionReport, RetentionError>,
    },
    /// Apply store-wide retention.
    Retain {
        /// What to remove.
        policy: RetentionPolicy,
        /// Where the answer goes.
        reply: Reply<RetentionReport, RetentionError>,
    },
    /// Save a projection's checkpoint and state together.
    SaveProjection {
        /// The projection.
        name: ProjectionName,
        /// Its checkpoint and state.
        saved: SavedProjection,
        /// Where the answer goes.
        reply: Reply<(), CheckpointError>,
    },
    /// Make everything acknowledged so far durable.
    Flush {
        /// Where the answer goes.
        reply: Reply<(), StorageError>,
    },
}

/// An append request as most backends take it: the whole batch at once.
#[derive(Debug)]
pub struct Append {
    /// The stream appended to.
    pub stream: StreamId,
    /// The version the stream must be at.
    pub expected: ExpectedVersion,
    /// The events, checked at the boundary.
    pub batch: Vec<PreparedEvent>,
    /// Where the answer goes.
    pub reply: Reply<AppendResult, AppendError>,
}

/// What a writer needs of a backend's append request besides running it.
pub trait AppendRequest {
    /// Events the append writes: what bounds a group's size.
    fn events(&self) -> usize;
    /// Answers the append with `error` without running it.
    fn fail(self, error: StorageError);
}

impl AppendRequest for Append {
    fn events(&self) -> usize {
        self.batch.len()
    }

    fn fail(self, error: StorageError) {
        drop(self.reply.send(Err(error.into())));
    }
}

impl<A: AppendRequest> Request<A> {
    /// Rows this request writes, roughly: what bounds a group's size.
    pub fn weight(&self) -> usize {
        match self {
            Request::Append(append) => append.events(),
            _ => 1,
        }
    }

    /// Whether this is an append.
    pub fn is_append(&self) -> bool {
        matches!(self, Request::Append(_))
    }

    /// Answers the request with `error` without running it.
    pub fn fail(self, error: StorageError) {
        match self {
            Request::Append(append) => append.fail(error),
            Request::SaveSnapshot { reply, .. } => drop(reply.send(Err(error.into()))),
            Request::Truncate { reply, .. }
            | Request::Delete { reply, .. }
            | Request::Retain { reply, .. } => drop(reply.send(Err(error.into()))),
            Request::SaveProjection { reply, .. } => drop(reply.send(Err(error.into()))),
            Request::Flush { reply } => drop(reply.send(Err(error))),
        }
    }
}
