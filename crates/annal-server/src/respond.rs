//! Event reads as HTTP bodies: a JSON array, or NDJSON (one event per line) when the client
//! sends `Accept: application/x-ndjson`.
//!
//! Invariant: both are streamed as the store pages through the events, so memory stays bounded
//! whatever the read's size. An error after the first byte cannot become a problem response, so
//! it aborts the body: the client sees a truncated transfer, never a short but well-formed answer.

use annal_core::{EventStream, RecordedEvent};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

/// The NDJSON media type.
pub(crate) const NDJSON: &str = "application/x-ndjson";

/// Events gathered into one body chunk when they are ready at once.
const CHUNK_EVENTS_MAX: usize = 256;

/// Whether the client asked for NDJSON.
pub(crate) fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains(NDJSON))
}

/// Streams `events` as NDJSON or a JSON array.
pub(crate) fn events(events: EventStream, ndjson: bool) -> Response {
    let counted = events.inspect(|event| {
        if event.is_ok() {
            crate::metrics::event_read();
        }
    });
    let chunks = counted.ready_chunks(CHUNK_EVENTS_MAX);
    let (content_type, body) = if ndjson {
        let body = chunks.map(|chunk| encode(chunk, b"", b"\n").map(Bytes::from));
        (NDJSON, Body::from_stream(body))
    } else {
        let mut first = true;
        let items = chunks.map(move |chunk| {
            let open: &[u8] = if first { b"" } else { b"," };
            first = false;
            encode(chunk, open, b",").map(|mut bytes| {
                bytes.pop();
                Bytes::from(bytes)
            })
        });
        let open = futures::stream::iter([Ok(Bytes::from_static(b"["))]);
        let close = futures::stream::iter([Ok(Bytes::from_static(b"]"))]);
        (
            "application/json",
            Body::from_stream(open.chain(items).chain(close)),
        )
    };
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Encodes a chunk of events, `open` before the first and `separator` after each.
fn encode(
    chunk: Vec<Result<RecordedEvent, annal_core::ReadError>>,
    open: &[u8],
    separator: &[u8],
) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(chunk.len() * 512 + open.len());
    bytes.extend_from_slice(open);
    for event in chunk {
        let event = event.map_err(|error| {
            tracing::error!(%error, "read failed mid-body; aborting the response");
            std::io::Error::other(error)
        })?;
        serde_json::to_writer(&mut bytes, &event).map_err(std::io::Error::other)?;
        bytes.extend_from_slice(separator);
    }
    Ok(bytes)
}
