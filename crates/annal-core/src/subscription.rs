//! Subscriptions for any backend: history, then live events, built from `read_all` and a
//! watch channel that carries the newest committed position.
//!
//! Invariant: events are delivered in strictly increasing position, each once. The follower
//! never holds events in a buffer that can overflow: when it is behind it reads from the store,
//! so a slow consumer is late but never loses events.

use futures::StreamExt;
use futures::stream;
use tokio::sync::watch;

use crate::error::ReadError;
use crate::event::RecordedEvent;
use crate::filter::{Direction, Filter, InvalidFilter};
use crate::position::Position;
use crate::store::{EventStream, Store};

/// Follows `store` from `from` (inclusive), delivering the events `filter` selects.
///
/// `head` must carry the newest committed position, and the backend must publish a position
/// only once the events up to it are readable through `read_all`. The filter's `offset` skips
/// that many matching events, and its `limit` ends the subscription after that many.
pub fn follow<S>(
    store: S,
    head: watch::Receiver<Position>,
    from: Position,
    filter: Filter,
) -> Result<EventStream, ReadError>
where
    S: Store + Clone,
{
    filter.validate()?;
    if filter.direction == Direction::Backward {
        return Err(InvalidFilter::BackwardSubscription.into());
    }
    let state = Follower {
        store,
        head,
        next: from.max(Position(1)),
        to_skip: filter.offset,
        remaining: filter.limit,
        filter,
        page: None,
        done: false,
    };
    Ok(stream::unfold(state, Follower::step).boxed())
}

struct Follower<S> {
    store: S,
    head: watch::Receiver<Position>,
    /// The lowest position not yet looked at.
    next: Position,
    filter: Filter,
    to_skip: u64,
    remaining: Option<u64>,
    page: Option<EventStream>,
    done: bool,
}

impl<S: Store> Follower<S> {
    async fn step(mut self) -> Option<(Result<RecordedEvent, ReadError>, Self)> {
        loop {
            if self.done || self.remaining == Some(0) {
                return None;
            }
            if let Some(page) = self.page.as_mut() {
                match page.next().await {
                    Some(Ok(event)) => {
                        if let Some(event) = self.accept(event) {
                            return Some((Ok(event), self));
                        }
                        continue;
                    }
                    Some(Err(error)) => {
                        self.done = true;
                        return Some((Err(error), self));
                    }
                    None => self.page = None,
                }
            }
            // Mark the head as seen before reading, so a commit that lands during the read
            // wakes the next wait instead of being missed.
            let head = *self.head.borrow_and_update();
            if head >= self.next {
                match self.store.read_all(self.next).await {
                    Ok(page) => self.page = Some(page),
                    Err(error) => {
                        self.done = true;
                        return Some((Err(error), self));
                    }
                }
            } else if self.head.changed().await.is_err() {
                return None;
            }
        }
    }

    fn accept(&mut self, event: RecordedEvent) -> Option<RecordedEvent> {
        // A backend's read_all never goes back (asserted, so the conformance suite catches a
        // backend that does), and a repeated position would break the exactly-once promise, so
        // a release build drops it here rather than delivering it.
        debug_assert!(
            event.position >= self.next,
            "read_all went back: position {} after reading up to {}",
            event.position,
            self.next
        );
        if event.position < self.next {
            return None;
        }
        self.next = event.position.next();
        if !self.filter.matches(&event) {
            return None;
        }
        if self.to_skip > 0 {
            self.to_skip -= 1;
            return None;
        }
        if let Some(remaining) = self.remaining.as_mut() {
            *remaining -= 1;
        }
        Some(event)
    }
}
