//! Events the writer handed back after appending them, kept until the next append frees them
//! while it waits for its own commit.
//!
//! Freeing a batch's events takes a fraction of a millisecond per thousand (their ids, names and
//! JSON texts). Done on the writer it contended with the callers for the allocator; done by the
//! caller right after the answer it delayed every return from `append`. An append that has sent
//! its batch has nothing to do until the writer answers, so it frees the previous batch's events
//! then. At most one answer's events wait here, and only up to [`KEPT_BYTES_MAX`] of JSON text:
//! a larger batch is freed at once, so that a store that took one huge batch and then only reads
//! does not hold it.

use std::sync::Mutex;

use annal_core::backend::PreparedEvent;

/// Bytes of JSON text (payloads and metadata) that may wait here; beyond it, events are freed
/// when their answer arrives.
const KEPT_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The events of the last answered append, waiting to be freed.
#[derive(Debug, Default)]
pub(crate) struct SpentEvents {
    waiting: Mutex<Vec<Vec<PreparedEvent>>>,
}

impl SpentEvents {
    /// Frees the events waiting here.
    pub(crate) fn free(&self) {
        let spent = std::mem::take(&mut *self.lock());
        drop(spent);
    }

    /// Keeps `events` for the next append to free; events still waiting are freed now, and so
    /// are `events` themselves when they hold more than [`KEPT_BYTES_MAX`] of JSON text.
    pub(crate) fn keep(&self, events: Vec<Vec<PreparedEvent>>) {
        let bytes: usize = events
            .iter()
            .flatten()
            .map(|event| event.payload_json.len() + event.metadata_json.len())
            .sum();
        if bytes > KEPT_BYTES_MAX {
            drop(events);
            return;
        }
        let displaced = std::mem::replace(&mut *self.lock(), events);
        drop(displaced);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<PreparedEvent>>> {
        // The list holds no invariant a panic could break: a poisoned lock is still usable.
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use annal_core::backend::prepare_batch;
    use annal_core::{EventType, Limits, NewEvent};
    use serde_json::json;

    use super::*;

    fn batch(n: usize) -> Vec<PreparedEvent> {
        let events = (0..n)
            .map(|i| NewEvent::new(EventType::new("agent:step").unwrap(), json!({ "i": i })))
            .collect();
        prepare_batch(events, &Limits::default(), 0).unwrap()
    }

    fn waiting(spent: &SpentEvents) -> usize {
        spent.lock().iter().map(Vec::len).sum()
    }

    #[test]
    fn a_batch_of_more_json_than_the_bound_is_freed_at_once() {
        let spent = SpentEvents::default();
        spent.keep(vec![batch(2)]);
        let text = "x".repeat(KEPT_BYTES_MAX / 8);
        let events = (0..9)
            .map(|_| NewEvent::new(EventType::new("agent:step").unwrap(), json!({ "t": text })))
            .collect();
        let large = prepare_batch(events, &Limits::default(), 0).unwrap();
        spent.keep(vec![large]);
        assert_eq!(
            waiting(&spent),
            2,
            "the large batch did not displace the small one"
        );
    }

    #[test]
    fn one_answer_waits_at_most_and_free_empties_it() {
        let spent = SpentEvents::default();
        spent.keep(vec![batch(3), batch(2)]);
        assert_eq!(waiting(&spent), 5);
        spent.keep(vec![batch(4)]);
        assert_eq!(waiting(&spent), 4, "the older answer's events were freed");
        spent.free();
        assert_eq!(waiting(&spent), 0);
    }
}
