//! Turning a backend's page-at-a-time reads into one [`EventStream`].
//!
//! A backend supplies a cursor and a function that fetches the page after it; memory stays
//! bounded by one page, however long the read. [`stream_pages`] is that cursor for a stream
//! read by version, for backends whose page query takes a version bound and a size.

use std::future::{Future, ready};

use futures::StreamExt;
use futures::stream;

use crate::error::ReadError;
use crate::event::RecordedEvent;
use crate::filter::Direction;
use crate::position::Version;
use crate::store::{EventStream, ReadStreamOptions};

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

/// One page of a stream read: the events at `bound` and beyond it in `direction`, at most
/// `events` of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamPage {
    /// Which way the read goes.
    pub direction: Direction,
    /// The first version the page may hold (the last, reading backward).
    pub bound: Version,
    /// Most events in the page.
    pub events: usize,
}

/// Where a stream read stands between two pages.
#[derive(Clone, Copy)]
struct StreamCursor {
    bound: Version,
    /// Events the caller's limit still allows.
    remaining: Option<u64>,
}

/// Reads a stream as `options` say, page by page: `fetch` answers the events of one
/// [`StreamPage`], in the read's direction. The limit bounds the page sizes, so no page reads
/// more than the caller takes, and a short page ends the read without an empty round trip.
pub fn stream_pages<F, Fut>(options: ReadStreamOptions, mut fetch: F) -> EventStream
where
    F: FnMut(StreamPage) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<RecordedEvent>, ReadError>> + Send + 'static,
{
    let direction = options.direction;
    let bound = match direction {
        Direction::Forward => options.from.unwrap_or(Version(1)),
        Direction::Backward => options.from.unwrap_or(Version(u64::MAX)),
    };
    let start = StreamCursor {
        bound,
        remaining: options.limit,
    };
    paged(start, move |cursor: StreamCursor| {
        let events = cursor
            .remaining
            .map_or(PAGE_EVENTS as u64, |r| r.min(PAGE_EVENTS as u64))
            as usize;
        let done = events == 0 || (direction == Direction::Backward && cursor.bound == Version(0));
        let page = (!done).then(|| {
            fetch(StreamPage {
                direction,
                bound: cursor.bound,
                events,
            })
        });
        async move {
            let Some(page) = page else {
                return Ok(None);
            };
            let page = page.await?;
            Ok(next_stream_cursor(direction, cursor, events, &page).map(|next| (page, next)))
        }
    })
}

/// The cursor after `page`, which was asked for `asked` events; `None` once the read is over.
fn next_stream_cursor(
    direction: Direction,
    cursor: StreamCursor,
    asked: usize,
    page: &[RecordedEvent],
) -> Option<StreamCursor> {
    let last = page.last()?;
    let bound = match direction {
        Direction::Forward => last.version.next(),
        Direction::Backward => Version(last.version.0.saturating_sub(1)),
    };
    // A short page is the last one; ending here saves an empty round trip.
    let remaining = if page.len() < asked {
        Some(0)
    } else {
        cursor
            .remaining
            .map(|remaining| remaining - page.len() as u64)
    };
    Some(StreamCursor { bound, remaining })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use crate::event::RecordedEvent;
    use crate::ids::{AggregateType, EventId, EventType, StreamId};
    use crate::position::Position;
    use crate::raw_object::RawObject;
    use crate::store::collect;

    use super::*;

    fn event(version: u64) -> RecordedEvent {
        RecordedEvent {
            id: EventId::new(format!("e-{version}")).unwrap(),
            event_type: EventType::new("a:b").unwrap(),
            aggregate_id: StreamId::new("s").unwrap(),
            aggregate_type: AggregateType::new("a").unwrap(),
            version: Version(version),
            position: Position(version),
            timestamp: 0,
            source: String::new(),
            payload: RawObject::empty(),
            metadata: RawObject::empty(),
            causation_id: None,
            correlation_id: None,
        }
    }

    /// A stream of versions 1..=n read through `stream_pages`; answers the versions read and
    /// the pages asked for.
    fn read(n: u64, options: ReadStreamOptions) -> (Vec<u64>, Vec<StreamPage>) {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        let events = stream_pages(options, move |page: StreamPage| {
            log.lock().unwrap().push(page);
            let versions: Vec<u64> = match page.direction {
                Direction::Forward => (page.bound.0..=n).take(page.events).collect(),
                Direction::Backward => (1..=page.bound.0.min(n)).rev().take(page.events).collect(),
            };
            ready(Ok(versions.into_iter().map(event).collect()))
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let events = runtime.block_on(collect(events)).unwrap();
        let versions = events.iter().map(|event| event.version.0).collect();
        let asked = asked.lock().unwrap().clone();
        (versions, asked)
    }

    #[test]
    fn a_forward_read_pages_to_the_end_and_stops_at_a_short_page() {
        let n = PAGE_EVENTS as u64 + 3;
        let (versions, asked) = read(n, ReadStreamOptions::forward());
        assert_eq!(versions, (1..=n).collect::<Vec<_>>());
        assert_eq!(asked.len(), 2, "the short second page ends the read");
        assert_eq!(asked[1].bound, Version(PAGE_EVENTS as u64 + 1));
    }

    #[test]
    fn a_backward_read_with_a_limit_asks_for_no_more_than_it_takes() {
        let mut options = ReadStreamOptions::backward();
        options.limit = Some(2);
        let (versions, asked) = read(10, options);
        assert_eq!(versions, vec![10, 9]);
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].events, 2);
        assert_eq!(asked[0].bound, Version(u64::MAX));
    }

    #[test]
    fn a_backward_read_ends_at_version_one() {
        let (versions, _) = read(3, ReadStreamOptions::backward());
        assert_eq!(versions, vec![3, 2, 1]);
    }
}
