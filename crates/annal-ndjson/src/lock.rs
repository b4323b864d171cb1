//! The writer lock: the OS lock on the directory's `.lock` file
//! ([`OsLock`](annal_core::backend::OsLock)), held for the writer's lifetime.
//!
//! Invariant: at most one writer per directory, across processes and within one. A lock file
//! left behind by a killed process is not a held lock (the seed's check-then-write lock with a
//! 30 s timeout was neither safe nor live).

use std::time::Duration;

use annal_core::backend::{LockError, OsLock};

use crate::error::OpenError;
use crate::layout::{LOCK_FILE, Layout};

/// A held writer lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct WriterLock {
    _lock: OsLock,
}

/// Takes the writer lock of the store in `layout`, waiting up to `timeout` for another holder.
pub(crate) fn acquire(layout: &Layout, timeout: Duration) -> Result<WriterLock, OpenError> {
    let lock_path = layout.file(LOCK_FILE);
    let mut lock = OsLock::acquire(&lock_path, timeout).map_err(|error| match error {
        LockError::InUse { holder } => OpenError::InUse {
            dir: layout.dir().to_path_buf(),
            holder,
            lock_path: lock_path.clone(),
        },
        LockError::Io { context, source } => OpenError::io(context, &lock_path)(source),
    })?;
    lock.record_holder();
    Ok(WriterLock { _lock: lock })
}
