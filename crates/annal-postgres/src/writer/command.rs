//! The requests a store sends to its writer task, each with the channel its answer goes back
//! on.
//!
//! Invariant: an answer is sent only after the transaction holding the request's effects has
//! committed, or with an error once that transaction failed.

use annal_core::{AppendError, AppendResult, CheckpointError, ExpectedVersion, ProjectionName, RetentionError, RetentionPolicy, RetentionReport, Snapshot, SnapshotError, StreamId, Version};
use annal_core::backend::{PreparedEvent};
use tokio::sync::oneshot;

/// Where one request's answer goes.
pub(crate) type Reply<T, E> = oneshot::Sender<Result<T, E>>;

/// An append waiting for its group's transaction.
#[derive(Debug)]
pub(crate) struct AppendRequest {
    pub(crate) stream: StreamId,
    pub(crate) expected: ExpectedVersion,
    pub(crate) batch: Vec<PreparedEvent>,
    pub(crate) reply: Reply<AppendResult, AppendError>,
}

/// A request to the writer.
#[derive(Debug)]
pub(crate) enum Command {
    /// Append a validated batch; consecutive appends share one transaction.
    Append(AppendRequest),
    /// Save a snapshot (already checked for shape).
    SaveSnapshot {
        snapshot: Snapshot,
        reply: Reply<(), SnapshotError>,
    },
    /// Remove a stream's events before a version.
    Truncate {
        stream: StreamId,
        before: Version,
        force: bool,
        reply: Reply<RetentionReport, RetentionError>,
    },
    /// Remove a stream's events and snapshot.
    Delete {
        stream: StreamId,
        expected: ExpectedVersion,
        reply: Reply<RetentionReport, RetentionError>,
    },
    /// Apply store-wide retention.
    Retain {
        policy: RetentionPolicy,
        reply: Reply<RetentionReport, RetentionError>,
    },
    /// Save a projection's checkpoint and state together.
    SaveProjection {
        name: ProjectionName,
        checkpoint: u64,
        state_json: String,
        reply: Reply<(), CheckpointError>,
    },
}

impl Command {
    /// Rows this request writes, roughly: what bounds a group's size.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Command::Append(request) => request.batch.len(),
            _ => 1,
        }
    }
}
