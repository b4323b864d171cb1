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
    /// if it left one (`clean_close.rs`), or the record of a creation under way (`creation.rs`).
    previous: String,
    /// Whether the lock file records a creation under way (`creation.rs`): every rewrite of
    /// it keeps that record until [`WriterLock::finish_creation`].
    creating: bool,
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

    /// Records in the lock file how the writer's connection to `db_path` ended (`clean`: see
    /// [`Closed::after`]), once it is closed and just before the lock goes. A failure only
    /// costs the next writer a `quick_check`.
    pub(crate) fn record_close(&mut self, db_path: &Path, clean: bool) {
        let Some(record) = Closed::after(db_path, clean)
            .and_then(|closed| crate::clean_close::record(db_path, closed))
        else {
            return;
        };
        let _ = self.file.set_len(0).and_then(|()| {
            self.file.seek(SeekFrom::Start(0))?;
            write!(self.file, "pid {}\n{record}\n", std::process::id())?;
            if self.creating {
                writeln!(self.file, "{}", crate::creation::UNDER_WAY)?;
            }
            self.file.sync_data()
        });
    }

    /// Records, durably (the lock file and its directory synced), that a new store's creation
    /// at `db_path` is under way, before its first byte is written. A record the lock file
    /// already held when the lock was taken stays as it is: rewriting it would open a moment
    /// in which a power loss leaves neither it nor the file's content.
    pub(crate) fn begin_creation(&mut self, db_path: &Path) -> Result<(), OpenError> {
        if !self.creating {
            let text = format!(
                "pid {}\n{}\n",
                std::process::id(),
                crate::creation::UNDER_WAY
            );
            self.rewrite(db_path, &text)
                .map_err(|source| self.io_error(db_path, source))?;
            self.creating = true;
        }
        Ok(())
    }

    /// Erases the record of a creation under way, durably, once the new store is.
    pub(crate) fn finish_creation(&mut self, db_path: &Path) -> Result<(), OpenError> {
        let text = format!("pid {}", std::process::id());
        self.rewrite(db_path, &text)
            .map_err(|source| self.io_error(db_path, source))?;
        self.creating = false;
        Ok(())
    }

    fn rewrite(&mut self, db_path: &Path, text: &str) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(text.as_bytes())?;
        self.file.sync_all()?;
        let lock_path = lock_path(db_path);
        let dir = match lock_path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(dir).and_then(|dir| dir.sync_all())
    }

    fn io_error(&self, db_path: &Path, source: std::io::Error) -> OpenError {
        OpenError::Io {
            context: "recording a store's creation in the lock file",
            path: lock_path(db_path),
            source,
        }
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
    let creating = crate::creation::under_way(&previous);
    if !creating {
        // Record who holds the lock, for the next opener's error message; this also erases
        // the last clean-close record, so a crash from here on leaves none. A failure here
        // costs only that message, so it does not fail the open. A creation's record stays.
        let _ = file.set_len(0).and_then(|()| {
            file.seek(SeekFrom::Start(0))?;
            write!(file, "pid {}", std::process::id())
        });
    }
    Ok(WriterLock {
        file,
        previous,
        creating,
    })
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
