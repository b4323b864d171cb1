//! `GET /v1/subscribe`: the log, live, as Server-Sent Events.
//!
//! Each event's SSE `id:` is its position. A client resumes with `Last-Event-ID` (or `?from=`),
//! both meaning "the last position I have", and gets exactly the events after it. Subscribers
//! follow the server's shared tail ([`crate::tail`]): one store reader for all of them, each
//! event serialized once. The response body is polled only as fast as the socket drains, so a
//! slow subscriber falls behind the tail's bounded ring and catches up from the store while
//! writers and other subscribers go on. Filters apply per subscriber. Live subscribers are
//! capped; one more is answered 503. Shutdown ends every stream cleanly.

use std::sync::Arc;

use annal_core::EventType;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::{Caller, Scope};
use crate::params::{Params, list};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::tail::{Frame, Tail};

/// Query parameters of `GET /v1/subscribe`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SubscribeParams {
    /// The last position the client has; delivery starts after it. Without it (and without
    /// `Last-Event-ID`), only events committed from now on are sent.
    pub(crate) from: Option<u64>,
    /// Only these event types (comma-separated).
    pub(crate) types: Option<String>,
    /// Only streams whose id starts with this.
    pub(crate) stream_prefix: Option<String>,
}

/// Holds one subscriber slot for as long as its response body lives.
struct Slot {
    _permit: OwnedSemaphorePermit,
    semaphore: Arc<Semaphore>,
    max: usize,
}

impl Slot {
    fn report(&self, releasing: usize) {
        let live = self.max - self.semaphore.available_permits() - releasing;
        crate::metrics::subscribers(live);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.report(1);
    }
}

/// Follows the log from a position as SSE.
#[utoipa::path(
    get,
    path = "/v1/subscribe", operation_id = "subscribe",
    tag = "events",
    description = "Follow the log live as Server-Sent Events (scope: read). Each `id:` is the event's position; reconnect with `Last-Event-ID` (or `from`) to resume exactly after it. Heartbeat comments keep idle connections open.",
    params(SubscribeParams, ("Last-Event-ID" = Option<u64>, Header, description = "The last position received; takes precedence over from")),
    responses((status = 200, description = "An SSE stream whose data lines are RecordedEvent JSON", content_type = "text/event-stream"), (status = 400, description = "Bad parameter", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 503, description = "too-many-subscribers", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn subscribe(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<SubscribeParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    let types = list("types", params.types.as_deref(), |t: &str| {
        EventType::new(t)
    })?;
    let after = match last_event_id(&headers)? {
        Some(position) => position,
        None => match params.from {
            Some(position) => position,
            None => state.store.head().await?.0,
        },
    };
    let permit = Arc::clone(&state.subscribers)
        .try_acquire_owned()
        .map_err(|_| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too-many-subscribers",
                format!(
                    "the server has its maximum of {} live subscribers; retry later",
                    state.config.subscribers_max
                ),
            )
        })?;
    let slot = Slot {
        _permit: permit,
        semaphore: Arc::clone(&state.subscribers),
        max: state.config.subscribers_max,
    };
    slot.report(0);
    let store = Arc::clone(&state.store);
    let shutdown = state.shutdown.clone();
    let tail = state
        .tail
        .get_or_try_init(|| Tail::start(store, shutdown))
        .await?;
    let prefix = params.stream_prefix;
    let selected = tail.follow(after).filter(move |frame| {
        let keep = match frame {
            Ok(frame) => {
                let event = &frame.event;
                let stream = event.aggregate_id.as_str();
                (types.is_empty() || types.contains(&event.event_type))
                    && prefix.as_deref().is_none_or(|p| stream.starts_with(p))
                    && caller.sees(stream)
            }
            Err(_) => true,
        };
        std::future::ready(keep)
    });
    let frames = selected
        .take_while(|event| {
            if let Err(error) = event {
                tracing::error!(%error, "subscription read failed; ending the stream");
            }
            std::future::ready(event.is_ok())
        })
        .filter_map(|event| std::future::ready(event.ok()))
        .ready_chunks(FRAMES_PER_WRITE)
        .map(move |frames| {
            let _slot = &slot;
            chunk(&frames)
        })
        .take_until(state.shutdown.clone().cancelled_owned());
    Ok(event_stream(with_heartbeats(
        frames,
        state.config.heartbeat,
    )))
}

/// At most this many frames already waiting go out in one body chunk: a subscriber that is
/// behind gets them in one write instead of one each.
const FRAMES_PER_WRITE: usize = 64;

/// The frames of `frames` as one body chunk. The frames' bytes are shared by every subscriber;
/// only a chunk of several is copied. An event that does not serialize aborts the stream rather
/// than being skipped.
fn chunk(frames: &[Arc<Frame>]) -> Result<Bytes, axum::Error> {
    crate::metrics::events_delivered(frames.len());
    if let [frame] = frames {
        return sse_bytes(frame).cloned();
    }
    let mut chunk = BytesMut::new();
    for frame in frames {
        chunk.extend_from_slice(sse_bytes(frame)?);
    }
    Ok(chunk.freeze())
}

fn sse_bytes(frame: &Frame) -> Result<&Bytes, axum::Error> {
    frame
        .sse
        .as_ref()
        .map_err(|why| axum::Error::new(why.to_owned()))
}

/// `chunks`, with a heartbeat comment whenever nothing was sent for `every`, so proxies and
/// clients keep an idle connection open.
fn with_heartbeats<S>(chunks: S, every: Duration) -> impl Stream<Item = Result<Bytes, axum::Error>>
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Send + 'static,
{
    futures::stream::unfold(Box::pin(chunks), move |mut chunks| async move {
        match tokio::time::timeout(every, chunks.next()).await {
            Ok(Some(chunk)) => Some((chunk, chunks)),
            Ok(None) => None,
            Err(_idle) => Some((Ok(Bytes::from_static(b":\n\n")), chunks)),
        }
    })
}

/// A `text/event-stream` response whose body is `chunks`.
fn event_stream<S>(chunks: S) -> Response
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Send + 'static,
{
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// The `Last-Event-ID` header as a position, if sent.
fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    text.parse().map(Some).map_err(|_| {
        ApiError::invalid_parameter(
            "Last-Event-ID",
            format!("Last-Event-ID {text:?} is not a position"),
        )
    })
}
