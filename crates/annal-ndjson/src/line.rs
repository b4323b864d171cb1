//! One log line: an event's envelope as compact JSON, plus the `batchSize` framing field, then
//! `\n`.
//!
//! The fields come in the order `RecordedEvent` serializes them (`id`, `type`, `aggregateId`,
//! `aggregateType`, `version`, `position`, `timestamp`, `source`, `payload`, `metadata`,
//! `causationId`, `correlationId`), so a line is exactly `serde_json::to_string(&recorded)` with
//! `"batchSize":n` added last; any JSON tool reads it, and `RecordedEvent` decodes it as is.
//! `batchSize` is how many events the line's append batch held: the lines of a batch are
//! consecutive, so recovery can tell a whole batch from the torn start of one.
//!
//! Invariant: an encoded line never contains `\n` except its terminator (JSON escapes newlines
//! inside strings, and compact JSON has no whitespace between tokens).

use std::borrow::Cow;

use annal_core::{PreparedEvent, RecordedEvent, StreamId};
use serde::Deserialize;

/// The framing field's name.
pub(crate) const BATCH_FIELD: &str = "batchSize";

/// Appends the line of `event` at `version` and `position` of `stream` to `out`.
pub(crate) fn encode(
    out: &mut Vec<u8>,
    event: &PreparedEvent,
    stream: &StreamId,
    version: u64,
    position: u64,
    batch_size: u64,
) {
    let start = out.len();
    out.extend_from_slice(b"{\"id\":");
    push_str(out, event.id.as_str());
    out.extend_from_slice(b",\"type\":");
    push_str(out, event.event_type.as_str());
    out.extend_from_slice(b",\"aggregateId\":");
    push_str(out, stream.as_str());
    out.extend_from_slice(b",\"aggregateType\":");
    push_str(out, event.aggregate_type.as_str());
    out.extend_from_slice(format!(",\"version\":{version},\"position\":{position}").as_bytes());
    out.extend_from_slice(format!(",\"timestamp\":{}", event.timestamp).as_bytes());
    out.extend_from_slice(b",\"source\":");
    push_str(out, &event.source);
    // Prepared once at the boundary, so the payload is never serialized twice.
    out.extend_from_slice(b",\"payload\":");
    out.extend_from_slice(event.payload_json.as_bytes());
    out.extend_from_slice(b",\"metadata\":");
    out.extend_from_slice(event.metadata_json.as_bytes());
    out.extend_from_slice(b",\"causationId\":");
    push_optional(out, event.causation_id.as_deref());
    out.extend_from_slice(b",\"correlationId\":");
    push_optional(out, event.correlation_id.as_deref());
    out.extend_from_slice(format!(",\"{BATCH_FIELD}\":{batch_size}}}\n").as_bytes());
    debug_assert!(
        !out[start..out.len() - 1].contains(&b'\n'),
        "a line holds no raw newline"
    );
}

fn push_str(out: &mut Vec<u8>, text: &str) {
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

fn push_optional(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => push_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// Replaces the `batchSize` of an encoded line (without its `\n`), for a compaction that keeps
/// only part of a batch. Returns `None` if the line does not end with the field.
pub(crate) fn reframe(line: &[u8], batch_size: u64) -> Option<Vec<u8>> {
    let marker = format!(",\"{BATCH_FIELD}\":");
    let at = line
        .windows(marker.len())
        .rposition(|window| window == marker.as_bytes())?;
    let tail = &line[at + marker.len()..];
    if tail.last() != Some(&b'}') || !tail[..tail.len() - 1].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut out = line[..at].to_vec();
    out.extend_from_slice(format!("{marker}{batch_size}}}").as_bytes());
    Some(out)
}

/// The fields of a line that recovery, indexes and stats need; the payload is skipped unparsed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    pub(crate) id: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    pub(crate) event_type: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) aggregate_id: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) aggregate_type: Cow<'a, str>,
    pub(crate) version: u64,
    pub(crate) position: u64,
    pub(crate) timestamp: i64,
    pub(crate) batch_size: u64,
}

/// Decodes a line's header (without its `\n`).
pub(crate) fn header(line: &[u8]) -> Result<Header<'_>, String> {
    let header: Header<'_> = serde_json::from_slice(line).map_err(|error| error.to_string())?;
    if header.version == 0 || header.position == 0 {
        return Err("version and position start at 1".into());
    }
    if header.batch_size == 0 {
        return Err("batchSize must be at least 1".into());
    }
    Ok(header)
}

/// Decodes a whole line (without its `\n`) into the event it stores.
pub(crate) fn event(line: &[u8]) -> Result<RecordedEvent, String> {
    serde_json::from_slice(line).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use annal_core::{EventType, Limits, NewEvent, Position, Version, prepare_batch};
    use serde_json::json;

    use super::*;

    fn prepared() -> PreparedEvent {
        let event = NewEvent::new(
            EventType::new("task:created").unwrap(),
            json!({"title": "line\nbreak \"quoted\"", "n": 1}),
        )
        .with_source("agent-\u{e9}")
        .with_correlation_id("run-9");
        prepare_batch(vec![event], &Limits::default(), 42)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn a_line_is_the_recorded_event_json_plus_batch_size() {
        let event = prepared();
        let stream = StreamId::new("task \"1\"").unwrap();
        let mut out = Vec::new();
        encode(&mut out, &event, &stream, 3, 17, 2);
        let recorded = event.record(&stream, Version(3), Position(17));
        let json = serde_json::to_string(&recorded).unwrap();
        let expected = format!("{},\"batchSize\":2}}\n", &json[..json.len() - 1]);
        assert_eq!(String::from_utf8(out.clone()).unwrap(), expected);
        let line = &out[..out.len() - 1];
        assert_eq!(super::event(line).unwrap(), recorded);
        let header = header(line).unwrap();
        assert_eq!(
            (header.version, header.position, header.batch_size),
            (3, 17, 2)
        );
        assert_eq!(header.aggregate_id, "task \"1\"");
    }

    #[test]
    fn reframing_changes_only_the_batch_size() {
        let mut out = Vec::new();
        encode(
            &mut out,
            &prepared(),
            &StreamId::new("s").unwrap(),
            1,
            1,
            12,
        );
        let line = &out[..out.len() - 1];
        let reframed = reframe(line, 3).unwrap();
        assert_eq!(header(&reframed).unwrap().batch_size, 3);
        assert_eq!(
            super::event(&reframed).unwrap(),
            super::event(line).unwrap()
        );
        assert_eq!(reframe(b"{\"a\":1}", 3), None);
    }
}
