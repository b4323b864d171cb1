//! [`OpenOptions`]: how a store is opened (writer or read-only, durability, lock wait, limits).
//!
//! The defaults are the safe ones: durable on acknowledgment, fail at once if another process
//! holds the writer lock.

use std::sync::Arc;
use std::time::Duration;

use annal_core::{Clock, Limits, SystemClock};

/// Events gathered after the derived index's watermark before the writer moves them to disk:
/// the most the in-memory index holds (about 130 bytes each), and the most an open scans after
/// a crash.
const INDEX_EVERY: usize = 65_536;

pub use annal_core::backend::Durability;

/// Options for [`NdjsonStore::open_with`](crate::NdjsonStore::open_with).
#[derive(Clone)]
pub struct OpenOptions {
    pub(crate) read_only: bool,
    pub(crate) durability: Durability,
    pub(crate) lock_timeout: Duration,
    pub(crate) limits: Limits,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) poll_interval: Duration,
    pub(crate) index_every: usize,
}

impl std::fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("read_only", &self.read_only)
            .field("durability", &self.durability)
            .field("lock_timeout", &self.lock_timeout)
            .field("limits", &self.limits)
            .field("poll_interval", &self.poll_interval)
            .field("index_every", &self.index_every)
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
            poll_interval: Duration::from_millis(20),
            index_every: INDEX_EVERY,
        }
    }
}

impl OpenOptions {
    /// Writer options with the defaults: durable, no lock wait, default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the store read-only: no lock, no writer thread, any number alongside one writer,
    /// and nothing in the directory is ever modified. New appends by the writer are noticed by
    /// polling the synced length it publishes in `head.json` after each fsync, and delivered
    /// to subscriptions; an append is never seen before it is durable.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Chooses the durability of acknowledged appends.
    ///
    /// `Durable`: an acknowledged append survives a process kill, an OS crash and power loss: each
    /// group of appends is written and fsynced (`fdatasync`) before any of them is answered.
    ///
    /// `Relaxed`: appends are written to the OS but not fsynced, so the newest acknowledged appends
    /// can vanish if the machine (not the process) goes down; [`Store::flush`] makes everything
    /// durable. A killed process still loses nothing acknowledged. Read-only opens in other
    /// processes see appends only once they are synced: at a flush, every 2 s while appends go on,
    /// and at close.
    ///
    /// [`Store::flush`]: annal_core::Store::flush
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

    /// How often a read-only store looks for new appends (default 20 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How many events the in-memory index gathers after the derived index's watermark
    /// (`index.sqlite`) before the writer moves them to disk (default 65,536). Smaller values
    /// hold less memory and make more, smaller passes; tests use tiny ones to cross the
    /// watermark often.
    pub fn index_every(mut self, events: usize) -> Self {
        self.index_every = events.max(1);
        self
    }
}
