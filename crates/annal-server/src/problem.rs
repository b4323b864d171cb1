//! Every error the server answers, and the one place it becomes an HTTP response.
//!
//! Errors are `application/problem+json` (RFC 9457) with a stable machine `code` (the last
//! segment of `type`), a `detail` naming the problem, and the fields a client needs to act
//! (`actualVersion` for a wrong expected version, `field` for bad input). A 5xx body reveals
//! nothing about the cause; the cause is logged here instead.

use annal_core::{
    AppendError, CheckpointError, ReadError, RetentionError, SnapshotError, StorageError,
};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answered to a client: status, stable code, message and details.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable machine code, such as `wrong-expected-version`.
    pub code: &'static str,
    /// What went wrong, in words a person can act on.
    pub detail: String,
    /// Extra members of the problem object (`field`, `actualVersion`, `limit`...).
    pub extra: Map<String, Value>,
}

impl ApiError {
    /// An error with no extra members.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            extra: Map::new(),
        }
    }

    /// Adds an extra member to the problem object.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// 400 for a request field that is missing, of the wrong type or out of range.
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let field = field.into();
        Self::new(StatusCode::BAD_REQUEST, "invalid-field", detail).with("field", field)
    }

    /// 400 for a query parameter that does not parse.
    pub fn invalid_parameter(parameter: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-parameter", detail).with("parameter", parameter)
    }

    /// 404 for a path that names nothing.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 500 for a bug or an unexpected failure; the cause is logged, never sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to answer; see its log",
        )
    }

    /// 503 for a store that cannot serve; the cause is logged, never sent.
    pub fn unavailable(cause: &StorageError) -> Self {
        tracing::error!(error = %cause, "store unavailable");
        let detail = match cause {
            StorageError::ReadOnly => "the store is open read-only",
            StorageError::Poisoned { .. } => "the store refuses writes after a failure",
            StorageError::Closed => "the store is closed",
            _ => "the store is unavailable; see the server's log",
        };
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "store-unavailable", detail)
    }

    /// The JSON problem object.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("urn:annal:problem:{}", self.code)),
        );
        body.insert("title".into(), json!(title(self.status)));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("code".into(), json!(self.code));
        body.insert("detail".into(), json!(self.detail));
        for (key, value) in &self.extra {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }
}

fn title(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::metrics::error(self.code);
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"annal\""),
            );
        }
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        ApiError::unavailable(&error)
    }
}

impl From<AppendError> for ApiError {
    fn from(error: AppendError) -> Self {
        let detail = error.to_string();
        match error {
            AppendError::WrongExpectedVersion { stream, actual, .. } => {
                ApiError::new(StatusCode::CONFLICT, "wrong-expected-version", detail)
                    .with("stream", stream.as_str())
                    .with("actualVersion", actual.0)
            }
            AppendError::DuplicateEventId { id, stored_in } => {
                ApiError::new(StatusCode::CONFLICT, "duplicate-event-id", detail)
                    .with("eventId", id.as_str())
                    .with("storedIn", stored_in.as_str())
            }
            AppendError::EmptyBatch => ApiError::invalid_field("events", detail),
            AppendError::BatchTooLarge { max, .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "batch-too-large", detail)
                    .with("field", "events")
                    .with("limit", max)
            }
            AppendError::InvalidEvent { index, reason } => invalid_event(index, &reason, detail),
            AppendError::VersionOverflow { .. } => {
                ApiError::new(StatusCode::CONFLICT, "version-overflow", detail)
            }
            AppendError::Storage(error) => error.into(),
            other => ApiError::internal(&other),
        }
    }
}

fn invalid_event(index: usize, reason: &annal_core::InvalidEvent, detail: String) -> ApiError {
    use annal_core::InvalidEvent as I;
    let (field, too_large) = match reason {
        I::PayloadNotObject { .. } => ("payload", false),
        I::MetadataNotObject { .. } => ("metadata", false),
        I::PayloadTooLarge { .. } => ("payload", true),
        I::MetadataTooLarge { .. } => ("metadata", true),
        I::TextTooLong { field, .. } => (text_field(field), false),
        I::DuplicateInBatch { .. } => ("id", false),
        _ => ("", false),
    };
    let field = format!("events[{index}].{field}");
    if too_large {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "event-too-large", detail).with("field", field)
    } else {
        ApiError::invalid_field(field, detail)
    }
}

/// The JSON name of a text field core names in words.
fn text_field(field: &str) -> &'static str {
    match field {
        "causation id" => "causationId",
        "correlation id" => "correlationId",
        _ => "source",
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::InvalidFilter(invalid) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-filter",
                invalid.to_string(),
            ),
            ReadError::Storage(error) => error.into(),
            other => ApiError::internal(&other),
        }
    }
}

impl From<SnapshotError> for ApiError {
    fn from(error: SnapshotError) -> Self {
        let detail = error.to_string();
        match error {
            SnapshotError::Stale { stored, .. } => {
                ApiError::new(StatusCode::CONFLICT, "snapshot-stale", detail)
                    .with("storedVersion", stored.0)
            }
            SnapshotError::AheadOfStream { actual, .. } => {
                ApiError::new(StatusCode::CONFLICT, "snapshot-ahead-of-stream", detail)
                    .with("actualVersion", actual.0)
            }
            SnapshotError::VersionZero => ApiError::invalid_field("version", detail),
            SnapshotError::StateNotObject => ApiError::invalid_field("state", detail),
            SnapshotError::Storage(error) => error.into(),
            other => ApiError::internal(&other),
        }
    }
}

impl From<RetentionError> for ApiError {
    fn from(error: RetentionError) -> Self {
        let detail = error.to_string();
        match error {
            RetentionError::ProtectedBySnapshot { snapshot, .. } => {
                ApiError::new(StatusCode::CONFLICT, "protected-by-snapshot", detail)
                    .with("snapshotVersion", snapshot.0)
            }
            RetentionError::WrongExpectedVersion { actual, .. } => {
                ApiError::new(StatusCode::CONFLICT, "wrong-expected-version", detail)
                    .with("actualVersion", actual.0)
            }
            RetentionError::Storage(error) => error.into(),
            other => ApiError::internal(&other),
        }
    }
}

impl From<CheckpointError> for ApiError {
    fn from(error: CheckpointError) -> Self {
        match error {
            CheckpointError::Storage(error) => error.into(),
            other => ApiError::internal(&other),
        }
    }
}

impl From<annal_core::ProjectionError> for ApiError {
    fn from(error: annal_core::ProjectionError) -> Self {
        ApiError::internal(&error)
    }
}

impl From<annal_swarm::ledger::LedgerError> for ApiError {
    fn from(error: annal_swarm::ledger::LedgerError) -> Self {
        use annal_swarm::ledger::LedgerError as L;
        match error {
            L::InvalidId {
                what,
                value,
                source,
            } => ApiError::invalid_field(what, format!("{what} {value:?}: {source}")),
            L::Append { source, .. } => source.into(),
            L::Read(error) => error.into(),
            L::Retention(error) => error.into(),
            other => ApiError::internal(&other),
        }
    }
}

#[cfg(test)]
mod tests {
    use annal_core::{ExpectedVersion, StreamId, Version};

    use super::*;

    #[test]
    fn a_wrong_expected_version_carries_the_actual_version() {
        let error = ApiError::from(AppendError::WrongExpectedVersion {
            stream: StreamId::new("task-1").unwrap(),
            expected: ExpectedVersion::NoStream,
            actual: Version(3),
        });
        assert_eq!(error.status, StatusCode::CONFLICT);
        let body = error.body();
        assert_eq!(body["code"], "wrong-expected-version");
        assert_eq!(body["actualVersion"], 3);
        assert_eq!(body["type"], "urn:annal:problem:wrong-expected-version");
    }

    #[test]
    fn server_failures_reveal_nothing() {
        let error = ApiError::from(StorageError::backend("reading /secret/path", "disk gone"));
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!error.body().to_string().contains("secret"));
    }
}
