//! The checkpointer: a thread that copies committed WAL pages into the database file, so the
//! writer thread never stops appending to do it.
//!
//! SQLite's automatic checkpoint runs inside the committing thread; measured here it cost the
//! writer 15 % of its batch throughput (`docs/sqlite-schema.md`). A passive checkpoint on another
//! connection runs alongside new commits instead. The writer still keeps a large automatic
//! checkpoint as a backstop, so the WAL stays bounded even if this thread falls behind.

use std::path::Path;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;

use crate::connection::open_checkpointer;
use crate::options::Durability;

/// Bytes of appended data after which the writer asks for a checkpoint.
pub(crate) const CHECKPOINT_AFTER_BYTES: u64 = 16 * 1024 * 1024;

/// The running checkpointer thread.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    wake: SyncSender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts a checkpointer on its own connection to `path`.
    pub(crate) fn start(path: &Path, durability: Durability) -> std::io::Result<Self> {
        let connection = open_checkpointer(path, durability).map_err(std::io::Error::other)?;
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("annal-sqlite-checkpointer".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    // A failed or partial checkpoint loses nothing: the pages stay in the WAL,
                    // and the next request, or the writer's backstop, copies them.
                    let _ = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })?;
        Ok(Self { wake, thread })
    }

    /// Asks for a checkpoint; requests made while one is pending merge into it.
    pub(crate) fn request(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) {
        drop(self.wake);
        // A panicked checkpointer has nothing left to clean up.
        let _ = self.thread.join();
    }
}
