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
//! Format version 2 adds `"crc32c":"hhhhhhhh"` after `batchSize`: the CRC-32C (Castagnoli) of
//! every byte of the line before `,"crc32c"`, as 8 lowercase hex digits, so damage anywhere in
//! a line is told from a whole line. Lines of format version 1 have no checksum; they are
//! accepted only up to the position `streams.json` records as written before the upgrade.
//!
//! Invariant: an encoded line never contains `\n` except its terminator (JSON escapes newlines
//! inside strings, and compact JSON has no whitespace between tokens), and its checksum matches
//! (checked after encoding in debug builds, and on every scan and read).

use std::borrow::Cow;

use annal_core::backend::PreparedEvent;
use annal_core::{RecordedEvent, StreamId};
use serde::Deserialize;

/// The framing field's name.
pub(crate) const BATCH_FIELD: &str = "batchSize";

/// What a checksummed line ends with, around the checksum's 8 hex digits.
const SUM_PREFIX: &[u8] = b",\"crc32c\":\"";
const SUM_SUFFIX: &[u8] = b"\"}";
/// The bytes a checksum adds at the end of a line (before its `\n`).
const SUM_BYTES: usize = SUM_PREFIX.len() + 8 + SUM_SUFFIX.len();
const _: () = assert!(SUM_BYTES == 21);

/// A line's checksum, as found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sum {
    /// The line carries a checksum and it matches.
    Valid,
    /// The line carries no checksum (format version 1).
    Absent,
}

/// Checks the checksum of a line (without its `\n`).
pub(crate) fn check_sum(line: &[u8]) -> Result<Sum, String> {
    let Some(body_len) = line.len().checked_sub(SUM_BYTES) else {
        return Ok(Sum::Absent);
    };
    let (body, tail) = line.split_at(body_len);
    if !tail.starts_with(SUM_PREFIX) || !tail.ends_with(SUM_SUFFIX) {
        return Ok(Sum::Absent);
    }
    let digits = &tail[SUM_PREFIX.len()..SUM_PREFIX.len() + 8];
    let stored = std::str::from_utf8(digits)
        .ok()
        .filter(|text| {
            text.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .and_then(|text| u32::from_str_radix(text, 16).ok())
        .ok_or_else(|| "the checksum is not 8 lowercase hex digits".to_owned())?;
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(format!(
            "checksum mismatch: the line says {stored:08x}, its bytes give {computed:08x}"
        ));
    }
    Ok(Sum::Valid)
}

/// Ends the line whose body (`{` up to the last field's value) starts at `out[start]`: adds
/// the checksum, `}` and `\n`.
fn seal(out: &mut Vec<u8>, start: usize) {
    let sum = crc32c::crc32c(&out[start..]);
    out.extend_from_slice(SUM_PREFIX);
    push_hex(out, sum);
    out.extend_from_slice(SUM_SUFFIX);
    out.push(b'\n');
}

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
    out.extend_from_slice(b",\"version\":");
    push_int(out, version);
    out.extend_from_slice(b",\"position\":");
    push_int(out, position);
    out.extend_from_slice(b",\"timestamp\":");
    push_int(out, event.timestamp);
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
    out.extend_from_slice(b",\"");
    out.extend_from_slice(BATCH_FIELD.as_bytes());
    out.extend_from_slice(b"\":");
    push_int(out, batch_size);
    seal(out, start);
    debug_assert!(
        !out[start..out.len() - 1].contains(&b'\n'),
        "a line holds no raw newline"
    );
    debug_assert!(
        check_sum(&out[start..out.len() - 1]) == Ok(Sum::Valid),
        "a line's checksum matches its bytes"
    );
}

// Numbers and the checksum are written in place: through `format!` each cost an allocation
// and the formatting machinery, which the writer's profile of single-event appends showed.
fn push_int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Writes `value` as 8 lowercase hex digits.
fn push_hex(out: &mut Vec<u8>, value: u32) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.extend(
        (0..8)
            .rev()
            .map(|nibble| DIGITS[(value >> (4 * nibble)) as usize & 15]),
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
/// only part of a batch; the result ends with `\n`. A checksummed line gets a new checksum, a
/// format version 1 line stays without one. Returns `None` if the line does not end with the
/// field.
pub(crate) fn reframe(line: &[u8], batch_size: u64) -> Option<Vec<u8>> {
    let (body, sum) = match check_sum(line).ok()? {
        Sum::Valid => (&line[..line.len() - SUM_BYTES], Sum::Valid),
        Sum::Absent => (line.strip_suffix(b"}")?, Sum::Absent),
    };
    let marker = format!(",\"{BATCH_FIELD}\":");
    let at = body
        .windows(marker.len())
        .rposition(|window| window == marker.as_bytes())?;
    let digits = &body[at + marker.len()..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut out = body[..at].to_vec();
    out.extend_from_slice(format!("{marker}{batch_size}").as_bytes());
    match sum {
        Sum::Valid => seal(&mut out, 0),
        Sum::Absent => out.extend_from_slice(b"}\n"),
    }
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
    #[serde(default, borrow)]
    pub(crate) source: Cow<'a, str>,
    #[serde(default, borrow)]
    pub(crate) causation_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub(crate) correlation_id: Option<Cow<'a, str>>,
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
    use annal_core::backend::prepare_batch;
    use annal_core::{EventType, Limits, NewEvent, Position, Version};
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
        let body = format!("{},\"batchSize\":2", &json[..json.len() - 1]);
        let sum = crc32c::crc32c(body.as_bytes());
        let expected = format!("{body},\"crc32c\":\"{sum:08x}\"}}\n");
        assert_eq!(String::from_utf8(out.clone()).unwrap(), expected);
        let line = &out[..out.len() - 1];
        assert_eq!(check_sum(line), Ok(Sum::Valid));
        assert_eq!(super::event(line).unwrap(), recorded);
        let header = header(line).unwrap();
        assert_eq!(
            (header.version, header.position, header.batch_size),
            (3, 17, 2)
        );
        assert_eq!(header.aggregate_id, "task \"1\"");
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        let mut event = prepared();
        event.timestamp = -1_700_000_000_123;
        let stream = StreamId::new("s").unwrap();
        let mut out = Vec::new();
        encode(&mut out, &event, &stream, u64::MAX, 1 << 53, u64::MAX);
        let recorded = event.record(&stream, Version(u64::MAX), Position(1 << 53));
        let json = serde_json::to_string(&recorded).unwrap();
        let body = format!("{},\"batchSize\":{}", &json[..json.len() - 1], u64::MAX);
        assert!(out.starts_with(body.as_bytes()));
        assert_eq!(check_sum(&out[..out.len() - 1]), Ok(Sum::Valid));
        let mut hex = Vec::new();
        push_hex(&mut hex, 0x00ab_cd0f);
        assert_eq!(hex, b"00abcd0f");
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
        let reframed = &reframed[..reframed.len() - 1];
        assert_eq!(check_sum(reframed), Ok(Sum::Valid));
        assert_eq!(header(reframed).unwrap().batch_size, 3);
        assert_eq!(super::event(reframed).unwrap(), super::event(line).unwrap());
        assert_eq!(reframe(b"{\"a\":1}", 3), None);
        let old = b"{\"id\":\"e\",\"batchSize\":12}";
        assert_eq!(
            reframe(old, 3).unwrap(),
            b"{\"id\":\"e\",\"batchSize\":3}\n"
        );
    }

    #[test]
    fn any_changed_byte_fails_the_checksum() {
        let mut out = Vec::new();
        encode(&mut out, &prepared(), &StreamId::new("s").unwrap(), 1, 1, 1);
        let line = out[..out.len() - 1].to_vec();
        for at in [1, line.len() / 2, line.len() - 30, line.len() - 5] {
            let mut damaged = line.clone();
            damaged[at] ^= 0x01;
            assert!(
                check_sum(&damaged).is_err(),
                "a change at byte {at} goes unnoticed"
            );
        }
        assert_eq!(
            check_sum(b"{\"id\":\"e\",\"batchSize\":1}"),
            Ok(Sum::Absent)
        );
    }
}
