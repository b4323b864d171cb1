//! The OpenAPI 3.1 description of the API, generated from the handlers' annotations and the wire
//! types, served at `/openapi.json` and committed as `docs/openapi.json` (a test fails when the
//! two differ, so clients generated from the file match the server).
//!
//! Core types (`NewEvent`, `RecordedEvent`, `Stats`, `Snapshot`, retention types) carry no
//! OpenAPI derive, since annal-core stays free of HTTP concerns; the `*Doc` types here describe
//! their JSON, and a test checks each against the real serialization.

#![allow(dead_code)] // the *Doc types are read by the schema derive only, never built

use std::collections::BTreeMap;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes::{
    as_of, events, health, projections, runs, snapshots, status, store, stream_list, streams, trace,
};

/// An RFC 9457 problem: every error the API answers.
#[derive(ToSchema)]
#[schema(as = Problem)]
pub(crate) struct ProblemDoc {
    /// `urn:annal:problem:<code>`.
    r#type: String,
    /// The HTTP status's reason phrase.
    title: String,
    /// The HTTP status.
    status: u16,
    /// The stable machine code: wrong-expected-version, duplicate-event-id, invalid-field,
    /// invalid-parameter, malformed-json, unsupported-media-type, body-too-large,
    /// batch-too-large, event-too-large, unauthorized, forbidden, not-found, stream-not-found,
    /// event-not-found,
    /// snapshot-not-found, snapshot-stale, snapshot-ahead-of-stream, protected-by-snapshot,
    /// too-many-subscribers, store-unavailable, shutting-down, method-not-allowed, internal.
    code: String,
    /// What went wrong.
    detail: String,
    /// The request field at fault (400, 413).
    field: Option<String>,
    /// The query parameter at fault.
    parameter: Option<String>,
    /// The stream's actual version (409 wrong-expected-version).
    #[schema(rename = "actualVersion")]
    actual_version: Option<u64>,
    /// The limit exceeded (413).
    limit: Option<u64>,
}

/// An event to append.
#[derive(ToSchema)]
#[schema(as = NewEvent)]
pub(crate) struct NewEventDoc {
    /// A client-chosen id (any string up to 256 bytes); a retry with the same ids returns the
    /// original answer. The server picks a UUIDv7 when absent.
    id: Option<String>,
    /// The event type, `domain:action`.
    r#type: String,
    /// The aggregate type; the type's domain when absent.
    #[schema(rename = "aggregateType")]
    aggregate_type: Option<String>,
    /// Milliseconds since the epoch; the server's clock when absent.
    timestamp: Option<i64>,
    /// Who wrote it.
    source: Option<String>,
    /// A JSON object.
    payload: BTreeMap<String, serde_json::Value>,
    /// A JSON object.
    metadata: Option<BTreeMap<String, serde_json::Value>>,
    /// The id of the event that caused this one.
    #[schema(rename = "causationId")]
    causation_id: Option<String>,
    /// The id shared by one piece of work.
    #[schema(rename = "correlationId")]
    correlation_id: Option<String>,
}

/// A stored event.
#[derive(ToSchema)]
#[schema(as = RecordedEvent)]
pub(crate) struct RecordedEventDoc {
    id: String,
    r#type: String,
    /// The stream.
    #[schema(rename = "aggregateId")]
    aggregate_id: String,
    #[schema(rename = "aggregateType")]
    aggregate_type: String,
    /// Its place in the stream, from 1.
    version: u64,
    /// Its place in the whole store, in commit order; the SSE `id:`.
    position: u64,
    /// Milliseconds since the epoch.
    timestamp: i64,
    source: String,
    payload: BTreeMap<String, serde_json::Value>,
    metadata: BTreeMap<String, serde_json::Value>,
    #[schema(rename = "causationId")]
    causation_id: Option<String>,
    #[schema(rename = "correlationId")]
    correlation_id: Option<String>,
}

/// `"any"`, `"noStream"`, `"streamExists"` or the exact version the stream must be at.
#[derive(ToSchema, serde::Serialize)]
#[schema(as = ExpectedVersion)]
#[serde(untagged)]
pub(crate) enum ExpectedVersionDoc {
    /// any, noStream or streamExists.
    Named(ExpectedVersionName),
    /// The exact version (0: no stream).
    Exact(u64),
}

/// The named expected versions.
#[derive(ToSchema, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum ExpectedVersionName {
    Any,
    NoStream,
    StreamExists,
}

/// `POST /v1/streams/{stream}/events`: a batch, appended atomically.
#[derive(ToSchema)]
#[schema(as = AppendRequest)]
pub(crate) struct AppendRequestDoc {
    /// Default `any`.
    #[schema(rename = "expectedVersion")]
    expected_version: Option<ExpectedVersionDoc>,
    events: Vec<NewEventDoc>,
}

/// Counts over the readable events.
#[derive(ToSchema)]
#[schema(as = Stats)]
pub(crate) struct StatsDoc {
    #[schema(rename = "totalEvents")]
    total_events: u64,
    #[schema(rename = "eventsByType")]
    events_by_type: BTreeMap<String, u64>,
    #[schema(rename = "eventsByAggregateType")]
    events_by_aggregate_type: BTreeMap<String, u64>,
    #[schema(rename = "topStreams")]
    top_streams: Vec<StreamCountDoc>,
    #[schema(rename = "streamCount")]
    stream_count: u64,
    #[schema(rename = "oldestTimestamp")]
    oldest_timestamp: Option<i64>,
    #[schema(rename = "newestTimestamp")]
    newest_timestamp: Option<i64>,
    #[schema(rename = "firstPosition")]
    first_position: Option<u64>,
    #[schema(rename = "lastPosition")]
    last_position: Option<u64>,
    #[schema(rename = "snapshotCount")]
    snapshot_count: u64,
    #[schema(rename = "bytesOnDisk")]
    bytes_on_disk: Option<u64>,
}

/// One stream's event count.
#[derive(ToSchema)]
#[schema(as = StreamCount)]
pub(crate) struct StreamCountDoc {
    stream: String,
    events: u64,
}

/// A stream's saved state at a version.
#[derive(ToSchema)]
#[schema(as = Snapshot)]
pub(crate) struct SnapshotDoc {
    #[schema(rename = "aggregateId")]
    aggregate_id: String,
    #[schema(rename = "aggregateType")]
    aggregate_type: String,
    version: u64,
    state: BTreeMap<String, serde_json::Value>,
    timestamp: i64,
}

/// What a retention request removed.
#[derive(ToSchema)]
#[schema(as = RetentionReport)]
pub(crate) struct RetentionReportDoc {
    removed: u64,
    /// Selected but kept: a snapshot does not cover them.
    protected: u64,
}

/// A store-wide retention policy.
#[derive(ToSchema)]
#[schema(as = RetentionPolicy)]
pub(crate) struct RetentionPolicyDoc {
    /// Keep at most this many events (the newest).
    #[schema(rename = "maxEvents")]
    max_events: Option<u64>,
    /// Remove events older than this (ms since epoch).
    #[schema(rename = "beforeTimestamp")]
    before_timestamp: Option<i64>,
    /// Also remove events newer than their stream's snapshot.
    force: Option<bool>,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "annal",
        description = "The annal event store over HTTP. Errors are application/problem+json \
            (RFC 9457) with a stable `code`. When the server has tokens, every /v1 endpoint and \
            /metrics need `Authorization: Bearer <token>` with the scope named in the \
            operation's description.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        stream_list::list, streams::append, streams::read, streams::version, streams::delete,
        streams::truncate,
        snapshots::get, snapshots::put, events::read, crate::sse::subscribe, store::head,
        store::stats, store::retain, store::verify, projections::agents, projections::tasks,
        projections::memory, as_of::as_of, trace::trace, status::status, runs::list,
        runs::record, runs::metrics, runs::violations,
        health::healthz, health::readyz, health::metrics, openapi_json
    ),
    components(schemas(
        ProblemDoc, NewEventDoc, RecordedEventDoc, ExpectedVersionDoc, ExpectedVersionName,
        AppendRequestDoc, StatsDoc, StreamCountDoc, SnapshotDoc, RetentionReportDoc,
        RetentionPolicyDoc
    )),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub(crate) struct ApiDoc;

/// The document as pretty JSON, as committed in `docs/openapi.json`.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .map(|mut text| {
            text.push('\n');
            text
        })
        .unwrap_or_default()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", security(()), tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub(crate) async fn openapi_json() -> Response {
    let mut response = document().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use annal_core::{MemoryStore, Store};
    use axum::body::Body;
    use axum::http::Request;
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    fn committed_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
    }

    /// The committed document is the one the code generates. To accept a change on purpose:
    /// `ANNAL_UPDATE_OPENAPI=1 cargo test -p annal-server openapi`.
    #[test]
    fn the_committed_openapi_document_matches_the_code() {
        let generated = document();
        let path = committed_path();
        if std::env::var_os("ANNAL_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json differs from the code; review the change and run \
             ANNAL_UPDATE_OPENAPI=1 cargo test -p annal-server openapi"
        );
        let value: Value = serde_json::from_str(&generated).unwrap();
        assert_eq!(value["openapi"], "3.1.0");
    }

    fn properties(schema: &str) -> Vec<String> {
        let doc: Value = serde_json::from_str(&document()).unwrap();
        let mut names: Vec<String> = doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    fn keys(value: &Value) -> Vec<String> {
        let mut names: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    }

    /// The hand-written descriptions of core types name exactly the fields core serializes.
    #[tokio::test]
    async fn core_type_descriptions_match_their_json() {
        let store = MemoryStore::new();
        let stream = annal_core::StreamId::new("task-1").unwrap();
        let event = annal_core::NewEvent::new(
            annal_core::EventType::new("task:created").unwrap(),
            serde_json::json!({}),
        );
        store
            .append(
                &stream,
                annal_core::ExpectedVersion::Any,
                vec![event.clone()],
            )
            .await
            .unwrap();
        let recorded =
            annal_core::collect(store.read_all(annal_core::Position::START).await.unwrap())
                .await
                .unwrap();
        assert_eq!(
            properties("RecordedEvent"),
            keys(&serde_json::to_value(&recorded[0]).unwrap())
        );
        let stats = store.stats(1).await.unwrap();
        assert_eq!(
            properties("Stats"),
            keys(&serde_json::to_value(&stats).unwrap())
        );
        assert_eq!(
            properties("RetentionPolicy"),
            keys(&serde_json::to_value(annal_core::RetentionPolicy::default()).unwrap())
        );
        assert_eq!(
            properties("RetentionReport"),
            keys(&serde_json::to_value(annal_core::RetentionReport::default()).unwrap())
        );
        let full = annal_core::NewEvent {
            id: Some(annal_core::EventId::new("e").unwrap()),
            aggregate_type: Some(annal_core::AggregateType::new("task").unwrap()),
            timestamp: Some(1),
            metadata: Some(serde_json::json!({})),
            causation_id: Some("c".into()),
            correlation_id: Some("c".into()),
            ..event
        };
        assert_eq!(
            properties("NewEvent"),
            keys(&serde_json::to_value(&full).unwrap())
        );
    }

    /// Every documented operation is routed (none falls through to the 404 or 405 fallback).
    #[tokio::test]
    async fn every_documented_operation_is_routed() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let state = crate::AppState::new(store, crate::ServerConfig::default(), crate::Auth::Open);
        let router = crate::routes::router(state);
        let doc: Value = serde_json::from_str(&document()).unwrap();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if method == "get" && path == "/v1/subscribe" {
                    continue; // a live stream: routed, but never finishes
                }
                let uri = path.replace("{stream}", "task-1");
                let request = Request::builder()
                    .method(method.to_uppercase().as_str())
                    .uri(&uri)
                    .body(Body::empty())
                    .unwrap();
                let response = router.clone().oneshot(request).await.unwrap();
                let status = response.status().as_u16();
                let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .unwrap();
                let text = String::from_utf8_lossy(&body);
                assert!(
                    !text.contains("\"not-found\"") && status != 405,
                    "{method} {path}: {status} {text}"
                );
                operations += 1;
            }
        }
        assert!(operations >= 20, "{operations}");
    }
}
