//! The event envelope: [`NewEvent`], what a caller appends, and [`RecordedEvent`], what the store
//! returns once the event has a version and a position.
//!
//! Both serialize as JSON with camelCase field names (`type`, `aggregateId`, `causationId`, ...),
//! the names the seeds used, so existing NDJSON and TypeScript callers read them unchanged.
//!
//! A recorded event carries its payload and metadata as [`RawObject`]s, the JSON text as stored,
//! not as `Value` trees: reading pays one validity scan per object instead of a tree of
//! allocations, and a consumer parses the text once, straight into the type it needs
//! (`event.payload.decode::<T>()`). A new event still takes a `Value`, which the append
//! boundary checks and turns into text once.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{AggregateType, EventId, EventType, StreamId};
use crate::position::{Position, Version};
use crate::raw_object::RawObject;

/// Milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// An event as a caller hands it to [`Store::append`](crate::Store::append).
///
/// The store assigns the version and position. Fields left out are filled at append: `id` with
/// a fresh UUID v7, `aggregate_type` with the event type's domain (`task` for `task:created`),
/// `timestamp` with the store's clock, `metadata` with `{}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewEvent {
    /// The idempotency key; generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<EventId>,
    /// What happened, as `domain:verb`.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The kind of aggregate; defaults to the event type's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate_type: Option<AggregateType>,
    /// When it happened; defaults to the store's clock at append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// Who emitted it (an agent id, `swarm`, ...); empty when not given.
    #[serde(default)]
    pub source: String,
    /// The event's data: must be a JSON object.
    pub payload: Value,
    /// Free-form context: must be a JSON object when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// The id of the event or command that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// The id that ties together everything of one run or conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl NewEvent {
    /// An event of `event_type` carrying `payload`, with every optional field left to the store.
    pub fn new(event_type: EventType, payload: Value) -> Self {
        Self {
            id: None,
            event_type,
            aggregate_type: None,
            timestamp: None,
            source: String::new(),
            payload,
            metadata: None,
            causation_id: None,
            correlation_id: None,
        }
    }

    /// Sets the event id (the idempotency key).
    pub fn with_id(mut self, id: EventId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the aggregate type.
    pub fn with_aggregate_type(mut self, aggregate_type: AggregateType) -> Self {
        self.aggregate_type = Some(aggregate_type);
        self
    }

    /// Sets the timestamp.
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Sets the source.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Sets the metadata object.
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the causation id.
    pub fn with_causation_id(mut self, causation_id: impl Into<String>) -> Self {
        self.causation_id = Some(causation_id.into());
        self
    }

    /// Sets the correlation id.
    pub fn with_correlation_id(mut self, correlation_id: impl Into<String>) -> Self {
        self.correlation_id = Some(correlation_id.into());
        self
    }
}

/// An event as stored: the caller's fields, completed, plus its version and position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEvent {
    /// Unique in the store.
    pub id: EventId,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The stream this event belongs to.
    pub aggregate_id: StreamId,
    /// The kind of aggregate.
    pub aggregate_type: AggregateType,
    /// Place in its stream, from 1, gap-free.
    pub version: Version,
    /// Place in the whole store, in commit order.
    pub position: Position,
    /// Milliseconds since the Unix epoch.
    pub timestamp: Timestamp,
    /// Who emitted it.
    pub source: String,
    /// The event's data: a JSON object, as stored.
    pub payload: RawObject,
    /// Free-form context: a JSON object as stored, `{}` when none was given.
    pub metadata: RawObject,
    /// What caused this event, if known.
    pub causation_id: Option<String>,
    /// Which run or conversation this event belongs to, if known.
    pub correlation_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn new_event_reads_camel_case_json_with_defaults() {
        let event: NewEvent = serde_json::from_value(json!({
            "type": "task:created",
            "payload": {"taskId": "task-1"},
            "correlationId": "run-9"
        }))
        .unwrap();
        assert_eq!(event.event_type.as_str(), "task:created");
        assert_eq!(event.correlation_id.as_deref(), Some("run-9"));
        assert_eq!(event.id, None);
        assert_eq!(event.source, "");
    }

    #[test]
    fn recorded_event_writes_seed_field_names() {
        let event = RecordedEvent {
            id: EventId::new("e1").unwrap(),
            event_type: EventType::new("agent:spawned").unwrap(),
            aggregate_id: StreamId::new("agent-1").unwrap(),
            aggregate_type: AggregateType::new("agent").unwrap(),
            version: Version(1),
            position: Position(1),
            timestamp: 5,
            source: "swarm".into(),
            payload: RawObject::from_value(&json!({"taskId": "t-1"})).unwrap(),
            metadata: RawObject::empty(),
            causation_id: None,
            correlation_id: None,
        };
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["aggregateId"], "agent-1");
        assert_eq!(value["type"], "agent:spawned");
        assert_eq!(value["causationId"], Value::Null);
        assert_eq!(value["payload"]["taskId"], "t-1");
        let text = serde_json::to_string(&event).unwrap();
        assert!(text.contains(r#""payload":{"taskId":"t-1"},"metadata":{}"#));
        let back: RecordedEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back, event);
    }
}
