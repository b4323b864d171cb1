//! Bad input over a real socket: each answer is the right problem code, and nothing is stored.

use serde_json::{Value, json};

use crate::harness::{Server, status_and_json};

async fn post_raw(
    server: &Server,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = server.client.post(server.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    status_and_json(request.send().await.unwrap()).await
}

/// A body, its content type, and the status, code and field it must get.
type Case = (
    Vec<u8>,
    Option<&'static str>,
    u16,
    &'static str,
    Option<&'static str>,
);

#[track_caller]
fn check_problem(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["code"], code, "{}", answer.1);
    assert!(answer.1["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[tokio::test]
async fn bad_bodies_get_the_right_problem_and_store_nothing() {
    let server = Server::start().await;
    let path = "/v1/streams/task-1/events";
    let json = Some("application/json");
    let deep = format!(
        r#"{{"events": [{{"type": "t:x", "payload": {{"a": {}{}}}}}]}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases: Vec<Case> = vec![
        (
            b"{\"events\": [".to_vec(),
            json,
            400,
            "malformed-json",
            None,
        ),
        (b"not json".to_vec(), json, 400, "malformed-json", None),
        (
            br#"{"events": "x"}"#.to_vec(),
            json,
            400,
            "invalid-field",
            Some("events"),
        ),
        (
            br#"{"events": [{"type": 5, "payload": {}}]}"#.to_vec(),
            json,
            400,
            "invalid-field",
            Some("events[0].type"),
        ),
        (
            br#"{"events": [{"type": "", "payload": {}}]}"#.to_vec(),
            json,
            400,
            "invalid-field",
            Some("events[0].type"),
        ),
        (
            br#"{"events": [{"type": "t:x", "payload": []}]}"#.to_vec(),
            json,
            400,
            "invalid-field",
            Some("events[0].payload"),
        ),
        (
            br#"{"events": [{"type": "t:x", "payload": {}, "timestamp": 1e400}]}"#.to_vec(),
            json,
            400,
            "malformed-json",
            None,
        ),
        (
            br#"{"expectedVersion": 99999999999999999999999, "events": []}"#.to_vec(),
            json,
            400,
            "invalid-field",
            Some("expectedVersion"),
        ),
        (
            br#"{"expectedVersion": -1, "events": []}"#.to_vec(),
            json,
            400,
            "invalid-field",
            Some("expectedVersion"),
        ),
        (
            br#"{"expectedVersion": "later", "events": []}"#.to_vec(),
            json,
            400,
            "invalid-field",
            Some("expectedVersion"),
        ),
        (
            br#"{"events": [], "extra": 1}"#.to_vec(),
            json,
            400,
            "invalid-field",
            None,
        ),
        (
            br#"{"events": []}"#.to_vec(),
            json,
            400,
            "invalid-field",
            Some("events"),
        ),
        (
            b"{\"events\": [{\"type\": \"t:x\", \"payload\": {\"a\": \"\xff\xfe\"}}]}".to_vec(),
            json,
            400,
            "malformed-json",
            None,
        ),
        (deep.into_bytes(), json, 400, "malformed-json", None),
        (
            br#"{"events": []}"#.to_vec(),
            None,
            415,
            "unsupported-media-type",
            None,
        ),
        (
            br#"{"events": []}"#.to_vec(),
            Some("text/plain"),
            415,
            "unsupported-media-type",
            None,
        ),
    ];
    for (body, content_type, status, code, field) in cases {
        let answer = post_raw(&server, path, content_type, body).await;
        check_problem(&answer, status, code);
        if let Some(field) = field {
            assert_eq!(answer.1["field"], field, "{}", answer.1);
        }
    }
    let huge_payload =
        json!({"events": [{"type": "t:x", "payload": {"a": "x".repeat(1024 * 1024 + 1)}}]});
    let answer = post_raw(
        &server,
        path,
        json,
        serde_json::to_vec(&huge_payload).unwrap(),
    )
    .await;
    check_problem(&answer, 413, "event-too-large");
    assert_eq!(answer.1["field"], "events[0].payload");
    let events: Vec<Value> = (0..10_001)
        .map(|_| json!({"type": "t:x", "payload": {}}))
        .collect();
    let answer = post_raw(
        &server,
        path,
        json,
        serde_json::to_vec(&json!({"events": events})).unwrap(),
    )
    .await;
    check_problem(&answer, 413, "batch-too-large");
    let oversized = vec![b' '; 33 * 1024 * 1024];
    let answer = post_raw(&server, path, json, oversized).await;
    check_problem(&answer, 413, "body-too-large");
    let (_, head) = server.get("/v1/head").await;
    assert_eq!(head["head"], 0, "nothing may be stored after bad input");
    assert_eq!(server.store.head().await.unwrap().0, 0);
    server.stop().await;
}

#[tokio::test]
async fn bad_stream_ids_and_parameters_are_refused() {
    let server = Server::start().await;
    let body = serde_json::to_vec(&json!({"events": [{"type": "t:x", "payload": {}}]})).unwrap();
    let json = Some("application/json");
    let long = "a".repeat(257);
    for (path, status, code) in [
        (format!("/v1/streams/{long}/events"), 400, "invalid-field"),
        (
            "/v1/streams/task%0A1/events".to_owned(),
            400,
            "invalid-field",
        ),
        ("/v1/streams//events".to_owned(), 400, "invalid-field"),
        ("/v1/streams/%FF%FE/events".to_owned(), 400, "invalid-field"),
    ] {
        let answer = post_raw(&server, &path, json, body.clone()).await;
        check_problem(&answer, status, code);
    }
    for path in [
        "/v1/events?from=abc",
        "/v1/events?limit=-1",
        "/v1/events?types=,",
        "/v1/events?since=5&until=5",
        "/v1/events?from=3&direction=backward",
        "/v1/events?unknown=1",
        "/v1/streams/task-1/events?direction=sideways",
        "/v1/subscribe?from=x",
        "/v1/stats?top=100000",
    ] {
        let answer = server.get(path).await;
        assert_eq!(answer.0, 400, "{path}: {}", answer.1);
        assert!(
            answer.1["code"].as_str().unwrap().starts_with("invalid-"),
            "{path}: {}",
            answer.1
        );
    }
    let (_, head) = server.get("/v1/head").await;
    assert_eq!(head["head"], 0);
    server.stop().await;
}
