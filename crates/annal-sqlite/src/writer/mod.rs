//! The writer thread: the only code that writes the database.
//!
//! It drains the queue of pending requests into a group and runs the whole group as one
//! transaction (group commit): one WAL fsync serves every append in it. Each request is decided
//! in queue order against the writer's in-memory state, so a refused append does not fail its
//! neighbours. Answers go out only after the commit returned, and the new head is published on
//! the watch channel before the answers, so a caller that sees its append acknowledged finds
//! it in every read and subscription.
//!
//! Invariant: a failed database write poisons the writer. The group's transaction is rolled
//! back, every request in it is answered with the failure, and every later request is refused
//! with [`StorageError::Poisoned`] until the store is reopened: after a failed write we cannot
//! know what the file holds, and retrying a failed fsync can report success for lost data.

mod append;
mod command;
mod corrupt;
mod id_hash;
mod id_runs;
mod ids;
mod index;
mod maintenance;
mod parts;
mod state;
mod wal_copy;

use std::path::PathBuf;
use std::thread::JoinHandle;

use annal_core::backend::{
    Durability, Poison, Poisoned, WriterInbox, WriterQueue, drain_group, publish_head,
};
use annal_core::{Position, StorageError};
use rusqlite::Connection;
use tokio::sync::watch;

pub(crate) use command::{AppendAnswer, Command, MoreParts, SqliteAppend};
use command::{Decided, Waiting, waiting};
pub(crate) use corrupt::as_corrupt;
pub(crate) use id_hash::{IdHasher, rekey_ids};
pub(crate) use id_runs::{IdRuns, convert_version_2_ids};
pub(crate) use state::WriterState;
pub(crate) use wal_copy::WAL_COPY_AFTER_BYTES;
use wal_copy::{WalCopier, finish_wal_copy};

use crate::wal_marker;

/// Most events in one group transaction. Bigger groups amortise each dirtied index page over
/// more events; the bound keeps one transaction's WAL growth and latency in check.
const GROUP_EVENTS_MAX: usize = 50_000;

/// The running writer thread, owned by the store.
#[derive(Debug)]
pub(crate) struct WriterHandle {
    queue: WriterQueue<Command>,
    /// Answers whether the writer closed cleanly.
    thread: JoinHandle<bool>,
}

impl WriterHandle {
    /// Starts the writer thread on `connection`, whose committed content `state` mirrors,
    /// publishing committed heads on `head`.
    pub(crate) fn start(
        connection: Connection,
        state: WriterState,
        path: PathBuf,
        durability: Durability,
        wal_copy_after_bytes: u64,
        head: watch::Sender<Position>,
    ) -> std::io::Result<Self> {
        let (queue, inbox) = WriterQueue::new(writer_gone);
        head.send_replace(Position(state.last_position));
        let wal_copier = WalCopier::start(&path, durability)?;
        let writer = Writer {
            connection,
            state,
            path,
            durability,
            head,
            poisoned: Poisoned::default(),
            wal_copier: Some(wal_copier),
            bytes_since_wal_copy: 0,
            wal_copy_after_bytes,
        };
        let thread = std::thread::Builder::new()
            .name("annal-sqlite-writer".into())
            .spawn(move || writer.run(inbox))?;
        Ok(Self { queue, thread })
    }

    /// The queue into the writer.
    pub(crate) fn queue(&self) -> &WriterQueue<Command> {
        &self.queue
    }

    /// Stops the writer after it has answered everything queued, and waits for it to close its
    /// connection. Answers whether it closed cleanly: never poisoned, the marker cleared, and
    /// the connection closed without error.
    pub(crate) fn stop(self) -> bool {
        drop(self.queue);
        // A panicked writer has already poisoned the store; there is nothing left to stop.
        self.thread.join().unwrap_or(false)
    }
}

struct Writer {
    connection: Connection,
    state: WriterState,
    path: PathBuf,
    durability: Durability,
    head: watch::Sender<Position>,
    poisoned: Poisoned,
    wal_copier: Option<WalCopier>,
    /// Payload bytes committed since the last WAL copy request.
    bytes_since_wal_copy: u64,
    /// Payload bytes after which the writer asks for a WAL copy ([`WAL_COPY_AFTER_BYTES`];
    /// tests make it smaller).
    wal_copy_after_bytes: u64,
}

impl Writer {
    fn run(mut self, mut inbox: WriterInbox<Command>) -> bool {
        let mut group: Vec<Command> = Vec::new();
        while let Some(first) = inbox.blocking_recv() {
            drain_group(&mut inbox, first, GROUP_EVENTS_MAX, |command| {
                group.push(command);
                true
            });
            if let Some(poison) = self.poisoned.get() {
                for command in group.drain(..) {
                    waiting(command).fail(|| poison.refusal());
                }
                continue;
            }
            self.commit_group(&mut group);
        }
        if let Some(wal_copier) = self.wal_copier.take() {
            wal_copier.stop();
        }
        // A poisoned writer writes nothing more, the marker included. A failed merge of the ids
        // loses nothing: they stay in the events table, and the next open loads them.
        if !self.poisoned.is_poisoned() {
            let _ = self.state.merge_ids_before_close(&self.connection);
        }
        let marked =
            !self.poisoned.is_poisoned() && wal_marker::mark_closed(&self.connection).is_ok();
        // Closing the connection copies the WAL into the file; failures there lose nothing
        // committed, but the close is not clean.
        self.connection.close().is_ok() && marked
    }

    /// Runs `group` as one transaction and answers every request in it.
    fn commit_group(&mut self, group: &mut Vec<Command>) {
        let mut decided: Vec<Decided> = Vec::with_capacity(group.len());
        let mut flush = false;
        let mut failed: Option<Waiting> = None;
        let mut result = self.connection.execute_batch("BEGIN IMMEDIATE");
        if let Err(error) = &result
            && is_busy(error)
        {
            // Nothing was written: another connection (a `sqlite3` shell, say) holds the write
            // lock past the busy timeout. The group is refused and the writer stays usable.
            let error = self.busy(error.to_string());
            group
                .drain(..)
                .for_each(|command| waiting(command).fail(&error));
            return;
        }
        let mut commands = group.drain(..);
        if result.is_ok() {
            for command in commands.by_ref() {
                flush |= matches!(command, Command::Flush { .. });
                self.count_wal_copy_bytes(&command);
                match self.decide(command) {
                    Ok(done) => decided.push(done),
                    Err((waiting, error)) => {
                        failed = Some(waiting);
                        result = Err(error);
                        break;
                    }
                }
            }
        }
        let committed = result
            .and_then(|()| self.state.write_versions(&self.connection))
            .and_then(|()| self.state.merge_ids(&self.connection))
            .and_then(|()| self.state.index_if_due(&self.connection))
            .and_then(|()| self.connection.execute_batch("COMMIT"));
        if let Err(failure) = committed {
            // The transaction may already be gone (SQLite rolls back on some errors).
            let _ = self.connection.execute_batch("ROLLBACK");
            let error = self.poison_by(failure);
            decided
                .into_iter()
                .for_each(|done| done.undecided().fail(&error));
            if let Some(waiting) = failed {
                waiting.fail(&error);
            }
            commands.for_each(|command| waiting(command).fail(&error));
            return;
        }
        self.publish_and_answer(decided, flush);
        self.wal_copy_after_group();
    }

    /// Adds what an append writes to the bytes that lead to the next WAL copy.
    fn count_wal_copy_bytes(&mut self, command: &Command) {
        if let Command::Append(SqliteAppend { batch, more, .. }) = command {
            let bytes: usize = batch.iter().map(|e| e.payload_json.len() + 100).sum();
            // The later parts of a batch in parts are not here yet: they count as many bytes
            // per event as the first; counting the first part alone asked a store fed batches
            // of 1,000 for a WAL copy an eighth as often.
            let bytes = match more {
                Some(more) => bytes * more.total / batch.len().max(1),
                None => bytes,
            };
            self.bytes_since_wal_copy += bytes as u64;
        }
    }

    /// After a group committed: syncs the WAL if a flush asked, publishes the new head and
    /// answers every request of the group.
    fn publish_and_answer(&mut self, decided: Vec<Decided>, flush: bool) {
        // Committed: every decided answer stands, whatever happens to the sync below, because
        // the rows are in the database and a caller told "failed" would retry or give up on
        // events that exist.
        let synced = if flush { self.sync_wal() } else { Ok(()) };
        publish_head(&self.head, Position(self.state.last_position));
        match synced {
            Ok(()) => decided.into_iter().for_each(Decided::send),
            Err(reason) => {
                // Only the flushes asked for the sync, so only they fail; the store is poisoned
                // because a failed fsync may have lost pages the OS will never write again.
                let error = self.poison(reason.into());
                for done in decided {
                    match done {
                        Decided::Flush(reply) => Waiting::Flush(reply).fail(&error),
                        other => other.send(),
                    }
                }
            }
        }
    }

    /// Finishes an ended WAL copy and asks for the next one when enough was written.
    fn wal_copy_after_group(&mut self) {
        if let Some(wal_copier) = &self.wal_copier {
            // A poisoned writer writes nothing more, WAL copies included.
            if wal_copier.take_ended() && !self.poisoned.is_poisoned() {
                // After the answers, so no caller waits for it. A WAL copy that fails or
                // stays partial loses nothing: the WAL just keeps growing until the next one.
                let _ = finish_wal_copy(&self.connection);
            }
            if self.bytes_since_wal_copy >= self.wal_copy_after_bytes {
                self.bytes_since_wal_copy = 0;
                wal_copier.request();
            }
        }
    }

    /// Poisons the writer for a failed group; returns the error its callers get: `Corrupted`
    /// naming the table and value when the file holds a value the writer cannot use.
    fn poison_by(&mut self, failure: rusqlite::Error) -> impl Fn() -> StorageError + use<> {
        let corrupted = corrupt::as_corrupt(&failure)
            .map(|corrupt| (corrupt.location.clone(), corrupt.reason.clone()));
        let poisoned = self.poison(failure.into());
        move || match &corrupted {
            Some((location, reason)) => StorageError::Corrupted {
                location: location.clone(),
                reason: reason.clone(),
            },
            None => poisoned(),
        }
    }

    /// The answer to a group refused because another connection held the write lock.
    fn busy(&self, reason: String) -> impl Fn() -> StorageError + use<> {
        let context = format!(
            "{} is locked by another connection (a sqlite3 shell or another program writing \
             to it); nothing was written and the store stays writable: retry once it lets go",
            self.path.display()
        );
        move || StorageError::backend(context.clone(), reason.clone())
    }

    /// Poisons the writer for `reason`; returns the error its callers get.
    fn poison(
        &mut self,
        reason: Box<dyn std::error::Error + Send + Sync>,
    ) -> impl Fn() -> StorageError + use<> {
        let context = format!(
            "writing to {} failed; the store is now poisoned",
            self.path.display()
        );
        let poison = self.poisoned.set(Poison::new(context, reason));
        move || poison.failure()
    }

    /// Decides one request inside the open transaction. On a database failure, returns the
    /// request (to be answered with the failure) and the error.
    fn decide(&mut self, command: Command) -> Result<Decided, (Waiting, rusqlite::Error)> {
        let connection = &self.connection;
        let state = &mut self.state;
        match command {
            Command::Append(append) => self.decide_append(append),
            Command::SaveSnapshot { snapshot, reply } => {
                match maintenance::save_snapshot(connection, state, snapshot) {
                    Ok(result) => Ok(Decided::Snapshot(reply, result)),
                    Err(error) => Err((Waiting::Snapshot(reply), error)),
                }
            }
            Command::Truncate {
                stream,
                before,
                force,
                reply,
            } => match maintenance::truncate_before(connection, state, &stream, before, force) {
                Ok(result) => Ok(Decided::Retention(reply, result)),
                Err(error) => Err((Waiting::Retention(reply), error)),
            },
            Command::Delete {
                stream,
                expected,
                reply,
            } => match maintenance::delete_stream(connection, state, &stream, expected) {
                Ok(result) => Ok(Decided::Retention(reply, result)),
                Err(error) => Err((Waiting::Retention(reply), error)),
            },
            Command::Retain { policy, reply } => {
                match maintenance::retain(connection, state, policy) {
                    Ok(result) => Ok(Decided::Retention(reply, result)),
                    Err(error) => Err((Waiting::Retention(reply), error)),
                }
            }
            Command::SaveProjection { name, saved, reply } => {
                let state_json = saved.state.to_string();
                let checkpoint = saved.checkpoint.0;
                match maintenance::save_projection(
                    connection,
                    name.as_str(),
                    checkpoint,
                    &state_json,
                ) {
                    Ok(()) => Ok(Decided::Projection(reply, Ok(()))),
                    Err(error) => Err((Waiting::Projection(reply), error)),
                }
            }
            Command::Flush { reply } => Ok(Decided::Flush(reply)),
        }
    }

    /// Decides an append inside the open transaction, writing its rows (see [`Self::decide`]).
    fn decide_append(
        &mut self,
        append: SqliteAppend,
    ) -> Result<Decided, (Waiting, rusqlite::Error)> {
        let SqliteAppend {
            stream,
            expected,
            batch,
            more,
            reply,
        } = append;
        let connection = &self.connection;
        let state = &mut self.state;
        let mut events = Vec::new();
        let outcome = match more {
            None => {
                let outcome = append::append(connection, state, &stream, expected, &batch);
                events.push(batch);
                outcome
            }
            Some(more) => parts::append_in_parts(
                connection,
                state,
                &stream,
                expected,
                batch,
                more,
                &mut events,
            ),
        };
        match outcome {
            Ok(result) => Ok(Decided::Append(reply, AppendAnswer { result, events })),
            Err(error) => Err((Waiting::Append(reply), error)),
        }
    }

    /// Makes every committed transaction durable in relaxed mode by fsyncing the WAL file.
    ///
    /// In relaxed mode commits write the WAL without fsync; a WAL is only ever restarted after
    /// a WAL copy that synced the database file, so syncing the WAL covers every commit.
    fn sync_wal(&self) -> Result<(), String> {
        if self.durability == Durability::Durable {
            return Ok(());
        }
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        #[cfg(test)]
        if tests::fails_wal_sync(&self.path) {
            return Err("fsync of the WAL: injected failure".into());
        }
        match std::fs::File::open(&wal) {
            Ok(file) => file
                .sync_all()
                .map_err(|error| format!("fsync of the WAL: {error}")),
            // No WAL: everything is in the database file, which WAL copies synced.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(format!("opening the WAL to fsync it: {error}")),
        }
    }
}

/// The answer to a write whose writer thread is gone (it panicked, or the store closed).
pub(crate) fn writer_gone() -> StorageError {
    StorageError::Poisoned {
        reason: "the writer thread stopped".into(),
    }
}

/// Whether `error` is SQLite's "another connection holds the lock" after the busy timeout.
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests;
