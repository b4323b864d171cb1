//! How a backend hands stores to the suite: a [`Harness`] per test, or a [`Reopen`] for the
//! rules that need to close a store and open it again (durability, read-only followers).

use std::any::Any;
use std::sync::Arc;

use annal_core::Store;
use futures::future::BoxFuture;

/// A fresh, empty store for one test, plus whatever must live as long as it (a temp dir).
pub struct Harness {
    /// The store under test.
    pub store: Arc<dyn Store>,
    _keep: Option<Box<dyn Any + Send + Sync>>,
}

impl Harness {
    /// A harness around `store`.
    pub fn new(store: impl Store) -> Self {
        Self {
            store: Arc::new(store),
            _keep: None,
        }
    }

    /// Keeps `guard` alive until the test ends.
    pub fn keeping(mut self, guard: impl Any + Send + Sync) -> Self {
        self._keep = Some(Box::new(guard));
        self
    }
}

/// A store location that can be opened, closed and opened again, for backends with a disk.
///
/// The suite drops every handle it got from [`Reopen::open`] before it opens the location again.
pub trait Reopen: Send + Sync + 'static {
    /// Opens the store for writing.
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>>;
    /// Opens the store read-only while a writer may hold it.
    fn open_read_only(&self) -> BoxFuture<'_, Arc<dyn Store>>;
}
