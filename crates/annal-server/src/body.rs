//! Request bodies: JSON only, within the size limit, parsed with the path of any bad field.
//!
//! Invariant: a body is fully checked (media type, size, UTF-8, JSON syntax, nesting depth, field
//! types) before a handler sees it, so a bad body never reaches the store. serde_json refuses
//! nesting deeper than 128 levels, so a deeply nested body costs bounded stack.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// A JSON request body of type `T`, and its length in bytes.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub T, pub usize);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        check_media_type(&request)?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        parse(&bytes).map(|value| JsonBody(value, bytes.len()))
    }
}

fn check_media_type(request: &Request) -> Result<(), ApiError> {
    let media_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match media_type.as_deref() {
        Some("application/json") => Ok(()),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!(
                "the body must be application/json, got {}",
                other.unwrap_or("no Content-Type")
            ),
        )),
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "the request body is over the server's limit",
        );
    }
    if is_timeout(&rejection) {
        return ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            "the request body did not arrive in time",
        );
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "unreadable-body",
        format!("the request body could not be read: {rejection}"),
    )
}

/// Whether the body stopped because the client sent it too slowly.
fn is_timeout(rejection: &BytesRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = source {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// Parses `bytes` as JSON `T`, naming the field at fault.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Tracking the path costs every good body; only a bad one needs it, so a body that fails
    // is parsed again to name its field.
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(error) => Err(parse_naming_the_field::<T>(bytes)
            .err()
            .unwrap_or_else(|| json_error(".", &error))),
    }
}

/// Parses `bytes` as JSON `T` while tracking the path, so an error names the field at fault.
fn parse_naming_the_field<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        json_error(&path, &inner)
    })?;
    deserializer
        .end()
        .map_err(|error| json_error(".", &error))?;
    Ok(value)
}

fn json_error(path: &str, error: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => ApiError::invalid_field(
            path.trim_start_matches('.'),
            format!("field {path}: {error}"),
        ),
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            format!("the body is not valid JSON: {error}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // read only through Debug: the test checks which field fails
    struct Outer {
        events: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // as above
    struct Inner {
        limit: u64,
    }

    #[track_caller]
    fn check(body: &[u8], code: &str, field: Option<&str>) {
        let error = parse::<Outer>(body).unwrap_err();
        assert_eq!(error.code, code, "{error}");
        if let Some(field) = field {
            assert_eq!(error.extra["field"], field, "{error}");
        }
    }

    #[test]
    fn bad_bodies_name_their_problem() {
        check(
            br#"{"events": [{"limit": "x"}]}"#,
            "invalid-field",
            Some("events[0].limit"),
        );
        check(br#"{"events": [{"limit": 1e400}]}"#, "malformed-json", None);
        check(
            br#"{"events": [{"limit": 99999999999999999999999}]}"#,
            "invalid-field",
            Some("events[0].limit"),
        );
        check(b"{\"events\": [\xff]}", "malformed-json", None);
        check(b"{\"events\": []} x", "malformed-json", None);
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let error = parse::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert_eq!(error.code, "malformed-json", "{error}");
    }
}
