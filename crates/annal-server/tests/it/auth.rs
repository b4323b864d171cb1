//! The auth matrix: each scope against each endpoint; missing, wrong and revoked tokens; tokens
//! limited to streams, with escapes tried through `..`, percent-encoding and odd ids.

use annal_server::{Scope, ServerConfig, TokenFile};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Server, status_and_json};

struct Tokens {
    read: String,
    append: String,
    admin: String,
    agent: String,
    revoked: String,
}

async fn start() -> (Server, Tokens) {
    let mut secrets = None;
    let server = Server::start_with(ServerConfig::default(), |dir| {
        let path = dir.join("tokens.json");
        let mut file = TokenFile::default();
        let mut make = |scopes: Vec<Scope>, streams: Vec<&str>| {
            let streams = streams.into_iter().map(str::to_owned).collect();
            file.create("t", scopes, streams, 0).unwrap().secret
        };
        let tokens = Tokens {
            read: make(vec![Scope::Read], vec![]),
            append: make(vec![Scope::Append], vec![]),
            admin: make(vec![Scope::Admin], vec![]),
            agent: make(vec![Scope::Read, Scope::Append], vec!["agent-7", "task-*"]),
            revoked: make(vec![Scope::Admin], vec![]),
        };
        let revoked_id = file.tokens.last().unwrap().id.clone();
        file.revoke(&revoked_id, 1).unwrap();
        file.save(&path).unwrap();
        secrets = Some(tokens);
        Some(path)
    })
    .await;
    (server, secrets.unwrap())
}

async fn call(
    server: &Server,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = server.client.request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    if response
        .headers()
        .get("content-type")
        .is_some_and(|t| t == "text/event-stream")
    {
        // A live stream never ends: its status is the answer.
        return (response.status().as_u16(), Value::Null);
    }
    status_and_json(response).await
}

fn batch() -> Value {
    json!({"events": [{"type": "task:tick", "payload": {}}]})
}

fn run() -> Value {
    json!({"eventId": "", "taskId": "t-1", "guidanceHash": "h", "retrievedRuleIds": [],
        "toolsUsed": [], "filesTouched": [],
        "diffSummary": {"filesChanged": 0, "linesAdded": 0, "linesRemoved": 0},
        "testResults": {"ran": false, "passed": 0, "failed": 0, "skipped": 0},
        "violations": [], "outcomeAccepted": null, "reworkLines": 0, "intent": "feature",
        "timestamp": 1, "durationMs": 0})
}

/// Every endpoint with the scope it needs and whether it spans all streams.
fn endpoints() -> Vec<(&'static str, &'static str, Option<Value>, Scope)> {
    vec![
        (
            "POST",
            "/v1/streams/task-1/events",
            Some(batch()),
            Scope::Append,
        ),
        ("GET", "/v1/streams/task-1/events", None, Scope::Read),
        ("GET", "/v1/streams/task-1", None, Scope::Read),
        (
            "PUT",
            "/v1/streams/task-1/snapshot",
            Some(json!({"version": 1, "state": {}})),
            Scope::Append,
        ),
        ("GET", "/v1/streams/task-1/snapshot", None, Scope::Read),
        ("GET", "/v1/events", None, Scope::Read),
        ("GET", "/v1/head", None, Scope::Read),
        ("GET", "/v1/stats", None, Scope::Read),
        ("GET", "/metrics", None, Scope::Read),
        ("GET", "/v1/projections/agents", None, Scope::Read),
        ("GET", "/v1/projections/tasks", None, Scope::Read),
        ("GET", "/v1/projections/memory", None, Scope::Read),
        ("GET", "/v1/runs", None, Scope::Read),
        ("GET", "/v1/runs/metrics", None, Scope::Read),
        ("GET", "/v1/runs/violations", None, Scope::Read),
        ("POST", "/v1/runs", Some(run()), Scope::Append),
        (
            "GET",
            "/v1/subscribe?from=0&types=none:x",
            None,
            Scope::Read,
        ),
        (
            "POST",
            "/v1/streams/task-1/truncate",
            Some(json!({"before": 1})),
            Scope::Admin,
        ),
        (
            "POST",
            "/v1/retention",
            Some(json!({"maxEvents": 100})),
            Scope::Admin,
        ),
        ("GET", "/v1/verify", None, Scope::Admin),
        ("DELETE", "/v1/streams/task-2", None, Scope::Admin),
    ]
}

#[tokio::test]
async fn each_scope_against_each_endpoint() {
    let (server, tokens) = start().await;
    // One event first, so reads of task-1 find a stream.
    let (status, _) = call(
        &server,
        Some(&tokens.append),
        "POST",
        "/v1/streams/task-1/events",
        Some(batch()),
    )
    .await;
    assert_eq!(status, 200);
    for (method, path, body, needed) in endpoints() {
        for (name, token, scopes) in [
            ("read", &tokens.read, vec![Scope::Read]),
            ("append", &tokens.append, vec![Scope::Append]),
            ("admin", &tokens.admin, vec![Scope::Admin]),
        ] {
            let allowed = scopes.contains(&needed) || scopes.contains(&Scope::Admin);
            let (status, answer) = call(&server, Some(token), method, path, body.clone()).await;
            if allowed {
                assert!(status < 400, "{name} {method} {path}: {status} {answer}");
            } else {
                assert_eq!(status, 403, "{name} {method} {path}: {answer}");
                assert_eq!(answer["code"], "forbidden");
            }
        }
        for (what, token) in [
            ("missing", None),
            ("wrong", Some("annal_0000")),
            ("revoked", Some(tokens.revoked.as_str())),
        ] {
            let (status, answer) = call(&server, token, method, path, body.clone()).await;
            assert_eq!(status, 401, "{what} token, {method} {path}: {answer}");
            assert_eq!(answer["code"], "unauthorized");
        }
    }
    for open in ["/healthz", "/readyz"] {
        assert_eq!(call(&server, None, "GET", open, None).await.0, 200);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_revocation_takes_effect_on_the_next_request() {
    let (server, tokens) = start().await;
    assert_eq!(
        call(&server, Some(&tokens.read), "GET", "/v1/head", None)
            .await
            .0,
        200
    );
    let path = server.dir.path().join("tokens.json");
    let mut file = TokenFile::load(&path).unwrap();
    let id = file.authenticate(&tokens.read).unwrap().id.clone();
    file.revoke(&id, 2).unwrap();
    file.save(&path).unwrap();
    assert_eq!(
        call(&server, Some(&tokens.read), "GET", "/v1/head", None)
            .await
            .0,
        401
    );
    server.stop().await;
}

/// Sends a raw request line, so no client normalizes the path first.
async fn raw(server: &Server, token: &str, path: &str) -> u16 {
    let address = server.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = batch().to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).await.unwrap();
    answer[9..12].parse().unwrap()
}

#[tokio::test]
async fn a_stream_limited_token_cannot_escape_its_streams() {
    let (server, tokens) = start().await;
    let agent = Some(tokens.agent.as_str());
    let post = |path: &str| {
        let path = path.to_owned();
        let server = &server;
        async move { call(server, agent, "POST", &path, Some(batch())).await }
    };
    assert_eq!(post("/v1/streams/agent-7/events").await.0, 200);
    assert_eq!(post("/v1/streams/task-42/events").await.0, 200);
    // Percent-encoding decodes to the same id before the check.
    assert_eq!(post("/v1/streams/%61gent-7/events").await.0, 200);
    assert_eq!(post("/v1/streams/%61gent-8/events").await.0, 403);
    assert_eq!(post("/v1/streams/agent-70/events").await.0, 403);
    assert_eq!(post("/v1/streams/agent-1/events").await.0, 403);
    // `task-../agent-1` is a stream id of its own under `task-`, never agent-1.
    let (status, answer) = post("/v1/streams/task-..%2Fagent-1/events").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["stream"], "task-../agent-1");
    assert_eq!(
        raw(&server, &tokens.agent, "/v1/streams/task-../agent-1/events").await,
        404
    );
    assert_eq!(
        raw(
            &server,
            &tokens.agent,
            "/v1/streams/task-/../agent-1/events"
        )
        .await,
        404
    );
    assert_eq!(
        raw(
            &server,
            &tokens.agent,
            "/v1/streams/task-%2F..%2F..%2Fagent-1/events"
        )
        .await,
        200
    );
    assert_eq!(post("/v1/streams/%20/events").await.0, 403);
    assert_eq!(
        post(&format!("/v1/streams/task-{}/events", "x".repeat(300)))
            .await
            .0,
        400
    );
    let (_, agent_one) = call(
        &server,
        Some(&tokens.admin),
        "GET",
        "/v1/streams/agent-1",
        None,
    )
    .await;
    assert_eq!(agent_one["version"], 0, "agent-1 must be untouched");

    // Reads: the token sees only its streams, and cannot ask for answers spanning all streams.
    call(
        &server,
        Some(&tokens.admin),
        "POST",
        "/v1/streams/agent-1/events",
        Some(batch()),
    )
    .await;
    let (_, seen) = call(&server, agent, "GET", "/v1/events", None).await;
    let streams: Vec<&str> = seen
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["aggregateId"].as_str().unwrap())
        .collect();
    assert!(!streams.is_empty());
    assert!(
        streams
            .iter()
            .all(|s| *s == "agent-7" || s.starts_with("task-")),
        "{streams:?}"
    );
    assert_eq!(
        call(&server, agent, "GET", "/v1/streams/agent-1/events", None)
            .await
            .0,
        403
    );
    assert_eq!(call(&server, agent, "GET", "/v1/stats", None).await.0, 403);
    assert_eq!(call(&server, agent, "GET", "/v1/verify", None).await.0, 403);
    server.stop().await;
}
