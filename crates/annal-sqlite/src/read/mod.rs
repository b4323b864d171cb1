//! The read side: a small pool of read-only connections, used from tokio's blocking threads.
//!
//! Readers never block the writer: each read is its own short WAL read transaction on its own
//! connection. Long reads page through results ([`annal_core::paged`]) one blocking call per
//! page, so memory stays bounded by a page however much is read.

mod events;
mod lookups;
mod query;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use annal_core::{ReadError, StorageError};
use rusqlite::Connection;

use crate::connection::open_reader;

pub(crate) use events::{all_page, stream_page};
pub(crate) use lookups::{head, load_projection, load_snapshot, stream_version};
pub(crate) use query::{QueryCursor, query_page};
pub(crate) use stats::stats;

/// Idle read connections kept for reuse; more can be open at once, the rest are closed.
const IDLE_READERS_MAX: usize = 4;

/// The pool of read-only connections to one database file.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// A pool for the database at `path`; connections open on first use.
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The database file this pool reads.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `read` on a pooled connection on a blocking thread.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, read: F) -> Result<T, ReadError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, ReadError> + Send + 'static,
    {
        let readers = Arc::clone(self);
        let task = tokio::task::spawn_blocking(move || {
            let connection = readers.take()?;
            let result = read(&connection);
            readers.give_back(connection);
            result
        });
        match task.await {
            Ok(result) => result,
            Err(join) => Err(ReadError::Storage(StorageError::backend(
                "a read task failed",
                join,
            ))),
        }
    }

    fn take(&self) -> Result<Connection, ReadError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => open_reader(&self.path).map_err(|source| {
                let context = format!("opening a reader on {}", self.path.display());
                ReadError::Storage(StorageError::backend(context, source))
            }),
        }
    }

    fn give_back(&self, connection: Connection) {
        // The pool holds only plain connections between reads, so a panic elsewhere cannot have
        // left it inconsistent; the poison flag carries no information.
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS_MAX {
            idle.push(connection);
        }
    }
}
