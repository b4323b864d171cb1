//! Who is calling: the bearer token of each request, checked against the token file.
//!
//! Invariant: every handler that touches the store first extracts a [`Caller`] and asks it for
//! the scope (and stream) it needs; a request without a live token is refused before its body is
//! read. The token file is re-read when it changes on disk, so `annal token revoke` takes effect
//! on the next request without a restart.

pub mod tokens;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use annal_core::StreamId;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use crate::problem::ApiError;
use crate::state::AppState;
pub use tokens::{Scope, TokenFile, TokenFileError, TokenRecord};

/// How requests are authenticated.
#[derive(Debug)]
pub enum Auth {
    /// Every request may do everything (loopback, or `--insecure-no-auth`).
    Open,
    /// Bearer tokens from a token file.
    Tokens(TokenSource),
}

/// The token file and the copy of it in memory.
#[derive(Debug)]
pub struct TokenSource {
    path: PathBuf,
    cached: Mutex<(Option<FileStamp>, Arc<TokenFile>)>,
}

impl TokenSource {
    /// Reads `path` now, so a damaged file stops the server from starting.
    pub fn open(path: PathBuf) -> Result<Self, TokenFileError> {
        let stamp = stamp(&path);
        let file = TokenFile::load(&path)?;
        Ok(Self {
            path,
            cached: Mutex::new((stamp, Arc::new(file))),
        })
    }

    /// The current token set, re-read if the file changed. A file that became unreadable keeps
    /// the last good set, except that nothing is trusted if the file was removed.
    fn current(&self) -> Arc<TokenFile> {
        let now = stamp(&self.path);
        let Ok(mut cached) = self.cached.lock() else {
            return Arc::new(TokenFile::default());
        };
        if cached.0 != now {
            match TokenFile::load(&self.path) {
                Ok(file) => *cached = (now, Arc::new(file)),
                Err(error) => tracing::error!(%error, "keeping the previous tokens"),
            }
        }
        Arc::clone(&cached.1)
    }
}

/// What tells a changed token file: its modification time and length.
type FileStamp = (SystemTime, u64);

fn stamp(path: &std::path::Path) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// The authenticated caller of one request.
#[derive(Clone, Debug)]
pub enum Caller {
    /// The server runs without authentication.
    Anyone,
    /// A live token.
    Token(TokenRecord),
}

impl Caller {
    /// Refuses unless the caller has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        match self {
            Caller::Anyone => Ok(()),
            Caller::Token(token) if token.allows(scope) => Ok(()),
            Caller::Token(token) => Err(forbidden(format!(
                "token {} lacks the {scope} scope",
                token.id
            ))),
        }
    }

    /// Refuses unless the caller has `scope` on `stream`.
    pub fn require_stream(&self, scope: Scope, stream: &StreamId) -> Result<(), ApiError> {
        self.require(scope)?;
        match self {
            Caller::Token(token) if !token.covers(stream.as_str()) => Err(forbidden(format!(
                "token {} may not touch stream {stream}",
                token.id
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses unless the caller has `scope` on every stream (for answers that span streams).
    pub fn require_all_streams(&self, scope: Scope) -> Result<(), ApiError> {
        self.require(scope)?;
        match self {
            Caller::Token(token) if !token.streams.is_empty() => Err(forbidden(format!(
                "token {} is limited to some streams; this answer spans all of them",
                token.id
            ))),
            _ => Ok(()),
        }
    }

    /// Whether the caller may see events of `stream` (for reads that filter what they return).
    pub fn sees(&self, stream: &str) -> bool {
        match self {
            Caller::Anyone => true,
            Caller::Token(token) => token.covers(stream),
        }
    }
}

fn forbidden(detail: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let source = match state.auth.as_ref() {
            Auth::Open => return Ok(Caller::Anyone),
            Auth::Tokens(source) => source,
        };
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("this server needs an Authorization: Bearer token"))?;
        let secret = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        source
            .current()
            .authenticate(secret)
            .cloned()
            .map(Caller::Token)
            .ok_or_else(|| unauthorized("the token is unknown or revoked"))
    }
}
