//! [`PostgresOptions`]: how a [`PostgresStore`](crate::PostgresStore) connects and behaves.

use std::sync::Arc;
use std::time::Duration;

use annal_core::{Clock, Limits, SystemClock};

use crate::tls::TlsOptions;

/// Options for [`PostgresStore::connect_with`](crate::PostgresStore::connect_with).
#[derive(Clone)]
pub struct PostgresOptions {
    /// Most pooled connections (reads, and the writer's one at a time). The listener's
    /// connection is extra.
    pub pool_size: usize,
    /// The limits every append is checked against.
    pub limits: Limits,
    /// Stamps events appended without a timestamp.
    pub clock: Arc<dyn Clock>,
    /// How often the head is read when no notification arrives: the backstop for a lost
    /// notification, never the normal path.
    pub poll_interval: Duration,
    /// Read without ever writing: the schema must already exist at this build's version (it is
    /// neither created nor migrated), no writer task runs, and every write fails with
    /// [`StorageError::ReadOnly`](annal_core::StorageError::ReadOnly).
    pub read_only: bool,
    /// TLS for every connection. `None` takes the configuration's `sslmode` (`disable`,
    /// `prefer` or `require`) without a root certificate; [`parse_connection_string`] gives the
    /// settings of a connection string, `verify-ca` and `verify-full` included.
    ///
    /// [`parse_connection_string`]: crate::parse_connection_string
    pub tls: Option<TlsOptions>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 8,
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
            poll_interval: Duration::from_secs(1),
            read_only: false,
            tls: None,
        }
    }
}

impl PostgresOptions {
    /// The default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the pool size (at least 1).
    pub fn pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size.max(1);
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Opens the store for reading only (see [`PostgresOptions::read_only`]).
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Sets the TLS settings (see [`PostgresOptions::tls`]).
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the fallback poll interval.
    pub fn poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("pool_size", &self.pool_size)
            .field("limits", &self.limits)
            .field("poll_interval", &self.poll_interval)
            .field("read_only", &self.read_only)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}
