//! The requests the store sends to its writer thread, each with the channel its answer goes
//! back on.
//!
//! Invariant: an answer is sent only after everything the request wrote is on disk (fsynced),
//! or with an error once writing failed.

use annal_core::{
    AppendError, AppendResult, CheckpointError, ExpectedVersion, PreparedEvent, ProjectionName,
    RetentionError, RetentionPolicy, RetentionReport, SavedProjection, Snapshot, SnapshotError,
    StorageError, StreamId, Version,
};
use tokio::sync::oneshot;

/// Where one request's answer goes.
pub(crate) type Reply<T, E> = oneshot::Sender<Result<T, E>>;

/// A request to the writer.
#[derive(Debug)]
pub(crate) enum Command {
    /// Append a validated batch.
    Append {
        stream: StreamId,
        expected: ExpectedVersion,
        batch: Vec<PreparedEvent>,
        reply: Reply<AppendResult, AppendError>,
    },
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
        saved: SavedProjection,
        reply: Reply<(), CheckpointError>,
    },
    /// Make everything acknowledged so far durable.
    Flush { reply: Reply<(), StorageError> },
}

impl Command {
    /// Events this request appends: what bounds a group's size.
    pub(crate) fn weight(&self) -> usize {
        match self {
            Command::Append { batch, .. } => batch.len(),
            _ => 1,
        }
    }

    /// Answers the request with `error` without running it.
    pub(crate) fn fail(self, error: StorageError) {
        // A caller that stopped waiting (its future was dropped) needs no answer.
        match self {
            Command::Append { reply, .. } => drop(reply.send(Err(error.into()))),
            Command::SaveSnapshot { reply, .. } => drop(reply.send(Err(error.into()))),
            Command::Truncate { reply, .. }
            | Command::Delete { reply, .. }
            | Command::Retain { reply, .. } => drop(reply.send(Err(error.into()))),
            Command::SaveProjection { reply, .. } => drop(reply.send(Err(error.into()))),
            Command::Flush { reply } => drop(reply.send(Err(error))),
        }
    }
}
