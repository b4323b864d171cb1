//! The writer lock: an OS file lock on a sidecar `<db>.lock` file, held for the writer's
//! lifetime.
//!
//! Invariant: at most one writer per database file, across processes and within one. The OS
//! releases the lock when the holder dies, so a crash never leaves a stale lock behind; the pid
//! written into the file only names the holder in error messages and is never trusted.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::clean_close::Closed;
use crate::error::OpenError;

/// How long to sleep between attempts while waiting for a lock held by someone else.
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// A held writer lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct WriterLock {
    file: File,
    /// What the lock file held when the lock was taken: the last writer's clean-close record,
    /// if it left one (`clean_close.rs`).
    previous: String,
}

impl WriterLock {
    /// Whether the last writer closed the database at `db_path` cleanly and nothing changed it
    /// since.
    pub(crate) fn closed_cleanly(&self, db_path: &Path) -> bool {
        crate::clean_close::matches(&self.previous, db_path)
    }

    /// What the lock file held when the lock was taken.
    pub(crate) fn previous(&self) -> &str {
        &self.previous
    }

    /// Records in the lock file how the writer closed the database at `db_path`, just before
    /// the lock goes. A failure only costs the next writer a `quick_check`.
    pub(crate) fn record_close(&mut self, db_path: &Path, closed: Closed) {
        let Some(record) = crate::clean_close::record(db_path, closed) else {
            return;
        };
        let _ = self.file.set_len(0).and_then(|()| {
            self.file.seek(SeekFrom::Start(0))?;
            write!(self.file, "pid {}\n{record}\n", std::process::id())?;
            self.file.sync_data()
        });
    }
}

/// The sidecar lock file's path for a database at `db_path`.
pub(crate) fn lock_path(db_path: &Path) -> PathBuf {
    let mut name = resolved(db_path).into_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// The database's real location: two spellings of one file (a symlink, `./a/../db`) must map to
/// one lock, or two writers could hold the same database.
fn resolved(db_path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(db_path) {
        return real;
    }
    // The file does not exist yet: resolve its directory, which must exist to create it.
    let parent = match db_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(parent), db_path.file_name()) {
        (Ok(real_parent), Some(file_name)) => real_parent.join(file_name),
        _ => db_path.to_path_buf(),
    }
}

/// Takes the writer lock for `db_path`, waiting up to `timeout` for another holder to let go.
pub(crate) fn acquire(db_path: &Path, timeout: Duration) -> Result<WriterLock, OpenError> {
    let lock_path = lock_path(db_path);
    let io = |context, source| OpenError::Io {
        context,
        path: lock_path.clone(),
        source,
    };
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|source| io("opening the lock file", source))?;
    let deadline = Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(LOCK_RETRY_INTERVAL);
            }
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::InUse {
                    path: db_path.to_path_buf(),
                    holder: holder(&mut file),
                    lock_path,
                });
            }
            Err(TryLockError::Error(source)) => return Err(io("locking", source)),
        }
    }
    let mut previous = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| (&mut file).take(4096).read_to_string(&mut previous));
    // Record who holds the lock, for the next opener's error message; this also erases the
    // last clean-close record, so a crash from here on leaves none. A failure here costs only
    // that message, so it does not fail the open.
    let _ = file.set_len(0).and_then(|()| {
        file.seek(SeekFrom::Start(0))?;
        write!(file, "pid {}", std::process::id())
    });
    Ok(WriterLock { file, previous })
}

/// What the lock file of the database at `db_path` holds (empty if there is none): read without
/// taking the lock, by opens that only inspect.
pub(crate) fn peek(db_path: &Path) -> String {
    let mut text = String::new();
    if let Ok(file) = File::open(lock_path(db_path)) {
        let _ = file.take(4096).read_to_string(&mut text);
    }
    text
}

fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let read = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.take(64).read_to_string(&mut text));
    let first = text.lines().next().unwrap_or_default().trim();
    match read {
        Ok(_) if !first.is_empty() => format!(" ({first})"),
        _ => String::new(),
    }
}
