//! Checking an append at the boundary, the same way in every backend.
//!
//! [`prepare_batch`] validates a batch against the [`Limits`] and completes each event's
//! defaults, so a backend only writes events that are already known to be valid;
//! [`BatchPreparer`] does the same one part of a batch at a time.
//! [`check_retry`] decides whether a batch whose ids are already stored is a harmless retry.

use std::collections::HashSet;

use serde_json::Value;

use crate::error::{AppendError, InvalidEvent, json_kind};
use crate::event::{NewEvent, RecordedEvent, Timestamp};
use crate::ids::{AggregateType, EventId, EventType, StreamId};
use crate::limits::Limits;
use crate::position::{ExpectedVersion, Position, Version};
use crate::raw_object::RawObject;
use crate::store::AppendResult;

/// An event that passed validation, with every default filled in, waiting for its version and
/// position.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedEvent {
    /// Caller's or generated id.
    pub id: EventId,
    /// The event type.
    pub event_type: EventType,
    /// Caller's or derived from the type.
    pub aggregate_type: AggregateType,
    /// Caller's or the store's clock.
    pub timestamp: Timestamp,
    /// Who emitted it.
    pub source: String,
    /// The payload object as compact JSON, measured once: what every backend stores. The
    /// caller's `Value` tree is dropped once it is serialized.
    pub payload_json: String,
    /// The metadata object as compact JSON (`{}` when none was given).
    pub metadata_json: String,
    /// What caused it.
    pub causation_id: Option<String>,
    /// Which run it belongs to.
    pub correlation_id: Option<String>,
}

impl PreparedEvent {
    /// What this event counts against [`Limits::batch_bytes_max`]: payload and metadata as
    /// compact JSON plus every text field.
    pub fn bytes(&self) -> usize {
        let texts = [
            self.id.as_str().len(),
            self.event_type.as_str().len(),
            self.aggregate_type.as_str().len(),
            self.source.len(),
            self.causation_id.as_ref().map_or(0, String::len),
            self.correlation_id.as_ref().map_or(0, String::len),
        ];
        self.payload_json.len() + self.metadata_json.len() + texts.iter().sum::<usize>()
    }

    /// The stored form of this event at `version` and `position` in `stream`.
    pub fn record(&self, stream: &StreamId, version: Version, position: Position) -> RecordedEvent {
        RecordedEvent {
            id: self.id.clone(),
            event_type: self.event_type.clone(),
            aggregate_id: stream.clone(),
            aggregate_type: self.aggregate_type.clone(),
            version,
            position,
            timestamp: self.timestamp,
            source: self.source.clone(),
            payload: RawObject::from_serialized(self.payload_json.clone()),
            metadata: RawObject::from_serialized(self.metadata_json.clone()),
            causation_id: self.causation_id.clone(),
            correlation_id: self.correlation_id.clone(),
        }
    }
}

/// Validates `events` and fills their defaults; `now` stamps events without a timestamp.
pub fn prepare_batch(
    events: Vec<NewEvent>,
    limits: &Limits,
    now: Timestamp,
) -> Result<Vec<PreparedEvent>, AppendError> {
    BatchPreparer::new(events.len(), limits, now)?.prepare(events)
}

/// [`prepare_batch`] one part at a time, for a backend that starts writing a large batch while
/// its later events are still being checked. The parts, prepared in order, give exactly the
/// events and errors (with their indexes in the whole batch) that `prepare_batch` gives the
/// whole; ids are checked for duplicates across all parts.
#[derive(Debug)]
pub struct BatchPreparer<'a> {
    limits: &'a Limits,
    now: Timestamp,
    /// A set, not a scan of the earlier events: a scan is quadratic, which at the default batch
    /// limit of 10,000 events costs 50 million id comparisons per append.
    seen: HashSet<EventId>,
    /// Events prepared so far: the index of the next one in the whole batch.
    prepared: usize,
    /// Bytes of the events prepared so far, as [`Limits::batch_bytes_max`] counts them.
    bytes: usize,
}

impl<'a> BatchPreparer<'a> {
    /// A preparer for a batch of `len` events; refuses an empty or too large batch at once.
    pub fn new(len: usize, limits: &'a Limits, now: Timestamp) -> Result<Self, AppendError> {
        if len == 0 {
            return Err(AppendError::EmptyBatch);
        }
        if len > limits.batch_events_max {
            return Err(AppendError::BatchTooLarge {
                len,
                max: limits.batch_events_max,
            });
        }
        Ok(Self {
            limits,
            now,
            seen: HashSet::with_capacity(len),
            prepared: 0,
            bytes: 0,
        })
    }

    /// Validates the next part of the batch and fills its defaults.
    pub fn prepare(&mut self, events: Vec<NewEvent>) -> Result<Vec<PreparedEvent>, AppendError> {
        let mut prepared: Vec<PreparedEvent> = Vec::with_capacity(events.len());
        for event in events {
            let index = self.prepared;
            let event = prepare_event(event, self.limits, self.now)
                .map_err(|reason| AppendError::InvalidEvent { index, reason })?;
            if !self.seen.insert(event.id.clone()) {
                let reason = InvalidEvent::DuplicateInBatch { id: event.id };
                return Err(AppendError::InvalidEvent { index, reason });
            }
            self.bytes = self.bytes.saturating_add(event.bytes());
            if self.bytes > self.limits.batch_bytes_max {
                let max = self.limits.batch_bytes_max;
                return Err(AppendError::BatchBytesTooLarge { index, max });
            }
            prepared.push(event);
            self.prepared += 1;
        }
        Ok(prepared)
    }
}

fn prepare_event(
    event: NewEvent,
    limits: &Limits,
    now: Timestamp,
) -> Result<PreparedEvent, InvalidEvent> {
    if !event.payload.is_object() {
        return Err(InvalidEvent::PayloadNotObject {
            found: json_kind(&event.payload),
        });
    }
    if let Some(metadata) = &event.metadata
        && !metadata.is_object()
    {
        return Err(InvalidEvent::MetadataNotObject {
            found: json_kind(metadata),
        });
    }
    let payload_json = compact_json(&event.payload);
    if payload_json.len() > limits.payload_bytes_max {
        let max = limits.payload_bytes_max;
        return Err(InvalidEvent::PayloadTooLarge {
            bytes: payload_json.len(),
            max,
        });
    }
    let metadata_json = match &event.metadata {
        Some(metadata) => compact_json(metadata),
        None => "{}".to_owned(),
    };
    if metadata_json.len() > limits.metadata_bytes_max {
        let max = limits.metadata_bytes_max;
        return Err(InvalidEvent::MetadataTooLarge {
            bytes: metadata_json.len(),
            max,
        });
    }
    check_text("source", Some(&event.source), limits)?;
    check_text("causation id", event.causation_id.as_ref(), limits)?;
    check_text("correlation id", event.correlation_id.as_ref(), limits)?;
    let aggregate_type = match event.aggregate_type {
        Some(aggregate_type) => aggregate_type,
        // The domain of a valid event type is no longer than it and free of control
        // characters, so the only refusal left is an empty domain (`:x`).
        None => AggregateType::new(event.event_type.domain()).map_err(|_| {
            InvalidEvent::NoAggregateType {
                event_type: event.event_type.clone(),
            }
        })?,
    };
    Ok(PreparedEvent {
        id: event.id.unwrap_or_else(EventId::generate),
        event_type: event.event_type,
        aggregate_type,
        timestamp: event.timestamp.unwrap_or(now),
        source: event.source,
        payload_json,
        metadata_json,
        causation_id: event.causation_id,
        correlation_id: event.correlation_id,
    })
}

/// `value` as compact JSON (the same text as `Value::to_string`). Serializes straight into a
/// byte buffer sized for a typical payload: going through `fmt::Display` and its formatter
/// adapter measured twice as slow (figures in `BENCHMARKS.md`, "Figures behind constants in
/// the code").
fn compact_json(value: &Value) -> String {
    let mut bytes = Vec::with_capacity(512);
    match serde_json::to_writer(&mut bytes, value) {
        // serde_json writes UTF-8 only, so the conversion cannot fail either.
        Ok(()) => String::from_utf8(bytes).unwrap_or_else(|_| value.to_string()),
        // A `Value` always serializes (its keys are strings, its numbers finite); should that
        // ever change, the slower path gives the same text.
        Err(_) => value.to_string(),
    }
}

fn check_text(
    field: &'static str,
    value: Option<&String>,
    limits: &Limits,
) -> Result<(), InvalidEvent> {
    match value {
        Some(text) if text.len() > limits.text_bytes_max => Err(InvalidEvent::TextTooLong {
            field,
            bytes: text.len(),
            max: limits.text_bytes_max,
        }),
        Some(text) if text.contains('\0') => Err(InvalidEvent::NulInText { field }),
        _ => Ok(()),
    }
}

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

/// Classifies `batch` against what is stored, using `lookup` to find an id's event.
///
/// A retry must match the original exactly: every id in `stream`, at consecutive versions in
/// batch order, starting where `expected` says the batch went. Anything else that reuses a stored
/// id is a [`AppendError::DuplicateEventId`].
pub fn check_retry(
    stream: &StreamId,
    expected: ExpectedVersion,
    current: Version,
    batch: &[PreparedEvent],
    mut lookup: impl FnMut(&EventId) -> Option<StoredEventRef>,
) -> Result<RetryCheck, AppendError> {
    let stored: Vec<Option<StoredEventRef>> = batch.iter().map(|event| lookup(&event.id)).collect();
    let Some(first_stored) = stored.iter().position(Option::is_some) else {
        return Ok(RetryCheck::New);
    };
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

    fn event(id: &str) -> NewEvent {
        NewEvent::new(EventType::new("task:created").unwrap(), json!({"n": 1}))
            .with_id(EventId::new(id).unwrap())
    }

    #[test]
    fn fills_defaults() {
        let batch = prepare_batch(vec![event("a")], &Limits::default(), 42).unwrap();
        assert_eq!(batch[0].aggregate_type.as_str(), "task");
        assert_eq!(batch[0].timestamp, 42);
        assert_eq!(batch[0].metadata_json, "{}");
        assert_eq!(batch[0].payload_json, r#"{"n":1}"#);
    }

    #[test]
    fn a_batch_prepared_in_parts_equals_the_batch_prepared_whole() {
        let limits = Limits::default();
        let ids: Vec<String> = (0..7).map(|n| format!("e{n}")).collect();
        let whole = prepare_batch(ids.iter().map(|id| event(id)).collect(), &limits, 5).unwrap();
        let mut preparer = BatchPreparer::new(ids.len(), &limits, 5).unwrap();
        let mut parts = Vec::new();
        for part in ids.chunks(3) {
            parts.extend(
                preparer
                    .prepare(part.iter().map(|id| event(id)).collect())
                    .unwrap(),
            );
        }
        assert_eq!(parts, whole);
    }

    #[test]
    fn errors_in_a_later_part_carry_their_index_in_the_whole_batch() {
        let limits = Limits::default();
        let mut preparer = BatchPreparer::new(5, &limits, 0).unwrap();
        preparer.prepare(vec![event("a"), event("b")]).unwrap();
        // "a" again, at index 3 of the whole batch: a duplicate across parts.
        let error = preparer
            .prepare(vec![event("c"), event("a"), event("d")])
            .unwrap_err();
        assert!(
            matches!(
                &error,
                AppendError::InvalidEvent {
                    index: 3,
                    reason: InvalidEvent::DuplicateInBatch { id },
                } if id.as_str() == "a"
            ),
            "{error:?}"
        );
        assert!(matches!(
            BatchPreparer::new(0, &limits, 0),
            Err(AppendError::EmptyBatch)
        ));
    }

    /// Found by the one-input-one-answer test: PostgreSQL cannot store NUL in text, so a NUL
    /// in the source made its whole group commit fail, another caller's append with it, while
    /// the other backends stored the event.
    #[test]
    fn refuses_nul_in_every_text_field() {
        let limits = Limits::default();
        let with_nul = [
            event("a").with_source("agent\0"),
            event("a").with_causation_id("\0"),
            event("a").with_correlation_id("run-\0-1"),
        ];
        for (bad, field) in with_nul
            .into_iter()
            .zip(["source", "causation id", "correlation id"])
        {
            let error = prepare_batch(vec![bad], &limits, 0).unwrap_err();
            assert!(
                matches!(
                    &error,
                    AppendError::InvalidEvent {
                        reason: InvalidEvent::NulInText { field: f },
                        ..
                    } if *f == field
                ),
                "{error:?}"
            );
        }
        let other_controls = event("a").with_source("tab\tnewline\n\u{1b}");
        assert!(prepare_batch(vec![other_controls], &limits, 0).is_ok());
    }

    #[test]
    fn refuses_bad_batches() {
        let limits = Limits {
            batch_events_max: 2,
            payload_bytes_max: 10,
            ..Limits::default()
        };
        assert!(matches!(
            prepare_batch(vec![], &limits, 0),
            Err(AppendError::EmptyBatch)
        ));
        let three = vec![event("a"), event("b"), event("c")];
        assert!(matches!(
            prepare_batch(three, &limits, 0),
            Err(AppendError::BatchTooLarge { len: 3, max: 2 })
        ));
        let twice = vec![event("a"), event("a")];
        assert!(matches!(
            prepare_batch(twice, &limits, 0),
            Err(AppendError::InvalidEvent {
                index: 1,
                reason: InvalidEvent::DuplicateInBatch { .. }
            })
        ));
        let mut big = event("a");
        big.payload = json!({"text": "0123456789"});
        assert!(matches!(
            prepare_batch(vec![big], &limits, 0),
            Err(AppendError::InvalidEvent {
                reason: InvalidEvent::PayloadTooLarge { .. },
                ..
            })
        ));
    }

    #[test]
    fn an_event_type_with_an_empty_domain_needs_an_aggregate_type() {
        for name in [":x", ":"] {
            let event = NewEvent::new(EventType::new(name).unwrap(), json!({}));
            let error = prepare_batch(vec![event.clone()], &Limits::default(), 0).unwrap_err();
            assert!(
                matches!(
                    &error,
                    AppendError::InvalidEvent {
                        index: 0,
                        reason: InvalidEvent::NoAggregateType { event_type },
                    } if event_type.as_str() == name
                ),
                "{error:?}"
            );
            assert!(error.to_string().contains("empty domain"), "{error}");
            let given = event.with_aggregate_type(AggregateType::new("task").unwrap());
            let prepared = prepare_batch(vec![given], &Limits::default(), 0).unwrap();
            assert_eq!(prepared[0].aggregate_type.as_str(), "task");
        }
    }

    #[test]
    fn a_batch_over_the_byte_limit_is_refused_at_the_event_that_crosses_it() {
        let one = prepare_batch(vec![event("a")], &Limits::default(), 0).unwrap()[0].bytes();
        let limits = Limits {
            batch_bytes_max: 2 * one,
            ..Limits::default()
        };
        prepare_batch(vec![event("a"), event("b")], &limits, 0).unwrap();
        let error =
            prepare_batch(vec![event("a"), event("b"), event("c")], &limits, 0).unwrap_err();
        assert!(
            matches!(error, AppendError::BatchBytesTooLarge { index: 2, max } if max == 2 * one),
            "{error:?}"
        );
        assert!(error.to_string().contains("batch_bytes_max"), "{error}");
        // The same verdict when the batch is prepared in parts.
        let mut preparer = BatchPreparer::new(3, &limits, 0).unwrap();
        preparer.prepare(vec![event("a")]).unwrap();
        assert!(matches!(
            preparer.prepare(vec![event("b"), event("c")]),
            Err(AppendError::BatchBytesTooLarge { index: 2, .. })
        ));
    }

    #[test]
    fn a_retry_expecting_the_largest_version_is_a_wrong_expected_version() {
        let stream = StreamId::new("s").unwrap();
        let batch = prepare_batch(vec![event("a")], &Limits::default(), 0).unwrap();
        let stored = StoredEventRef {
            stream: stream.clone(),
            version: Version(1),
            position: Position(1),
        };
        let expected = ExpectedVersion::Exact(Version(u64::MAX));
        let verdict = check_retry(&stream, expected, Version(1), &batch, |_| {
            Some(stored.clone())
        });
        assert!(
            matches!(verdict, Err(AppendError::WrongExpectedVersion { .. })),
            "{verdict:?}"
        );
    }
}
