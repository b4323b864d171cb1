//! Tool answers for a model: structured content plus a short text, and tool-level errors
//! (`isError`) that say what to do next.
//!
//! Invariant: a tool never answers with a protocol error for a caller's mistake or a store
//! refusal; those are [`ToolError`]s the model can read and act on.

use annal_core::{AppendError, ExpectedVersion, InvalidName, ReadError, TraceError};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

/// A tool's outcome before it becomes a [`CallToolResult`].
pub(crate) type Answer = Result<CallToolResult, ToolError>;

/// A successful answer: `summary` for a person or model skimming, `value` as structured
/// content (and as JSON text for clients that read text only).
pub(crate) fn ok(summary: impl Into<String>, value: Value) -> Answer {
    let mut result = CallToolResult::structured(value);
    result.content.insert(0, ContentBlock::text(summary.into()));
    Ok(result)
}

/// Turns an outcome into the result sent to the client.
pub(crate) fn finish(answer: Answer) -> CallToolResult {
    answer.unwrap_or_else(ToolError::into_result)
}

/// A tool-level error: what went wrong and what to do about it.
#[derive(Debug)]
pub(crate) struct ToolError {
    code: &'static str,
    message: String,
    hint: String,
    details: Value,
}

impl ToolError {
    pub(crate) fn new(
        code: &'static str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            code,
            message: message.into(),
            hint: hint.into(),
            details: Value::Null,
        }
    }

    /// A bad argument, naming it.
    pub(crate) fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new("invalid_argument", message, hint)
    }

    pub(crate) fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub(crate) fn into_result(self) -> CallToolResult {
        let text = format!("{} ({}): {}", self.message, self.code, self.hint);
        let mut value = json!({"error": self.code, "message": self.message, "hint": self.hint});
        if let (Some(object), Value::Object(details)) = (value.as_object_mut(), self.details) {
            object.extend(details);
        }
        let mut result = CallToolResult::structured_error(value);
        result.content.insert(0, ContentBlock::text(text));
        result
    }
}

impl From<ReadError> for ToolError {
    fn from(error: ReadError) -> Self {
        Self::new(
            "store_error",
            format!("reading the store failed: {error}"),
            "retry later; if it persists the store needs attention (annal verify)",
        )
    }
}

impl From<InvalidName> for ToolError {
    fn from(error: InvalidName) -> Self {
        Self::invalid(
            error.to_string(),
            "names are 1 to 256 bytes without control characters",
        )
    }
}

impl From<TraceError> for ToolError {
    fn from(error: TraceError) -> Self {
        match error {
            TraceError::NotFound { id } => Self::new(
                "not_found",
                format!("no event with id {id}"),
                "events_query, events_recent and events_read show event ids",
            ),
            TraceError::Read(error) => error.into(),
            other => Self::new("store_error", other.to_string(), "retry later"),
        }
    }
}

impl From<AppendError> for ToolError {
    fn from(error: AppendError) -> Self {
        match error {
            AppendError::WrongExpectedVersion {
                stream,
                expected,
                actual,
            } => Self::new(
                "wrong_expected_version",
                format!(
                    "stream {stream} is at version {}, not {}",
                    actual.0,
                    expected_text(expected)
                ),
                format!(
                    "someone else changed it first; re-read it and retry with expectedVersion {} \
                     if the change still makes sense",
                    actual.0
                ),
            )
            .with_details(json!({
                "stream": stream.as_str(),
                "expectedVersion": expected_text(expected),
                "actualVersion": actual.0,
            })),
            AppendError::DuplicateEventId { id, stored_in } => Self::new(
                "duplicate_event_id",
                format!("event id {id} is already stored in stream {stored_in}"),
                "give each event a new id, or leave ids out to have them generated",
            ),
            AppendError::Storage(error) => Self::new(
                "store_error",
                format!("the store refused the append: {error}"),
                "a store opened read-only refuses appends; otherwise retry later",
            ),
            other => Self::invalid(other.to_string(), "fix the events and append again"),
        }
    }
}

/// An expected version as a model would write it back.
pub(crate) fn expected_text(expected: ExpectedVersion) -> String {
    match expected {
        ExpectedVersion::Any => "any".into(),
        ExpectedVersion::NoStream => "no-stream".into(),
        ExpectedVersion::StreamExists => "exists".into(),
        ExpectedVersion::Exact(version) => version.0.to_string(),
    }
}
