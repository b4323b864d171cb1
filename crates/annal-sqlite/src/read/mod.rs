//! The read side: a small pool of read-only connections, used from tokio's blocking threads.
//!
//! Readers never block the writer: each read is its own short WAL read transaction on its own
//! connection. Long reads page through results ([`annal_core::paged`]) one blocking call per
//! page, so memory stays bounded by a page however much is read. Each pooled connection keeps
//! its own [`Names`], the dictionary names it has resolved, for the event reads.

mod ahead;
mod by_id;
mod events;
mod indexed;
mod lookups;
mod maintained_stats;
mod names;
mod query;
mod ranges;
mod stats;
mod tail;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use annal_core::{ReadError, StorageError};
use rusqlite::Connection;
use tokio::task::JoinHandle;

use crate::connection::open_reader;

pub(crate) use ahead::read_ahead;
pub(crate) use by_id::event_by_id;
pub(crate) use events::{range_page, range_page_where, stream_page};
pub(crate) use indexed::{IndexedCursor, indexed_page, serves as index_serves};
pub(crate) use lookups::{head, load_projection, load_snapshot, stream_version};
pub(crate) use maintained_stats::stats;
pub(crate) use names::Names;
pub(crate) use query::{QueryCursor, query_page, scan_condition};
pub(crate) use ranges::read_ranges;
pub(crate) use stats::recount as recount_stats;

/// Idle read connections kept for reuse; more can be open at once, the rest are closed.
const IDLE_READERS_MAX: usize = 4;

/// A pooled read-only connection and the names it has resolved.
#[derive(Debug)]
struct Reader {
    connection: Connection,
    names: Names,
}

/// The pool of read-only connections to one database file.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
}

impl Readers {
    /// A pool for the database at `path`; connections open on first use.
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Opens one pooled connection now and has it load the schema, so the first read after
    /// opening a store does not pay for either (they cost about as much as reading a 100-event
    /// stream). A failure is left to that first read, which opens its own connection and
    /// reports what went wrong.
    pub(crate) fn warm(&self) {
        if let Ok(reader) = self.take() {
            // Preparing any statement on the events table parses the schema once per connection.
            let loaded = reader
                .connection
                .prepare("SELECT 1 FROM events WHERE 0")
                .is_ok();
            if loaded {
                self.give_back(reader);
            }
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
        self.run_with_names(move |connection, _| read(connection))
            .await
    }

    /// Runs `read` on a pooled connection and its [`Names`] on a blocking thread.
    pub(crate) async fn run_with_names<T, F>(self: &Arc<Self>, read: F) -> Result<T, ReadError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Names) -> Result<T, ReadError> + Send + 'static,
    {
        joined(self.start_with_names(read)).await
    }

    /// Starts `read` on a pooled connection and its [`Names`] on a blocking thread, and returns
    /// at once; the read runs whether or not the handle is awaited.
    pub(crate) fn start_with_names<T, F>(
        self: &Arc<Self>,
        read: F,
    ) -> JoinHandle<Result<T, ReadError>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Names) -> Result<T, ReadError> + Send + 'static,
    {
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut reader = readers.take()?;
            let result = read(&reader.connection, &mut reader.names);
            readers.give_back(reader);
            result
        })
    }

    fn take(&self) -> Result<Reader, ReadError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(reader) => Ok(reader),
            None => {
                let connection = open_reader(&self.path).map_err(|source| {
                    let context = format!("opening a reader on {}", self.path.display());
                    ReadError::Storage(StorageError::backend(context, source))
                })?;
                Ok(Reader {
                    connection,
                    names: Names::new(),
                })
            }
        }
    }

    fn give_back(&self, reader: Reader) {
        // The pool holds only plain connections between reads, so a panic elsewhere cannot have
        // left it inconsistent; the poison flag carries no information.
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS_MAX {
            idle.push(reader);
        }
    }
}

/// The result of a read started with [`Readers::start_with_names`].
pub(crate) async fn joined<T>(task: JoinHandle<Result<T, ReadError>>) -> Result<T, ReadError> {
    match task.await {
        Ok(result) => result,
        Err(join) => Err(ReadError::Storage(StorageError::backend(
            "a read task failed",
            join,
        ))),
    }
}
