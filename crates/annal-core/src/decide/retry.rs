//! Whether a batch whose ids are already stored is a harmless retry of the batch that stored
//! them, or a reuse of stored ids.
//!
//! Invariant: a retry answers with the original result and writes nothing; it must match the
//! original exactly (every id, in the same stream, at consecutive versions in batch order,
//! starting where the expected version says), so a retry can never write an id twice.

use crate::batch::PreparedEvent;
use crate::error::AppendError;
use crate::ids::StreamId;
use crate::position::{ExpectedVersion, Position, Version};
use crate::store::AppendResult;

/// Where an already stored event lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEventRef {
    /// Its stream.
    pub stream: StreamId,
    /// Its version.
    pub version: Version,
    /// Its position.
    pub position: Position,
}

/// The verdict on a batch's ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryCheck {
    /// No id is stored: append normally.
    New,
    /// Every id is stored as exactly this batch: return the original result, write nothing.
    AlreadyAppended(AppendResult),
}

/// Classifies `batch` against `stored`: what the backend's id lookup found for each event of
/// the batch, in batch order (empty when the backend knows that none of the ids is stored).
/// `current` is the stream's version, reported when a retry did not start where `expected`
/// says.
///
/// A retry must match the original exactly: every id in `stream`, at consecutive versions in
/// batch order, starting where `expected` says the batch went. Anything else that reuses a stored
/// id is a [`AppendError::DuplicateEventId`].
pub fn check_retry(
    stream: &StreamId,
    expected: ExpectedVersion,
    current: Version,
    batch: &[PreparedEvent],
    stored: &[Option<StoredEventRef>],
) -> Result<RetryCheck, AppendError> {
    let Some(first_stored) = stored.iter().position(Option::is_some) else {
        return Ok(RetryCheck::New);
    };
    debug_assert_eq!(
        stored.len(),
        batch.len(),
        "one lookup per event of the batch"
    );
    let duplicate = |index: usize| {
        let stored_in = stored[index]
            .as_ref()
            .map_or_else(|| stream.clone(), |s| s.stream.clone());
        AppendError::DuplicateEventId {
            id: batch[index].id.clone(),
            stored_in,
        }
    };
    let Some(first) = stored[0].as_ref() else {
        return Err(duplicate(first_stored));
    };
    for (index, entry) in stored.iter().enumerate() {
        let in_place = entry.as_ref().is_some_and(|entry| {
            entry.stream == *stream && entry.version.0 == first.version.0 + index as u64
        });
        if !in_place {
            let index = if entry.is_some() { index } else { first_stored };
            return Err(duplicate(index));
        }
    }
    let started_where_expected = match expected {
        ExpectedVersion::Any | ExpectedVersion::StreamExists => true,
        ExpectedVersion::NoStream => first.version == Version(1),
        // Checked: a caller's `Exact(u64::MAX)` names no version a batch can start after.
        ExpectedVersion::Exact(version) => version.checked_next() == Some(first.version),
    };
    if !started_where_expected {
        return Err(AppendError::WrongExpectedVersion {
            stream: stream.clone(),
            expected,
            actual: current,
        });
    }
    let last = stored.last().and_then(Option::as_ref).unwrap_or(first);
    Ok(RetryCheck::AlreadyAppended(AppendResult {
        first_position: first.position,
        last_position: last.position,
        stream_version: last.version,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::batch::prepare_batch;
    use crate::event::NewEvent;
    use crate::ids::{EventId, EventType};
    use crate::limits::Limits;

    fn batch(ids: &[&str]) -> Vec<PreparedEvent> {
        let events = ids
            .iter()
            .map(|id| {
                NewEvent::new(EventType::new("task:created").unwrap(), json!({}))
                    .with_id(EventId::new(*id).unwrap())
            })
            .collect();
        prepare_batch(events, &Limits::default(), 0).unwrap()
    }

    fn at(stream: &str, version: u64, position: u64) -> Option<StoredEventRef> {
        Some(StoredEventRef {
            stream: StreamId::new(stream).unwrap(),
            version: Version(version),
            position: Position(position),
        })
    }

    fn s() -> StreamId {
        StreamId::new("s").unwrap()
    }

    #[test]
    fn nothing_stored_is_new() {
        let batch = batch(&["a", "b"]);
        let any = ExpectedVersion::Any;
        assert_eq!(
            check_retry(&s(), any, Version(3), &batch, &[]).unwrap(),
            RetryCheck::New
        );
        let none = [None, None];
        assert_eq!(
            check_retry(&s(), any, Version(3), &batch, &none).unwrap(),
            RetryCheck::New
        );
    }

    #[test]
    fn an_exact_retry_answers_with_the_original_result() {
        let batch = batch(&["a", "b"]);
        let stored = [at("s", 4, 10), at("s", 5, 12)];
        for expected in [
            ExpectedVersion::Any,
            ExpectedVersion::StreamExists,
            ExpectedVersion::Exact(Version(3)),
        ] {
            let verdict = check_retry(&s(), expected, Version(9), &batch, &stored).unwrap();
            let original = AppendResult {
                first_position: Position(10),
                last_position: Position(12),
                stream_version: Version(5),
            };
            assert_eq!(verdict, RetryCheck::AlreadyAppended(original));
        }
        let first = [at("s", 1, 1), at("s", 2, 2)];
        let verdict = check_retry(&s(), ExpectedVersion::NoStream, Version(2), &batch, &first);
        assert!(
            matches!(verdict, Ok(RetryCheck::AlreadyAppended(_))),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_partly_stored_batch_names_the_first_stored_id() {
        let batch = batch(&["a", "b", "c"]);
        let stored = [None, at("s", 2, 2), None];
        let error = check_retry(&s(), ExpectedVersion::Any, Version(2), &batch, &stored);
        assert!(
            matches!(&error, Err(AppendError::DuplicateEventId { id, .. }) if id.as_str() == "b"),
            "{error:?}"
        );
        let stored = [at("s", 1, 1), at("s", 2, 2), None];
        let error = check_retry(&s(), ExpectedVersion::Any, Version(2), &batch, &stored);
        assert!(
            matches!(&error, Err(AppendError::DuplicateEventId { id, .. }) if id.as_str() == "a"),
            "{error:?}"
        );
    }

    #[test]
    fn ids_stored_elsewhere_or_out_of_order_are_duplicates() {
        let batch = batch(&["a", "b"]);
        let elsewhere = [at("s", 1, 1), at("t", 2, 2)];
        let error = check_retry(&s(), ExpectedVersion::Any, Version(2), &batch, &elsewhere);
        assert!(
            matches!(&error, Err(AppendError::DuplicateEventId { id, stored_in })
                if id.as_str() == "b" && stored_in.as_str() == "t"),
            "{error:?}"
        );
        let swapped = [at("s", 2, 2), at("s", 1, 1)];
        let error = check_retry(&s(), ExpectedVersion::Any, Version(2), &batch, &swapped);
        assert!(
            matches!(error, Err(AppendError::DuplicateEventId { .. })),
            "{error:?}"
        );
    }

    #[test]
    fn a_retry_not_where_expected_is_a_wrong_expected_version() {
        let batch = batch(&["a"]);
        let stored = [at("s", 2, 2)];
        for expected in [
            ExpectedVersion::NoStream,
            ExpectedVersion::Exact(Version(2)),
        ] {
            let verdict = check_retry(&s(), expected, Version(2), &batch, &stored);
            assert!(
                matches!(
                    verdict,
                    Err(AppendError::WrongExpectedVersion {
                        actual: Version(2),
                        ..
                    })
                ),
                "{verdict:?}"
            );
        }
    }

    #[test]
    fn a_retry_expecting_the_largest_version_is_a_wrong_expected_version() {
        let batch = batch(&["a"]);
        let stored = [at("s", 1, 1)];
        let expected = ExpectedVersion::Exact(Version(u64::MAX));
        let verdict = check_retry(&s(), expected, Version(1), &batch, &stored);
        assert!(
            matches!(verdict, Err(AppendError::WrongExpectedVersion { .. })),
            "{verdict:?}"
        );
    }
}
