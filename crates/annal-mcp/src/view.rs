//! Events as a model reads them: compact JSON with the fields that explain what happened,
//! long payloads shortened with a note saying how to get them whole.

use annal_core::{RecordedEvent, Timestamp};
use serde_json::{Map, Value, json};

/// The note attached to a shortened payload.
pub(crate) const SHORTENED_NOTE: &str =
    "payload shortened; call again with full=true (events_read, events_query) for the whole";

/// One event for a model. With `full`, or when the payload is short, the payload is the JSON
/// object itself; otherwise it is the first `payload_bytes_max` bytes of its text and
/// `payloadShortened` says so.
pub(crate) fn event(event: &RecordedEvent, full: bool, payload_bytes_max: usize) -> Value {
    let mut out = Map::new();
    out.insert("position".into(), json!(event.position.0));
    out.insert("stream".into(), json!(event.aggregate_id.as_str()));
    out.insert("version".into(), json!(event.version.0));
    out.insert("type".into(), json!(event.event_type.as_str()));
    out.insert("id".into(), json!(event.id.as_str()));
    out.insert("time".into(), json!(time(event.timestamp)));
    if !event.source.is_empty() {
        out.insert("source".into(), json!(event.source));
    }
    if let Some(cause) = &event.causation_id {
        out.insert("causationId".into(), json!(cause));
    }
    if let Some(correlation) = &event.correlation_id {
        out.insert("correlationId".into(), json!(correlation));
    }
    let text = event.payload.as_str();
    if full || text.len() <= payload_bytes_max {
        out.insert("payload".into(), event.payload.to_value());
    } else {
        out.insert("payload".into(), json!(prefix(text, payload_bytes_max)));
        out.insert("payloadShortened".into(), json!(true));
        out.insert("payloadBytes".into(), json!(text.len()));
    }
    if full && event.metadata.as_str() != "{}" {
        out.insert("metadata".into(), event.metadata.to_value());
    }
    Value::Object(out)
}

/// Every event, with one note at the end when any payload was shortened.
pub(crate) fn events(events: &[RecordedEvent], full: bool, payload_bytes_max: usize) -> Vec<Value> {
    events
        .iter()
        .map(|e| event(e, full, payload_bytes_max))
        .collect()
}

/// Whether any of `views` was shortened.
pub(crate) fn any_shortened(views: &[Value]) -> bool {
    views.iter().any(|v| v.get("payloadShortened").is_some())
}

/// A one-line description of an event: `#12 task-1 v3 task:failed`.
pub(crate) fn line(event: &RecordedEvent) -> String {
    format!(
        "#{} {} v{} {}",
        event.position.0,
        event.aggregate_id.as_str(),
        event.version.0,
        event.event_type.as_str()
    )
}

/// Milliseconds since the epoch as RFC 3339, UTC.
pub(crate) fn time(timestamp: Timestamp) -> String {
    match u64::try_from(timestamp) {
        Ok(ms) => {
            let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
            humantime::format_rfc3339_millis(at).to_string()
        }
        Err(_) => format!("{timestamp}ms"),
    }
}

/// The longest prefix of `text` of at most `bytes` bytes that ends on a character boundary.
fn prefix(text: &str, bytes: usize) -> &str {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
