//! `GET /v1/events/{id}/trace`: why an event happened and what it led to (annal-core's trace
//! query): its causes, effects and correlated events, each list bounded.
//!
//! A token limited to some streams may trace only an event of its streams, and sees only the
//! events of its streams in the lists.

use annal_core::{EventId, RecordedEvent, Trace, TraceError, TraceLimits};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use crate::auth::{Caller, Scope};
use crate::params::Params;
use crate::problem::ApiError;
use crate::state::AppState;

/// Most events one list of a trace answers.
const LIST_MAX: usize = 1000;

/// The JSON of annal-core's [`Trace`] (core carries no OpenAPI derive).
#[allow(dead_code)] // read by the schema derive only
#[derive(utoipa::ToSchema)]
#[schema(as = Trace)]
pub(crate) struct TraceDoc {
    /// The traced event.
    event: crate::openapi::RecordedEventDoc,
    /// Its causes, from the root of the chain to its direct cause.
    causes: Vec<crate::openapi::RecordedEventDoc>,
    /// The causation id where the chain left the store, if it did.
    #[schema(rename = "missingCause")]
    missing_cause: Option<String>,
    #[schema(rename = "causesTruncated")]
    causes_truncated: bool,
    /// Its direct and indirect effects, in position order.
    effects: Vec<crate::openapi::RecordedEventDoc>,
    #[schema(rename = "effectsTruncated")]
    effects_truncated: bool,
    /// Every event with the same correlation id (the traced one included).
    correlated: Vec<crate::openapi::RecordedEventDoc>,
    #[schema(rename = "correlatedTruncated")]
    correlated_truncated: bool,
}

/// Query parameters of `GET /v1/events/{id}/trace`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct TraceParams {
    /// At most this many events in each list (default 100, at most 1,000).
    pub(crate) limit: Option<usize>,
}

/// The event's causes, effects and correlated events.
#[utoipa::path(
    get,
    path = "/v1/events/{id}/trace", operation_id = "traceEvent",
    tag = "events",
    description = "Why an event happened and what it led to: its causes (root first), its direct and indirect effects, and the events sharing its correlation id, each list bounded by `limit` (scope: read).",
    params(("id" = String, Path, description = "The event id, percent-encoded"), TraceParams),
    responses((status = 200, description = "The trace", body = TraceDoc), (status = 404, description = "event-not-found: no readable event has this id", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 400, description = "Bad parameter", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn trace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(params): Params<TraceParams>,
) -> Result<Json<Trace>, ApiError> {
    caller.require(Scope::Read)?;
    let id = EventId::new(&id).map_err(|error| ApiError::invalid_field("id", error.to_string()))?;
    let limit = params.limit.unwrap_or(100);
    if limit > LIST_MAX {
        return Err(ApiError::invalid_parameter(
            "limit",
            format!("limit is {limit}, the maximum is {LIST_MAX}"),
        ));
    }
    let limits = TraceLimits {
        causes_max: limit,
        effects_max: limit,
        correlated_max: limit,
    };
    let mut answer = match annal_core::trace(state.store.as_ref(), &id, limits).await {
        Ok(answer) => answer,
        Err(TraceError::NotFound { id }) => {
            return Err(event_not_found(&id));
        }
        Err(TraceError::Read(error)) => return Err(error.into()),
        Err(error) => return Err(ApiError::internal(&error)),
    };
    if !caller.sees(answer.event.aggregate_id.as_str()) {
        return Err(event_not_found(&id));
    }
    let visible = |events: &mut Vec<RecordedEvent>| {
        events.retain(|event| caller.sees(event.aggregate_id.as_str()));
    };
    visible(&mut answer.causes);
    visible(&mut answer.effects);
    visible(&mut answer.correlated);
    Ok(Json(answer))
}

fn event_not_found(id: &EventId) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "event-not-found",
        format!("no event has id {id}"),
    )
    .with("id", id.as_str())
}
