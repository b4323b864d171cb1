//! The writer lock: an OS file lock (`flock` through `File::try_lock`) on the directory's
//! `.lock` file, held for the writer's lifetime.
//!
//! Invariant: at most one writer per directory, across processes and within one. The OS
//! releases the lock when its holder dies, so a lock file left behind by a killed process is
//! not a held lock (the seed's check-then-write lock with a 30 s timeout was neither safe nor
//! live). The pid written into the file only names the holder in error messages and is never
//! trusted.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use crate::error::OpenError;
use crate::layout::{LOCK_FILE, Layout};

/// How long to sleep between attempts while waiting for a lock held by someone else.
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(20);

/// A held writer lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _file: File,
}

/// Takes the writer lock of the store in `layout`, waiting up to `timeout` for another holder.
pub(crate) fn acquire(layout: &Layout, timeout: Duration) -> Result<WriterLock, OpenError> {
    let lock_path = layout.file(LOCK_FILE);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(OpenError::io("opening the lock file", &lock_path))?;
    let deadline = Instant::now() + timeout;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(LOCK_RETRY_INTERVAL);
            }
            Err(TryLockError::WouldBlock) => {
                return Err(OpenError::InUse {
                    dir: layout.dir().to_path_buf(),
                    holder: holder(&mut file),
                    lock_path,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(OpenError::io("locking", &lock_path)(source));
            }
        }
    }
    // Record who holds the lock, for the next opener's error message. A failure here costs only
    // that message, so it does not fail the open.
    let _ = file.set_len(0).and_then(|()| {
        file.seek(SeekFrom::Start(0))?;
        write!(file, "pid {}", std::process::id())
    });
    Ok(WriterLock { _file: file })
}

fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let read = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.take(64).read_to_string(&mut text));
    match read {
        Ok(_) if !text.trim().is_empty() => format!(" ({})", text.trim()),
        _ => String::new(),
    }
}
