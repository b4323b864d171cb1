//! Turning a backend's page-at-a-time reads into one [`EventStream`].
//!
//! A backend supplies a cursor and a function that fetches the page after it; memory stays
//! bounded by one page, however long the read.

use std::future::{Future, ready};

use futures::StreamExt;
use futures::stream;

use crate::error::ReadError;
use crate::event::RecordedEvent;
use crate::store::EventStream;

/// How many events a backend fetches per page unless it has a reason to differ.
pub const PAGE_EVENTS: usize = 512;

/// A page of events and the cursor to fetch the next one from; `None` ends the read.
pub type Page<C> = Option<(Vec<RecordedEvent>, C)>;

/// Streams the pages `fetch` returns, starting from `cursor`, until it returns `None` or an
/// error (an error is delivered and ends the stream).
pub fn paged<C, F, Fut>(cursor: C, fetch: F) -> EventStream
where
    C: Send + 'static,
    F: FnMut(C) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Page<C>, ReadError>> + Send + 'static,
{
    let pages = stream::unfold((Some(cursor), fetch), |(cursor, mut fetch)| async move {
        let cursor = cursor?;
        match fetch(cursor).await {
            Ok(Some((events, next))) => Some((Ok(events), (Some(next), fetch))),
            Ok(None) => None,
            Err(error) => Some((Err(error), (None, fetch))),
        }
    });
    pages
        .flat_map(|page| match page {
            Ok(events) => stream::iter(events.into_iter().map(Ok)).left_stream(),
            Err(error) => stream::once(ready(Err(error))).right_stream(),
        })
        .boxed()
}
