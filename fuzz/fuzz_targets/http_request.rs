//! Fuzz target: one HTTP request to `annal serve`'s router, over a fresh in-memory store.
//!
//! The bytes are a request line `METHOD /path?query` and, after the first newline, the body
//! (sent as `application/json`). Whatever the path, query or body, the server answers; a
//! malformed request is a 4xx, never a 5xx or a panic. Subscriptions (`/v1/subscribe`) stream
//! forever and are left out.

#![no_main]

use std::sync::Arc;

use annal_core::MemoryStore;
use annal_fuzz::runtime;
use annal_server::{AppState, Auth, ServerConfig, router};
use axum::body::Body;
use axum::http::{Method, Request, header};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

fuzz_target!(|data: &[u8]| {
    let (line, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[data.len()..]),
    };
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let (method, uri) = line.split_once(' ').unwrap_or(("GET", line));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    if uri.contains("subscribe") {
        return;
    }
    let Ok(request) = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
    else {
        return;
    };
    runtime().block_on(async {
        let state = AppState::new(
            Arc::new(MemoryStore::new()),
            ServerConfig::default(),
            Auth::Open,
        );
        let response = router(state).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            !status.is_server_error(),
            "{line:?} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    });
});
