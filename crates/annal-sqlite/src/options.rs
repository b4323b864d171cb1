//! [`OpenOptions`]: how a store is opened (writer or read-only, durability, lock wait, limits).
//!
//! The defaults are the safe ones: durable on acknowledgment, fail at once if another process
//! holds the writer lock.

use std::sync::Arc;
use std::time::Duration;

use annal_core::{Clock, Limits, SystemClock};

pub use annal_core::backend::Durability;

/// Options for [`SqliteStore::open`](crate::SqliteStore::open).
#[derive(Clone)]
pub struct OpenOptions {
    pub(crate) read_only: bool,
    pub(crate) durability: Durability,
    pub(crate) lock_timeout: Duration,
    pub(crate) limits: Limits,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) max_size_bytes: Option<u64>,
    pub(crate) poll_interval: Duration,
    pub(crate) index_every: u64,
    pub(crate) wal_copy_after_bytes: u64,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("read_only", &self.read_only)
            .field("durability", &self.durability)
            .field("lock_timeout", &self.lock_timeout)
            .field("limits", &self.limits)
            .field("max_size_bytes", &self.max_size_bytes)
            .field("poll_interval", &self.poll_interval)
            .field("index_every", &self.index_every)
            .field("wal_copy_after_bytes", &self.wal_copy_after_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            read_only: false,
            durability: Durability::Durable,
            lock_timeout: Duration::ZERO,
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
            max_size_bytes: None,
            poll_interval: Duration::from_millis(10),
            index_every: crate::derived::INDEX_EVERY_DEFAULT,
            wal_copy_after_bytes: crate::writer::WAL_COPY_AFTER_BYTES,
        }
    }
}

impl OpenOptions {
    /// Writer options with the defaults: durable, no lock wait, default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the store read-only: no lock, no writer thread, any number alongside one writer.
    /// New commits by any writer are noticed by polling and delivered to subscriptions.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Chooses the durability of acknowledged appends.
    ///
    /// `Durable`: an acknowledged append survives a process kill, an OS crash and power loss:
    /// SQLite runs with `synchronous=FULL`, which in WAL mode fsyncs the WAL at every commit.
    ///
    /// `Relaxed`: gives up power-loss and OS-crash durability for speed (`synchronous=NORMAL`): the
    /// WAL is fsynced only at WAL copies and on [`Store::flush`](annal_core::Store::flush), so the
    /// newest acknowledged appends can vanish if the machine (not the process) goes down. A killed
    /// process still loses nothing.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Waits up to `timeout` for another writer to release the store (default: fail at once).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Sets the limits checked on every append.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the clock that stamps events appended without a timestamp.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Caps the database file at about this many bytes; a write past it fails and poisons the
    /// store (for disk quotas, and to test the failure path).
    pub fn max_size_bytes(mut self, bytes: u64) -> Self {
        self.max_size_bytes = Some(bytes);
        self
    }

    /// How often a read-only store checks for commits by other connections (default 10 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How many events the writer leaves above the derived index's watermark before a group
    /// indexes them in bulk (default 4,096; at least 1). Queries and `stats` scan the events
    /// above it, so a smaller value trades append throughput for a shorter scan; tests use a
    /// small one to exercise both sides of the watermark.
    pub fn index_every(mut self, events: u64) -> Self {
        self.index_every = events.max(1);
        self
    }

    /// How many bytes of appended events the writer lets into the WAL before it asks for a WAL
    /// copy into the database file (default 16 MiB; at least 4 KiB). A smaller value keeps the
    /// WAL shorter for more copying work; tests use a small one so that copies, and failures
    /// during them, happen within a short run.
    pub fn wal_copy_after_bytes(mut self, bytes: u64) -> Self {
        self.wal_copy_after_bytes = bytes.max(4096);
        self
    }
}
