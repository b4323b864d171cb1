//! Path and query parameters, with errors that name the parameter at fault.

use annal_core::StreamId;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

/// Query parameters of type `T`; a bad one is a 400 naming it.
#[derive(Debug)]
pub(crate) struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(params)| Params(params))
            .map_err(|rejection| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "invalid-parameter",
                    rejection.body_text(),
                )
            })
    }
}

/// The `{stream}` path segment, percent-decoded and validated as a [`StreamId`].
#[derive(Debug)]
pub(crate) struct StreamPath(pub StreamId);

impl<S: Send + Sync> FromRequestParts<S> for StreamPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::invalid_field("stream", rejection.body_text()))?;
        StreamId::new(&text)
            .map(StreamPath)
            .map_err(|error| ApiError::invalid_field("stream", error.to_string()))
    }
}

/// Splits a comma-separated list parameter and validates each item with `parse`.
pub(crate) fn list<T, E: std::fmt::Display>(
    parameter: &str,
    text: Option<&str>,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, ApiError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|item| {
            parse(item.trim()).map_err(|error| {
                ApiError::invalid_parameter(parameter, format!("{parameter}: {error}"))
            })
        })
        .collect()
}
