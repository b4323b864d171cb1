//! `GET /v1/events`: read the whole log from a position, or query it with every `Filter` field.
//!
//! A token limited to some streams sees only their events: the filtering, offset and limit are
//! then applied here, after the store's read, so the numbers count only what the caller sees.

use annal_core::{AggregateType, Direction, EventStream, EventType, Filter, Position, StreamId};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use futures::StreamExt;
use serde::Deserialize;

use crate::auth::{Caller, Scope};
use crate::params::{Params, list};
use crate::problem::ApiError;
use crate::state::AppState;

/// Query parameters of `GET /v1/events`. Lists are comma-separated.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsParams {
    /// First position returned (inclusive); forward reads only.
    pub(crate) from: Option<u64>,
    /// At most this many events.
    pub(crate) limit: Option<u64>,
    /// Skip this many matching events first.
    pub(crate) offset: Option<u64>,
    /// `forward` (default) or `backward`.
    #[param(value_type = Option<String>)]
    pub(crate) direction: Option<Direction>,
    /// Event types.
    pub(crate) types: Option<String>,
    /// Aggregate types.
    pub(crate) aggregate_types: Option<String>,
    /// Stream ids.
    pub(crate) streams: Option<String>,
    /// Only streams whose id starts with this.
    pub(crate) stream_prefix: Option<String>,
    /// The source.
    pub(crate) source: Option<String>,
    /// The correlation id.
    pub(crate) correlation_id: Option<String>,
    /// The causation id.
    pub(crate) causation_id: Option<String>,
    /// Events at or after this timestamp (ms since epoch).
    pub(crate) since: Option<i64>,
    /// Events before this timestamp (ms since epoch).
    pub(crate) until: Option<i64>,
}

impl EventsParams {
    /// The store filter these parameters describe, without paging.
    pub(crate) fn filter(&self) -> Result<Filter, ApiError> {
        let filter = Filter {
            event_types: list("types", self.types.as_deref(), |t: &str| EventType::new(t))?,
            aggregate_ids: list("streams", self.streams.as_deref(), |t: &str| {
                StreamId::new(t)
            })?,
            aggregate_types: list(
                "aggregateTypes",
                self.aggregate_types.as_deref(),
                |t: &str| AggregateType::new(t),
            )?,
            source: self.source.clone(),
            correlation_id: self.correlation_id.clone(),
            causation_id: self.causation_id.clone(),
            timestamp_from: self.since,
            timestamp_to: self.until,
            limit: None,
            offset: 0,
            direction: self.direction.unwrap_or_default(),
        };
        filter.validate().map_err(|error| {
            ApiError::invalid_parameter("since", format!("since/until: {error}"))
        })?;
        Ok(filter)
    }
}

/// Reads or queries the log, as a JSON array or NDJSON.
#[utoipa::path(
    get,
    path = "/v1/events", operation_id = "readEvents",
    tag = "events",
    description = "Read the whole log from a position, or query it (scope: read; a stream-limited token sees only its streams). JSON array, or NDJSON with `Accept: application/x-ndjson`.",
    params(EventsParams),
    responses((status = 200, description = "The events", content((Vec<crate::openapi::RecordedEventDoc> = "application/json"), (crate::openapi::RecordedEventDoc = "application/x-ndjson"))), (status = 400, description = "Bad parameter", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<EventsParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    crate::metrics::read("events");
    let mut filter = params.filter()?;
    let from = Position(params.from.unwrap_or(0));
    if from > Position::START && filter.direction == Direction::Backward {
        return Err(ApiError::invalid_parameter(
            "from",
            "from reads forward; use direction=backward without from",
        ));
    }
    let prefix = params.stream_prefix.clone();
    let narrowed =
        prefix.is_some() || matches!(caller, Caller::Token(ref t) if !t.streams.is_empty());
    let events: EventStream = if !narrowed && from == Position::START {
        filter.limit = params.limit;
        filter.offset = params.offset.unwrap_or(0);
        if filter.is_unfiltered() && filter.direction == Direction::Forward && filter.offset == 0 {
            let all = state.store.read_all(from).await?;
            limited(all, params.limit)
        } else {
            state.store.query(&filter).await?
        }
    } else {
        let source = if from > Position::START {
            state.store.read_all(from).await?
        } else {
            state.store.query(&filter).await?
        };
        let selected = source.filter(move |event| {
            let keep = match event {
                Ok(event) => {
                    filter.matches(event)
                        && prefix
                            .as_deref()
                            .is_none_or(|p| event.aggregate_id.as_str().starts_with(p))
                        && caller.sees(event.aggregate_id.as_str())
                }
                Err(_) => true,
            };
            std::future::ready(keep)
        });
        let skipped =
            selected.skip(usize::try_from(params.offset.unwrap_or(0)).unwrap_or(usize::MAX));
        limited(skipped.boxed(), params.limit)
    };
    Ok(crate::respond::events(
        events,
        crate::respond::wants_ndjson(&headers),
    ))
}

fn limited(events: EventStream, limit: Option<u64>) -> EventStream {
    match limit {
        Some(limit) => events
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .boxed(),
        None => events,
    }
}
