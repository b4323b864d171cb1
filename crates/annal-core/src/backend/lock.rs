//! [`OsLock`]: the OS file lock a writer holds for its lifetime, with a wait bound and the
//! holder's pid for the next opener's error message.
//!
//! Invariant: at most one holder per lock file, across processes and within one. The OS
//! releases the lock when its holder dies, so a crash never leaves a stale lock behind; the
//! pid written into the file only names the holder in error messages and is never trusted.
//!
//! This is the one place annal-core touches the file system: the lock is the same for every
//! backend that keeps files, and it neither reads nor writes a store's data.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to sleep between attempts while waiting for a lock held by someone else.
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// Bytes of a lock file read back: a pid line and a backend's own short records.
const LOCK_TEXT_BYTES_MAX: u64 = 4096;

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct OsLock {
    file: File,
    path: PathBuf,
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Someone else held it for the whole wait; `holder` names them as the file does
    /// (` (pid N)`, or empty when it names no one).
    InUse {
        /// The holder, as recorded in the lock file.
        holder: String,
    },
    /// The lock file could not be opened or locked.
    Io {
        /// What failed.
        context: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

impl OsLock {
    /// Takes the lock on the file at `path` (created if missing), waiting up to `timeout` for
    /// another holder to let go. The file's content is left as it was ([`OsLock::record_holder`]
    /// writes this process's pid).
    pub fn acquire(path: &Path, timeout: Duration) -> Result<Self, LockError> {
        let io = |context| move |source| LockError::Io { context, source };
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io("opening the lock file"))?;
        let deadline = Instant::now() + timeout;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(LOCK_RETRY_INTERVAL);
                }
                Err(TryLockError::WouldBlock) => {
                    let holder = holder(&mut file);
                    return Err(LockError::InUse { holder });
                }
                Err(TryLockError::Error(source)) => return Err(io("locking")(source)),
            }
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the lock file holds (its first few kilobytes); empty if it does not read.
    pub fn text(&mut self) -> String {
        let mut text = String::new();
        let _ = self.file.seek(SeekFrom::Start(0)).and_then(|_| {
            (&mut self.file)
                .take(LOCK_TEXT_BYTES_MAX)
                .read_to_string(&mut text)
        });
        text
    }

    /// Replaces the lock file's content with `pid <this process>` and then `records`, one per
    /// line. Not synced: see [`OsLock::rewrite_synced`].
    pub fn write_records(&mut self, records: &[&str]) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        let mut text = format!("pid {}", std::process::id());
        for record in records {
            text.push('\n');
            text.push_str(record);
        }
        self.file.write_all(text.as_bytes())
    }

    /// Records who holds the lock, for the next opener's error message. A failure costs only
    /// that message, so it is not reported.
    pub fn record_holder(&mut self) {
        let _ = self.write_records(&[]);
    }

    /// [`OsLock::write_records`], then syncs the file and its directory, so the records
    /// survive a power loss.
    pub fn rewrite_synced(&mut self, records: &[&str]) -> std::io::Result<()> {
        self.write_records(records)?;
        self.file.sync_all()?;
        let dir = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(dir).and_then(|dir| dir.sync_all())
    }

    /// The lock file itself, for a backend's own records in it.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }
}

/// What the lock file at `path` holds (empty if there is none), read without taking the lock.
pub fn peek(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(file) = File::open(path) {
        let _ = file.take(LOCK_TEXT_BYTES_MAX).read_to_string(&mut text);
    }
    text
}

/// The holder named by the lock file's first line, as ` (pid N)`; empty if it names none.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_lock(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("annal-core-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn a_second_holder_waits_then_is_refused_with_the_first_ones_pid() {
        let path = temp_lock("held");
        let mut first = OsLock::acquire(&path, Duration::ZERO).unwrap();
        first.write_records(&["closed cleanly"]).unwrap();
        let started = Instant::now();
        match OsLock::acquire(&path, Duration::from_millis(60)) {
            Err(LockError::InUse { holder }) => {
                assert_eq!(holder, format!(" (pid {})", std::process::id()));
            }
            other => panic!("expected the lock in use, got {other:?}"),
        }
        assert!(
            started.elapsed() >= Duration::from_millis(60),
            "it did not wait"
        );
        assert_eq!(
            peek(&path),
            format!("pid {}\nclosed cleanly", std::process::id())
        );
        drop(first);
        let mut again = OsLock::acquire(&path, Duration::ZERO).unwrap();
        assert!(
            again.text().ends_with("closed cleanly"),
            "the content stays until rewritten"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
