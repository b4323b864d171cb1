//! The requests the store sends to its writer thread, each with the channel its answer goes
//! back on.
//!
//! Invariant: an answer is sent only after the transaction holding the request's effects has
//! committed (and, in durable mode, is on disk), or with an error once that transaction failed.

use annal_core::backend::{AppendRequest, PreparedEvent, Reply, Request};
use annal_core::{
    AppendError, AppendResult, CheckpointError, ExpectedVersion, RetentionError, RetentionReport,
    SnapshotError, StorageError, StreamId,
};
use tokio::sync::oneshot;

/// A request to the writer.
pub(crate) type Command = Request<SqliteAppend>;

/// Where an append's answer goes.
pub(crate) type AppendReply = oneshot::Sender<AppendAnswer>;

/// The answer to an append, with the batch's events handed back for the caller's side to free
/// (`spent.rs`): the writer freeing them contended with the callers for the allocator's locks.
#[derive(Debug)]
pub(crate) struct AppendAnswer {
    pub(crate) result: Result<AppendResult, AppendError>,
    pub(crate) events: Vec<Vec<PreparedEvent>>,
}

/// Append a validated batch: all of it, or its first part when `more` brings the rest.
#[derive(Debug)]
pub(crate) struct SqliteAppend {
    pub(crate) stream: StreamId,
    pub(crate) expected: ExpectedVersion,
    pub(crate) batch: Vec<PreparedEvent>,
    pub(crate) more: Option<MoreParts>,
    pub(crate) reply: AppendReply,
}

impl AppendRequest for SqliteAppend {
    fn events(&self) -> usize {
        match &self.more {
            Some(more) => more.total,
            None => self.batch.len(),
        }
    }

    fn fail(self, error: StorageError) {
        Waiting::Append(self.reply).fail(move || error);
    }
}

/// The later parts of a batch whose caller is still checking them at the boundary: each part
/// comes as soon as it passed. A caller whose check refused a part drops the sender before the
/// last part and answers the refusal itself: the batch is then refused, and nothing of it is
/// written.
#[derive(Debug)]
pub(crate) struct MoreParts {
    /// Events in the whole batch, the first part included.
    pub(crate) total: usize,
    pub(crate) parts: std::sync::mpsc::Receiver<Vec<PreparedEvent>>,
}

/// A request whose outcome is decided, waiting for its transaction to commit.
#[derive(Debug)]
pub(crate) enum Decided {
    Append(AppendReply, AppendAnswer),
    Snapshot(Reply<(), SnapshotError>, Result<(), SnapshotError>),
    Retention(
        Reply<RetentionReport, RetentionError>,
        Result<RetentionReport, RetentionError>,
    ),
    Projection(Reply<(), CheckpointError>, Result<(), CheckpointError>),
    Flush(Reply<(), StorageError>),
}

impl Decided {
    /// Delivers the decided outcome; the transaction committed.
    pub(crate) fn send(self) {
        // A caller that stopped waiting (its future was dropped) needs no answer.
        match self {
            Decided::Append(reply, answer) => drop(reply.send(answer)),
            Decided::Snapshot(reply, result) => drop(reply.send(result)),
            Decided::Retention(reply, result) => drop(reply.send(result)),
            Decided::Projection(reply, result) => drop(reply.send(result)),
            Decided::Flush(reply) => drop(reply.send(Ok(()))),
        }
    }

    /// Drops the decided outcome: the transaction did not commit.
    pub(crate) fn undecided(self) -> Waiting {
        match self {
            Decided::Append(reply, _) => Waiting::Append(reply),
            Decided::Snapshot(reply, _) => Waiting::Snapshot(reply),
            Decided::Retention(reply, _) => Waiting::Retention(reply),
            Decided::Projection(reply, _) => Waiting::Projection(reply),
            Decided::Flush(reply) => Waiting::Flush(reply),
        }
    }
}

/// A request's answer channel, without an outcome.
#[derive(Debug)]
pub(crate) enum Waiting {
    Append(AppendReply),
    Snapshot(Reply<(), SnapshotError>),
    Retention(Reply<RetentionReport, RetentionError>),
    Projection(Reply<(), CheckpointError>),
    Flush(Reply<(), StorageError>),
}

impl Waiting {
    /// Answers with `error`, called once.
    pub(crate) fn fail(self, error: impl FnOnce() -> StorageError) {
        match self {
            Waiting::Append(reply) => drop(reply.send(AppendAnswer {
                result: Err(error().into()),
                events: Vec::new(),
            })),
            Waiting::Snapshot(reply) => drop(reply.send(Err(error().into()))),
            Waiting::Retention(reply) => drop(reply.send(Err(error().into()))),
            Waiting::Projection(reply) => drop(reply.send(Err(error().into()))),
            Waiting::Flush(reply) => drop(reply.send(Err(error()))),
        }
    }
}

/// The request's answer channel, for refusing it without running it.
pub(crate) fn waiting(command: Command) -> Waiting {
    match command {
        Command::Append(append) => Waiting::Append(append.reply),
        Command::SaveSnapshot { reply, .. } => Waiting::Snapshot(reply),
        Command::Truncate { reply, .. }
        | Command::Delete { reply, .. }
        | Command::Retain { reply, .. } => Waiting::Retention(reply),
        Command::SaveProjection { reply, .. } => Waiting::Projection(reply),
        Command::Flush { reply } => Waiting::Flush(reply),
    }
}
