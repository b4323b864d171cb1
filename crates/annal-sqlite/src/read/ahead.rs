//! [`read_ahead`]: a long read whose next page is fetched while the caller consumes this one.
//!
//! A log replay or a query spends its time in two places: decoding rows on a blocking thread
//! and consuming events on the caller's task. Fetching page by page on demand runs them in
//! turn; starting the next page's fetch as soon as the previous page arrives runs them at the
//! same time, on two cores when there are two. At most one page is fetched ahead, so memory
//! stays bounded by two pages. Each page is still its own short read transaction.

use std::sync::Arc;

use annal_core::backend::paged;
use annal_core::{EventStream, ReadError, RecordedEvent};
use rusqlite::Connection;
use tokio::task::JoinHandle;

use super::{Names, Readers, joined};

/// A page of events and the cursor of the page after it (`None` when this was the last).
pub(crate) type AheadPage<C> = Option<(Vec<RecordedEvent>, Option<C>)>;

/// Fetches the page at a cursor.
pub(crate) trait FetchPage<C>:
    Fn(&Connection, &mut Names, C) -> Result<AheadPage<C>, ReadError> + Send + Sync + 'static
{
}

impl<C, F> FetchPage<C> for F where
    F: Fn(&Connection, &mut Names, C) -> Result<AheadPage<C>, ReadError> + Send + Sync + 'static
{
}

/// Starts page fetches on the readers' blocking threads.
struct Pager<C, F> {
    readers: Arc<Readers>,
    fetch: Arc<F>,
    cursor: std::marker::PhantomData<fn(C)>,
}

impl<C, F> Clone for Pager<C, F> {
    fn clone(&self) -> Self {
        Self {
            readers: Arc::clone(&self.readers),
            fetch: Arc::clone(&self.fetch),
            cursor: std::marker::PhantomData,
        }
    }
}

impl<C: Send + 'static, F: FetchPage<C>> Pager<C, F> {
    fn start(&self, cursor: C) -> JoinHandle<Result<AheadPage<C>, ReadError>> {
        let fetch = Arc::clone(&self.fetch);
        self.readers
            .start_with_names(move |connection, names| fetch(connection, names, cursor))
    }
}

/// Streams the pages `fetch` returns from `start` on, each fetch started as soon as the page
/// before it has arrived. The first fetch starts now.
pub(crate) fn read_ahead<C, F>(readers: &Arc<Readers>, start: C, fetch: F) -> EventStream
where
    C: Send + 'static,
    F: FetchPage<C>,
{
    let pager = Pager {
        readers: Arc::clone(readers),
        fetch: Arc::new(fetch),
        cursor: std::marker::PhantomData,
    };
    let first = pager.start(start);
    paged(Some(first), move |pending| {
        let pager = pager.clone();
        async move {
            let Some(pending) = pending else {
                return Ok(None);
            };
            let Some((events, next)) = joined(pending).await? else {
                return Ok(None);
            };
            Ok(Some((events, next.map(|cursor| pager.start(cursor)))))
        }
    })
}
