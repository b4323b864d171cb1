//! The store's clock, which stamps events appended without a timestamp.
//!
//! Injected so tests can fix time; the default reads the system clock.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::event::Timestamp;

/// A source of "now" in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now_ms(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Timestamp {
        // A clock before 1970 is a broken machine; stamping 0 keeps appends working.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
            })
    }
}
