//! The WAL copier: a thread that copies committed WAL pages into the database file, so the
//! writer thread never stops appending to do it, and the hand-off that lets the WAL start over.
//! SQLite calls this copy a *checkpoint* (`PRAGMA wal_checkpoint`); annal says *WAL copy* and
//! keeps *checkpoint* for a projection's saved position.
//!
//! SQLite's automatic WAL copy runs inside the committing thread, where it measurably cost the
//! writer batch throughput (`docs/sqlite-schema.md`). A passive copy on another connection runs
//! alongside new commits instead. The writer still keeps a large automatic copy as a backstop,
//! so the WAL stays bounded even if this thread falls behind.
//!
//! SQLite writes the WAL from its start again only when a write transaction begins while every
//! frame is already copied. A copy running beside a busy writer never gets there: new
//! frames arrive while it copies. Without help, the WAL of a store under steady load grew to the
//! backstop's 256 MiB, and every commit wrote pages beyond the end of the file, which the kernel
//! must allocate and zero first. So the thread copies the bulk, repeating while the frames added
//! meanwhile are many ([`copy_most_of_the_wal`]), and then tells the writer, which copies the few that are left itself
//! between two groups ([`WalCopier::take_ended`]): its next commit starts the WAL over and
//! rewrites file pages the kernel already holds.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;

use rusqlite::Connection;

use crate::connection::open_wal_copier;
use crate::options::Durability;

/// Bytes of appended data after which the writer asks for a WAL copy.
pub(crate) const WAL_COPY_AFTER_BYTES: u64 = 16 * 1024 * 1024;

/// WAL frames (pages) the writer may add during the thread's last round, for the writer to copy
/// itself: 1 MiB. More, and the thread runs another round first.
const FRAMES_LEFT_FOR_WRITER: i64 = 256;

/// Rounds the thread runs for one request before it leaves the rest to the writer, so that a
/// writer outpacing the copy cannot keep it busy for good.
const ROUNDS_PER_REQUEST: usize = 4;

/// The running WAL copier thread.
#[derive(Debug)]
pub(crate) struct WalCopier {
    wake: SyncSender<()>,
    thread: JoinHandle<()>,
    /// Set when the thread has ended a WAL copy and the writer has not yet finished it.
    ended: Arc<AtomicBool>,
}

impl WalCopier {
    /// Starts a WAL copier on its own connection to `path`.
    pub(crate) fn start(path: &Path, durability: Durability) -> std::io::Result<Self> {
        let connection = open_wal_copier(path, durability).map_err(std::io::Error::other)?;
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let ended = Arc::new(AtomicBool::new(false));
        let ended_by_thread = Arc::clone(&ended);
        let thread = std::thread::Builder::new()
            .name("annal-sqlite-wal-copier".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    if copy_most_of_the_wal(&connection) {
                        ended_by_thread.store(true, Ordering::Release);
                    }
                }
            })?;
        Ok(Self {
            wake,
            thread,
            ended,
        })
    }

    /// Asks for a WAL copy; requests made while one is pending merge into it.
    pub(crate) fn request(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }

    /// Whether a WAL copy has ended since the last call: then the writer should copy what is
    /// left ([`finish_wal_copy`]) so that its next commit starts the WAL over.
    pub(crate) fn take_ended(&self) -> bool {
        self.ended.swap(false, Ordering::Acquire)
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) {
        drop(self.wake);
        // A panicked WAL copier has nothing left to clean up.
        let _ = self.thread.join();
    }
}

/// Copies the WAL in rounds until a round finds few frames added since the previous one began:
/// each round copies what the writer appended during the last, so the rounds shrink (a round
/// copies far faster than the writer appends: `BENCHMARKS.md`, "Figures behind constants in
/// the code"), and the writer's own finishing copy is left with about one short round's worth.
/// Returns whether it got there: not when a round failed, was kept from copying everything (a
/// reader's read snapshot), or the rounds ran out. Then the writer is not asked to finish,
/// since it would copy all the rest on its own thread; the next request tries again.
fn copy_most_of_the_wal(connection: &Connection) -> bool {
    let mut last_log: Option<i64> = None;
    for _ in 0..ROUNDS_PER_REQUEST {
        // A failed or partial copy loses nothing: the pages stay in the WAL, and the next
        // request, or the writer's backstop, copies them.
        let Ok(Some(copied)) = passive_copy(connection) else {
            return false;
        };
        if copied.copied < copied.log {
            return false;
        }
        // A log that shrank started over: everything before is copied.
        let added = last_log.map_or(copied.log, |last| (copied.log - last).max(0));
        if added <= FRAMES_LEFT_FOR_WRITER {
            return true;
        }
        last_log = Some(copied.log);
    }
    false
}

/// What a passive WAL copy did.
struct Copied {
    /// Frames in the WAL when it began.
    log: i64,
    /// Frames of those now in the database file.
    copied: i64,
}

/// Runs a passive WAL copy on `connection`; `None` if it could not run (another copy held the
/// lock).
fn passive_copy(connection: &Connection) -> rusqlite::Result<Option<Copied>> {
    // The row is (busy, frames in the WAL, frames copied); busy is 1 and both counts -1 when the
    // copy could not run.
    let (busy, log, copied): (i64, i64, i64) =
        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    Ok((busy == 0 && log >= 0).then_some(Copied { log, copied }))
}

/// Copies the WAL frames the WAL copier left, on the writer's own connection between two
/// groups: with no commit running alongside, the copy completes unless a reader's read
/// snapshot still needs some frames, and then the writer's next commit writes the WAL from its start.
pub(crate) fn finish_wal_copy(connection: &Connection) -> rusqlite::Result<()> {
    passive_copy(connection).map(|_| ())
}
