//! The commit watcher of a read-only store: a background thread that notices commits made by
//! other connections (another process's writer, or another handle in this one) and publishes
//! the new head, so subscriptions on a read-only store follow live.
//!
//! `PRAGMA data_version` changes on a connection whenever another connection commits, and
//! costs no I/O beyond the WAL index in shared memory, so polling it every few milliseconds is
//! cheap. The head is published only after it was read from a committed state, which is what
//! [`annal_core::follow`] requires.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use annal_core::Position;
use annal_core::backend::advance_head;
use rusqlite::Connection;
use tokio::sync::watch;

use crate::connection::open_reader;
use crate::read;

/// The running watcher thread; dropping the store stops it.
#[derive(Debug)]
pub(crate) struct Poller {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Poller {
    /// Starts watching the database at `path` every `interval`, publishing heads on `head`.
    pub(crate) fn start(
        path: &Path,
        interval: Duration,
        head: watch::Sender<Position>,
    ) -> Result<Self, rusqlite::Error> {
        let connection = open_reader(path)?;
        let initial = read::head(&connection).unwrap_or(Position::START);
        head.send_replace(initial);
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("annal-sqlite-poller".into())
            .spawn(move || watch_commits(connection, interval, head, stopped))
            .map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))?;
        Ok(Self { stop, thread })
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) {
        drop(self.stop);
        // A panicked watcher has nothing left to clean up.
        let _ = self.thread.join();
    }
}

fn data_version(connection: &Connection) -> Option<i64> {
    connection
        .query_row("PRAGMA data_version", [], |row| row.get(0))
        .ok()
}

fn watch_commits(
    connection: Connection,
    interval: Duration,
    head: watch::Sender<Position>,
    stopped: mpsc::Receiver<()>,
) {
    let mut seen = data_version(&connection);
    loop {
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let version = data_version(&connection);
        if version == seen {
            continue;
        }
        // A failed read leaves `seen` unchanged, so the next tick tries again.
        if let Ok(new_head) = read::head(&connection) {
            seen = version;
            advance_head(&head, new_head);
        }
    }
}
