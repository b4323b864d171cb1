//! [`EventDraft`]: a typed event on its way to the store, and the [`Payload`] trait that ties a
//! payload struct to its event type.
//!
//! A draft is plain data: the stream it goes to and the [`NewEvent`] envelope. The caller may
//! adjust the envelope (source, metadata, causation and correlation ids, id, timestamp) before
//! appending; the seed's factories allowed none of that.

use annal_core::{
    AggregateType, AppendError, AppendResult, EventId, EventType, ExpectedVersion, NewEvent, Store,
    StreamId, Timestamp,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The source the seed stamped on every domain event; constructors use it until told otherwise.
pub const DEFAULT_SOURCE: &str = "swarm";

/// A payload struct of one domain event type.
pub trait Payload: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug {
    /// The event type, `domain:verb`.
    const EVENT_TYPE: &'static str;
    /// The aggregate type (the event type's domain).
    const AGGREGATE_TYPE: &'static str;
}

/// A domain event ready to append: where it goes and what it says.
#[derive(Clone, Debug, PartialEq)]
pub struct EventDraft {
    /// The stream: the aggregate id (agent, task, memory or swarm id).
    pub stream: StreamId,
    /// The envelope, with the payload already serialized.
    pub event: NewEvent,
}

impl EventDraft {
    /// A draft of `payload` for `stream`, stamped `at` (ms since the epoch), from
    /// [`DEFAULT_SOURCE`].
    pub fn new<P: Payload>(stream: StreamId, payload: &P, at: Timestamp) -> Self {
        let event = NewEvent::new(builtin_type(P::EVENT_TYPE), to_json(payload))
            .with_aggregate_type(builtin_aggregate_type(P::AGGREGATE_TYPE))
            .with_timestamp(at)
            .with_source(DEFAULT_SOURCE);
        Self { stream, event }
    }

    /// Sets the event id, the key that makes a retried append idempotent.
    pub fn with_id(mut self, id: EventId) -> Self {
        self.event.id = Some(id);
        self
    }

    /// Sets who emitted the event (an agent id, `swarm`, ...).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.event.source = source.into();
        self
    }

    /// Sets the metadata object.
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.event.metadata = Some(metadata);
        self
    }

    /// Sets the id of what caused this event.
    pub fn with_causation_id(mut self, causation_id: impl Into<String>) -> Self {
        self.event.causation_id = Some(causation_id.into());
        self
    }

    /// Sets the id of the run or conversation this event belongs to.
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.event.correlation_id = Some(correlation_id.into());
        self
    }

    /// Overrides the envelope timestamp (the payload's own time field is unchanged).
    pub fn with_timestamp(mut self, at: Timestamp) -> Self {
        self.event.timestamp = Some(at);
        self
    }

    /// Appends the draft at the end of its stream, whatever the stream's version (the seed's
    /// only mode).
    pub async fn append(self, store: &dyn Store) -> Result<AppendResult, AppendError> {
        self.append_expecting(store, ExpectedVersion::Any).await
    }

    /// Appends the draft if its stream is at `expected`.
    pub async fn append_expecting(
        self,
        store: &dyn Store,
        expected: ExpectedVersion,
    ) -> Result<AppendResult, AppendError> {
        store.append(&self.stream, expected, vec![self.event]).await
    }
}

/// Serializes a payload struct. Every payload here is a struct of strings, numbers, lists and
/// JSON values, which always serializes.
pub(crate) fn to_json<P: Serialize>(payload: &P) -> Value {
    match serde_json::to_value(payload) {
        Ok(value) => value,
        Err(error) => panic!("a payload struct of string-keyed fields serializes: {error}"),
    }
}

/// The [`EventType`] of a built-in name; every name in the catalog is valid (a unit test checks).
pub(crate) fn builtin_type(name: &'static str) -> EventType {
    match EventType::new(name) {
        Ok(event_type) => event_type,
        Err(error) => panic!("built-in event type {name:?} is a valid name: {error}"),
    }
}

/// The [`AggregateType`] of a built-in domain name.
pub(crate) fn builtin_aggregate_type(name: &'static str) -> AggregateType {
    match AggregateType::new(name) {
        Ok(aggregate_type) => aggregate_type,
        Err(error) => panic!("built-in aggregate type {name:?} is a valid name: {error}"),
    }
}
