//! Helpers shared by the tools: parsing names, reading one stream's last event, building the
//! envelope of an appended domain event, clock and id generation.

use std::time::{SystemTime, UNIX_EPOCH};

use annal_core::{
    ExpectedVersion, ReadStreamOptions, RecordedEvent, Store, StreamId, Timestamp, Version, collect,
};
use annal_swarm::events::EventDraft;
use serde_json::{Value, json};

use crate::answer::ToolError;

/// A stream id from a caller, its error naming the argument.
pub(crate) fn stream_id(argument: &str, value: &str) -> Result<StreamId, ToolError> {
    StreamId::new(value).map_err(|error| {
        ToolError::invalid(
            format!("{argument}: {error}"),
            "ids are 1 to 256 bytes without control characters",
        )
    })
}

/// Now, in milliseconds since the epoch.
pub(crate) fn now_ms() -> Timestamp {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        Timestamp::try_from(d.as_millis()).unwrap_or(Timestamp::MAX)
    })
}

/// A fresh id in the orchestrator's shape: `prefix-<ms>-<6 random characters>`.
pub(crate) fn new_id(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}-{}", now_ms(), &random[..6])
}

/// The newest readable event of `stream`, if any.
pub(crate) async fn last_event(
    store: &dyn Store,
    stream: &StreamId,
) -> Result<Option<RecordedEvent>, ToolError> {
    let events = store
        .read_stream(stream, ReadStreamOptions::backward().limit(1))
        .await?;
    Ok(collect(events).await?.pop())
}

/// The newest `limit` events of `stream`, oldest first.
pub(crate) async fn recent_events(
    store: &dyn Store,
    stream: &StreamId,
    limit: u64,
) -> Result<Vec<RecordedEvent>, ToolError> {
    let events = store
        .read_stream(stream, ReadStreamOptions::backward().limit(limit))
        .await?;
    let mut events = collect(events).await?;
    events.reverse();
    Ok(events)
}

/// The expected version for a write: the caller's, when given, else the version just read.
pub(crate) fn expected(asked: Option<u64>, read: Version) -> ExpectedVersion {
    ExpectedVersion::Exact(asked.map_or(read, Version))
}

/// Where an appended domain event comes from and what it belongs to.
#[derive(Clone, Debug, Default)]
pub(crate) struct Envelope {
    /// The id of the event or command that caused it.
    pub(crate) causation_id: Option<String>,
    /// The run or conversation it belongs to.
    pub(crate) correlation_id: Option<String>,
    /// Who emitted it (an agent id); the MCP server itself when empty.
    pub(crate) source: Option<String>,
}

impl Envelope {
    pub(crate) fn apply(&self, mut draft: EventDraft) -> EventDraft {
        draft = draft.with_source(self.source.clone().unwrap_or_else(|| "mcp".into()));
        if let Some(cause) = &self.causation_id {
            draft = draft.with_causation_id(cause.clone());
        }
        if let Some(correlation) = &self.correlation_id {
            draft = draft.with_correlation_id(correlation.clone());
        }
        draft
    }

    /// The envelope of an event following `previous` in the same story: caused by it and in
    /// its correlation, unless the caller said otherwise.
    pub(crate) fn after(previous: Option<&RecordedEvent>, asked: &Envelope) -> Envelope {
        Envelope {
            causation_id: asked
                .causation_id
                .clone()
                .or_else(|| previous.map(|e| e.id.as_str().to_owned())),
            correlation_id: asked
                .correlation_id
                .clone()
                .or_else(|| previous.and_then(|e| e.correlation_id.clone())),
            source: asked.source.clone(),
        }
    }
}

/// Adds `extra`'s fields to a draft's payload (fields annal-swarm's payload types do not
/// have, such as a memory's value; they decode to the same typed event).
pub(crate) fn with_payload_fields(mut draft: EventDraft, extra: Value) -> EventDraft {
    if let (Some(payload), Value::Object(extra)) = (draft.event.payload.as_object_mut(), extra) {
        payload.extend(extra);
    }
    draft
}

/// What an append did, for an answer.
pub(crate) fn appended(result: &annal_core::AppendResult, stream: &StreamId) -> Value {
    json!({
        "stream": stream.as_str(),
        "version": result.stream_version.0,
        "position": result.last_position.0,
    })
}
