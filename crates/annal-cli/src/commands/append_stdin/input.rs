//! Reading `append --stdin`'s input: lines of at most [`LINE_BYTES_MAX`] bytes, each checked to
//! be UTF-8 and parsed into an event for one stream.
//!
//! Invariant: [`LineReader::next_line`] is cancel-safe: bytes it took from the input are kept
//! until their line is complete, so dropping a call (the command also waits for appends while
//! it reads) loses nothing.

use annal_core::{AggregateType, EventId, EventType, ExpectedVersion, NewEvent, StreamId, Version};
use anyhow::Context;
use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest input line. The largest event the default limits accept is about 1.1 MiB as
/// compact JSON, and escapes (`\u00e9`) or indentation make its text longer, so this leaves
/// room for any acceptable event while a stray multi-gigabyte line fails fast instead of
/// exhausting memory.
pub(super) const LINE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Splits its input into lines (`\n`; a `\r` before it is JSON whitespace).
pub(super) struct LineReader<R> {
    input: R,
    /// The bytes of the line being read.
    pending: Vec<u8>,
    /// Lines returned so far: the first line may start with a byte order mark.
    lines: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(super) fn new(input: R) -> Self {
        Self {
            input,
            pending: Vec::new(),
            lines: 0,
        }
    }

    /// Whether reading would wait for the input's writer.
    pub(super) fn input(&self) -> &R {
        &self.input
    }

    /// The next line without its `\n`, or `None` at the end of the input.
    pub(super) async fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        loop {
            let buffer = self
                .input
                .fill_buf()
                .await
                .context("reading standard input")?;
            if buffer.is_empty() {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                return self.finish().map(Some);
            }
            let newline = buffer.iter().position(|byte| *byte == b'\n');
            let chunk = &buffer[..newline.unwrap_or(buffer.len())];
            if self.pending.len() + chunk.len() > LINE_BYTES_MAX {
                anyhow::bail!("the line is longer than {LINE_BYTES_MAX} bytes");
            }
            // No await between taking the bytes and consuming them: cancel-safe.
            self.pending.extend_from_slice(chunk);
            let used = chunk.len() + usize::from(newline.is_some());
            self.input.consume(used);
            if newline.is_some() {
                return self.finish().map(Some);
            }
        }
    }

    fn finish(&mut self) -> anyhow::Result<String> {
        let mut bytes = std::mem::take(&mut self.pending);
        self.lines += 1;
        if self.lines == 1 && bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        String::from_utf8(bytes).map_err(|error| {
            let valid_up_to = error.utf8_error().valid_up_to();
            anyhow::anyhow!("the line is not valid UTF-8 (byte {valid_up_to} of the line)")
        })
    }
}

/// One input line: an envelope plus the stream and an optional expectation. The envelope's
/// fields are spelled out rather than flattened from [`NewEvent`]: serde's `flatten` buffers
/// every field through an intermediate tree, which was the largest cost of reading a line.
/// Unknown fields (such as a `version` a reader printed) are ignored, as before.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    aggregate_id: StreamId,
    #[serde(default)]
    expected_version: Option<serde_json::Value>,
    #[serde(default)]
    id: Option<EventId>,
    #[serde(rename = "type")]
    event_type: EventType,
    #[serde(default)]
    aggregate_type: Option<AggregateType>,
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    source: String,
    payload: serde_json::Value,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    causation_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// A parsed line: the event (with its id, given or generated) for `stream`.
pub(crate) struct Parsed {
    pub(crate) stream: StreamId,
    pub(crate) expected: ExpectedVersion,
    pub(crate) event: NewEvent,
}

/// Parses one line; `id` replaces a missing id (a re-parse keeps the id generated the first
/// time).
pub(crate) fn parse(text: &str, id: Option<&EventId>) -> anyhow::Result<Parsed> {
    let line: Envelope = serde_json::from_str(text).context("not a valid event envelope")?;
    let expected = match line.expected_version {
        None => ExpectedVersion::Any,
        Some(serde_json::Value::Number(n)) => {
            let version = n
                .as_u64()
                .context("expectedVersion must be a whole number")?;
            ExpectedVersion::Exact(Version(version))
        }
        Some(serde_json::Value::String(s)) => crate::convert::expected_version(&s)?,
        Some(other) => anyhow::bail!("expectedVersion {other} is not a version"),
    };
    let mut event = NewEvent::new(line.event_type, line.payload);
    // Ids are assigned here rather than in the store so every acknowledgment can name its
    // event, and a batch re-sent as sub-batches keeps them.
    let id = line.id.or_else(|| id.cloned());
    event.id = Some(id.unwrap_or_else(EventId::generate));
    event.aggregate_type = line.aggregate_type;
    event.timestamp = line.timestamp;
    event.source = line.source;
    event.metadata = line.metadata;
    event.causation_id = line.causation_id;
    event.correlation_id = line.correlation_id;
    Ok(Parsed {
        stream: line.aggregate_id,
        expected,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8]) -> Vec<Result<String, String>> {
        let mut reader = LineReader::new(input);
        let mut lines = Vec::new();
        loop {
            match reader.next_line().await {
                Ok(Some(line)) => lines.push(Ok(line)),
                Ok(None) => return lines,
                Err(error) => {
                    lines.push(Err(format!("{error:#}")));
                    return lines;
                }
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_and_strips_a_leading_byte_order_mark() {
        let lines = read_all(b"\xEF\xBB\xBFa\r\n\n  \nb").await;
        assert_eq!(
            lines,
            vec![
                Ok("a\r".to_owned()),
                Ok(String::new()),
                Ok("  ".to_owned()),
                Ok("b".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn refuses_invalid_utf8_and_overlong_lines() {
        let lines = read_all(b"ok\nab\xFFc\n").await;
        assert_eq!(lines[0], Ok("ok".to_owned()));
        assert!(
            lines[1].as_ref().unwrap_err().contains("byte 2"),
            "{lines:?}"
        );
        let long = vec![b'x'; LINE_BYTES_MAX + 1];
        let lines = read_all(&long).await;
        assert!(
            lines[0].as_ref().unwrap_err().contains("longer than"),
            "{lines:?}"
        );
    }
}
