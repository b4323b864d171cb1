//! [`read_ranges`]: a read of the log as consecutive ranges of positions, several fetched at
//! once on different reader connections.
//!
//! [`super::read_ahead`] overlaps one fetch with the caller's consuming, because a page's cursor
//! is only known once the page before it arrived. A log read's cursor is a position, and the
//! ranges after it are known in advance, so several can be fetched at the same time: decoding
//! rows, the larger part of a replay, then runs on every core instead of one.
//!
//! Invariant (why nothing is skipped): each range is read in its own read snapshots, and they may
//! be older or newer than those of other ranges. Positions are assigned in commit order without
//! gaps, so in any read snapshot the stored positions are a prefix of the log less the removed
//! events. A fetch reads the log's last position first and the range after it (the range's read
//! snapshot is the same or newer), so when that last position reaches the end of the range, the
//! range came back with every event it will ever hold. When it does not, the range holds the end of
//! the log and the read ends with it; everything committed before the read began is at or below
//! that end, because the fetch started after the read did. An empty range inside the log is a
//! stretch of removed events, and the read jumps to the first stored position after it.

use std::collections::VecDeque;
use std::sync::Arc;

use annal_core::{EventStream, Position, ReadError, RecordedEvent};
use futures::{StreamExt, stream};
use rusqlite::Connection;
use tokio::task::JoinHandle;

use super::{Names, Readers, joined};

/// Ranges fetched at once: the caller folds one range while the readers decode the next ones,
/// and on two cores each range more in flight measured faster up to three (figures in
/// `BENCHMARKS.md`, "Figures behind constants in the code"); each range in flight holds at most
/// one page of events in memory.
const RANGES_IN_FLIGHT: usize = 3;

/// What a fetch of the range `first..=last` found.
#[derive(Debug)]
pub(crate) struct RangePage {
    /// The range's events, in position order.
    pub(crate) events: Vec<RecordedEvent>,
    /// Where the read goes on: `last + 1`, or the first stored position after an empty range;
    /// `None` when the log ends in this range.
    pub(crate) next: Option<Position>,
}

/// Fetches the events at positions `first..=last`.
pub(crate) trait FetchRange:
    Fn(&Connection, &mut Names, Position, Position) -> Result<RangePage, ReadError>
    + Send
    + Sync
    + 'static
{
}

impl<F> FetchRange for F where
    F: Fn(&Connection, &mut Names, Position, Position) -> Result<RangePage, ReadError>
        + Send
        + Sync
        + 'static
{
}

/// The largest position the log can hold.
const POSITION_MAX: u64 = i64::MAX as u64;

type Pending = JoinHandle<Result<RangePage, ReadError>>;

/// The fetches under way, oldest first, and the next range to start.
struct InFlight<F> {
    readers: Arc<Readers>,
    fetch: Arc<F>,
    span: u64,
    pending: VecDeque<(Position, Pending)>,
    next_first: Position,
    /// A fetch found the end of the log.
    ended: bool,
}

impl<F: FetchRange> InFlight<F> {
    fn fill(&mut self) {
        while self.pending.len() < RANGES_IN_FLIGHT {
            let first = self.next_first;
            // Positions are SQLite integers: a range above the largest one is empty, and not
            // starting it keeps `last` and the range after it from overflowing.
            if first.0 > POSITION_MAX {
                break;
            }
            let last = Position(first.0.saturating_add(self.span - 1));
            let fetch = Arc::clone(&self.fetch);
            let handle = self
                .readers
                .start_with_names(move |connection, names| fetch(connection, names, first, last));
            self.pending.push_back((first, handle));
            self.next_first = last.next();
        }
    }

    /// Awaits the oldest range; `Ok(None)` once the log has ended.
    async fn next_page(&mut self) -> Result<Option<Vec<RecordedEvent>>, ReadError> {
        self.fill();
        let Some((_, handle)) = self.pending.pop_front() else {
            return Ok(None);
        };
        let page = joined(handle).await?;
        match page.next {
            None => {
                self.pending.clear();
                self.ended = true;
            }
            Some(next) => {
                let expected = self
                    .pending
                    .front()
                    .map_or(self.next_first, |(first, _)| *first);
                if next != expected {
                    // A jump over removed events: the ranges under way lie inside the gap.
                    self.pending.clear();
                    self.next_first = next;
                }
            }
        }
        Ok(Some(page.events))
    }
}

/// Streams the log from `from` on in ranges of `span` positions, fetched by `fetch`, with
/// [`RANGES_IN_FLIGHT`] ranges under way at once. The first fetches start now.
pub(crate) fn read_ranges<F: FetchRange>(
    readers: &Arc<Readers>,
    from: Position,
    span: u64,
    fetch: F,
) -> EventStream {
    let mut in_flight = InFlight {
        readers: Arc::clone(readers),
        fetch: Arc::new(fetch),
        span: span.max(1),
        pending: VecDeque::new(),
        next_first: from,
        ended: false,
    };
    in_flight.fill();
    let pages = stream::unfold(Some(in_flight), |state| async move {
        let mut in_flight = state?;
        match in_flight.next_page().await {
            Ok(Some(events)) => {
                let more = !in_flight.ended;
                Some((Ok(events), more.then_some(in_flight)))
            }
            Ok(None) => None,
            Err(error) => Some((Err(error), None)),
        }
    });
    pages
        .flat_map(|page| match page {
            Ok(events) => stream::iter(events.into_iter().map(Ok)).left_stream(),
            Err(error) => stream::once(std::future::ready(Err(error))).right_stream(),
        })
        .boxed()
}
