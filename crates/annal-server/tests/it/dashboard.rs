//! The endpoints the dashboard reads beyond the rest of the API: projections as of a position
//! (time travel), event traces, the stream list, the server status, and the embedded page.

use annal_server::{Scope, ServerConfig, TokenFile};
use serde_json::{Value, json};

use crate::harness::{Server, status_and_json};

/// Appends one event of `event_type` with `payload` at `timestamp` to `stream`; its position.
async fn put(server: &Server, stream: &str, event_type: &str, payload: Value, at: i64) -> u64 {
    let body = json!({"events": [{"type": event_type, "payload": payload, "timestamp": at}]});
    let (status, answer) = server.append(stream, body).await;
    assert_eq!(status, 200, "{answer}");
    answer["firstPosition"].as_u64().unwrap()
}

async fn spawn(server: &Server, agent: &str, at: i64) -> u64 {
    let payload = json!({"agentId": agent, "role": "coder", "domain": "core", "capabilities": []});
    put(server, agent, "agent:spawned", payload, at).await
}

fn ids(list: &Value) -> Vec<String> {
    let list = list.as_array().unwrap();
    list.iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn time_travel_folds_exactly_the_events_up_to_the_position() {
    let server = Server::start().await;
    let first = spawn(&server, "agent-1", 1_000).await;
    spawn(&server, "agent-2", 2_000).await;
    let (status, then) = server
        .get(&format!("/v1/projections/as-of?position={first}"))
        .await;
    assert_eq!(status, 200, "{then}");
    assert_eq!(ids(&then["agents"]), ["agent-1"]);
    assert_eq!(
        (then["position"].clone(), then["head"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(then["timestamp"], 1_000);
    let (_, now) = server.get("/v1/projections/as-of").await;
    assert_eq!(ids(&now["agents"]), ["agent-1", "agent-2"]);
    let (_, second) = server.get("/v1/projections/as-of?offset=1&limit=1").await;
    assert_eq!(ids(&second["agents"]), ["agent-2"]);
    assert_eq!(second["agentTotal"], 2);

    // Later appends change nothing about an earlier position but the head.
    spawn(&server, "agent-3", 3_000).await;
    let (_, again) = server
        .get(&format!("/v1/projections/as-of?position={first}"))
        .await;
    let mut expected = then.clone();
    expected["head"] = json!(3);
    assert_eq!(again, expected);

    // By time: the events stamped at or before it; past the head: the head.
    let (_, by_time) = server.get("/v1/projections/as-of?time=2500").await;
    assert_eq!(ids(&by_time["agents"]), ["agent-1", "agent-2"]);
    let (_, beyond) = server.get("/v1/projections/as-of?position=99").await;
    assert_eq!(beyond["position"], 3);

    for (query, parameter) in [("position=1&time=5", "time"), ("limit=1001", "limit")] {
        let (status, problem) = server.get(&format!("/v1/projections/as-of?{query}")).await;
        assert_eq!(status, 400, "{query}: {problem}");
        assert_eq!(
            (problem["code"].as_str(), problem["parameter"].as_str()),
            (Some("invalid-parameter"), Some(parameter)),
            "{problem}"
        );
    }
    server.stop().await;
}

async fn task(server: &Server, id: &str, agent: &str, priority: &str, fails: Option<&str>) {
    let created = json!({"taskId": id, "taskType": "implementation", "title": id,
        "description": "d", "priority": priority, "dependencies": [], "createdAt": 10});
    put(server, id, "task:created", created, 10).await;
    let started = json!({"taskId": id, "agentId": agent, "startedAt": 20});
    put(server, id, "task:started", started, 20).await;
    match fails {
        Some(error) => {
            let failed = json!({"taskId": id, "error": error, "failedAt": 30, "retryCount": 0});
            put(server, id, "task:failed", failed, 30).await;
            let payload = json!({"agentId": agent, "error": error, "failedAt": 31});
            put(server, agent, "agent:failed", payload, 31).await;
        }
        None => {
            let done = json!({"taskId": id, "completedAt": 40, "duration": 20, "result": {}});
            put(server, id, "task:completed", done, 40).await;
        }
    }
}

/// One agent, three tasks (task-2 fails), one memory write; the write's position.
async fn small_swarm(server: &Server) -> u64 {
    spawn(server, "agent-1", 1).await;
    task(server, "task-1", "agent-1", "high", None).await;
    task(server, "task-2", "agent-1", "low", Some("tests failed")).await;
    task(server, "task-3", "agent-1", "high", None).await;
    let stored = json!({"memoryId": "mem-1", "namespace": "ns", "key": "k",
        "memoryType": "semantic", "size": 64, "storedAt": 50});
    put(server, "mem-1", "memory:stored", stored, 50).await
}

#[tokio::test]
async fn time_travel_pages_and_filters_tasks_and_memory() {
    let server = Server::start().await;
    let memory_write = small_swarm(&server).await;
    let (_, failed) = server.get("/v1/projections/as-of?taskStatus=failed").await;
    let tasks = &failed["tasks"];
    assert_eq!(tasks["total"], 1);
    assert_eq!(tasks["items"][0]["error"], "tests failed");
    assert_eq!(tasks["byStatus"], json!({"completed": 2, "failed": 1}));
    let (_, page) = server
        .get("/v1/projections/as-of?taskPriority=high&offset=1&limit=1")
        .await;
    assert_eq!(page["tasks"]["total"], 2);
    assert_eq!(ids(&page["tasks"]["items"]), ["task-3"]);
    let (_, one) = server.get("/v1/projections/as-of?task=task-2").await;
    assert_eq!(ids(&one["tasks"]["items"]), ["task-2"]);

    let memory = &page["memory"];
    assert_eq!(memory["countByNamespace"], json!({"ns": 1}));
    assert_eq!(memory["sizeByNamespace"], json!({"ns": 64}));
    let before = format!("/v1/projections/as-of?position={}", memory_write - 1);
    assert_eq!(server.get(&before).await.1["memory"]["total"], 0);
    server.stop().await;
}

/// The timeline's marks as (kind, label, end).
fn marks(answer: &Value) -> Vec<(String, String, Option<i64>)> {
    let text = |value: &Value| value.as_str().unwrap().to_owned();
    let timeline = answer["timeline"].as_array().unwrap();
    timeline
        .iter()
        .map(|m| (text(&m["kind"]), text(&m["label"]), m["end"].as_i64()))
        .collect()
}

#[tokio::test]
async fn time_travel_at_the_head_draws_the_timeline_and_equals_a_full_fold() {
    let server = Server::start().await;
    small_swarm(&server).await;
    let (_, all) = server.get("/v1/projections/as-of").await;
    let drawn = marks(&all);
    for (kind, label, end) in [
        ("task", "task-2", Some(30)),
        ("error", "tests failed", None),
        ("task", "task-1", Some(40)),
    ] {
        let expected = (kind.to_owned(), label.to_owned(), end);
        assert!(drawn.contains(&expected), "{expected:?} in {drawn:?}");
    }
    let agent = &all["agents"][0];
    let verdict = [&agent["status"], &agent["health"], &agent["errorCount"]];
    assert_eq!(verdict, [&json!("error"), &json!("failing"), &json!(1)]);

    // Following the head through the server's runners answers what a fold of everything does,
    // before and after more events, and whichever endpoint loaded the runners first.
    let everything = "/v1/projections/as-of?time=9999999999999";
    assert_eq!(server.get(everything).await.1, all);
    for projection in ["agents", "tasks", "memory"] {
        let path = format!("/v1/projections/{projection}");
        assert_eq!(server.get(&path).await.0, 200);
    }
    assert_eq!(server.get("/v1/projections/as-of").await.1, all);
    task(&server, "task-4", "agent-1", "low", Some("lint failed")).await;
    let (_, later) = server.get("/v1/projections/as-of").await;
    assert_eq!(later, server.get(everything).await.1);
    assert_eq!(later["tasks"]["byStatus"]["failed"], 2);
    let (_, exact) = server.get("/v1/projections/as-of?position=3").await;
    assert_eq!(exact["position"], 3);
    server.stop().await;
}

/// A server whose token file holds a read token for every stream and one for `agent-7` only.
async fn with_tokens() -> (Server, String, String) {
    let mut secrets = None;
    let server = Server::start_with(ServerConfig::default(), |dir| {
        let path = dir.join("tokens.json");
        let mut file = TokenFile::default();
        let all = file.create("all", vec![Scope::Admin], vec![], 0).unwrap();
        let limited = file
            .create("limited", vec![Scope::Read], vec!["agent-7".into()], 0)
            .unwrap();
        file.save(&path).unwrap();
        secrets = Some((all.secret, limited.secret));
        Some(path)
    })
    .await;
    let (all, limited) = secrets.unwrap();
    (server, all, limited)
}

async fn get_as(server: &Server, token: &str, path: &str) -> (u16, Value) {
    let request = server.client.get(server.url(path)).bearer_auth(token);
    status_and_json(request.send().await.unwrap()).await
}

async fn post_as(server: &Server, token: &str, stream: &str, events: Value) {
    let request = server
        .client
        .post(server.url(&format!("/v1/streams/{stream}/events")))
        .bearer_auth(token)
        .json(&json!({ "events": events }));
    let (status, answer) = status_and_json(request.send().await.unwrap()).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn a_trace_follows_causes_and_effects_within_what_the_token_sees() {
    let (server, all, limited) = with_tokens().await;
    let event = |id: &str, cause: Option<&str>| json!({"id": id, "type": "x:y", "payload": {}, "causationId": cause, "correlationId": "c-1"});
    post_as(&server, &all, "agent-7", json!([event("e-1", None)])).await;
    post_as(&server, &all, "task-1", json!([event("e-2", Some("e-1"))])).await;
    post_as(&server, &all, "agent-7", json!([event("e-3", Some("e-2"))])).await;

    let (status, trace) = get_as(&server, &all, "/v1/events/e-2/trace").await;
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["event"]["id"], "e-2");
    assert_eq!(ids(&trace["causes"]), ["e-1"]);
    assert_eq!(ids(&trace["effects"]), ["e-3"]);
    assert_eq!(ids(&trace["correlated"]), ["e-1", "e-2", "e-3"]);
    let (_, short) = get_as(&server, &all, "/v1/events/e-1/trace?limit=1").await;
    assert_eq!(ids(&short["effects"]), ["e-2"]);
    assert_eq!(short["effectsTruncated"], true);

    // A token limited to agent-7 sees neither task-1's event nor it in another trace.
    let (status, hidden) = get_as(&server, &limited, "/v1/events/e-2/trace").await;
    assert_eq!(
        (status, hidden["code"].clone()),
        (404, json!("event-not-found"))
    );
    let (_, seen) = get_as(&server, &limited, "/v1/events/e-3/trace").await;
    assert_eq!(ids(&seen["correlated"]), ["e-1", "e-3"]);
    let (status, missing) = get_as(&server, &all, "/v1/events/nope/trace").await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["detail"], "no event has id nope");
    server.stop().await;
}

#[tokio::test]
async fn streams_list_by_prefix_page_by_cursor_and_hide_what_the_token_cannot_see() {
    let (server, all, limited) = with_tokens().await;
    for stream in ["task-2", "task-1", "agent-7", "task-3", "task-1"] {
        post_as(
            &server,
            &all,
            stream,
            json!([{"type": "x:y", "payload": {}}]),
        )
        .await;
    }
    let (status, page) = get_as(&server, &all, "/v1/streams?prefix=task-&limit=2").await;
    assert_eq!(status, 200, "{page}");
    let names = |page: &Value| -> Vec<String> {
        let list = page["streams"].as_array().unwrap();
        list.iter()
            .map(|s| s["stream"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&page), ["task-1", "task-2"]);
    assert_eq!(page["streams"][0]["events"], 2);
    assert_eq!(page["streams"][0]["version"], 2);
    assert_eq!(page["next"], "task-2");
    let (_, last) = get_as(&server, &all, "/v1/streams?prefix=task-&after=task-2").await;
    assert_eq!(
        (names(&last), last["next"].clone()),
        (vec!["task-3".to_owned()], Value::Null)
    );
    let (_, mine) = get_as(&server, &limited, "/v1/streams").await;
    assert_eq!(names(&mine), ["agent-7"]);
    let (status, bad) = get_as(&server, &all, "/v1/streams?limit=0").await;
    assert_eq!((status, bad["parameter"].clone()), (400, json!("limit")));

    // After task-1 loses its first event: one readable event left at version 2, its newest
    // position the fifth of the log; the aggregate type is its events'.
    let truncate = server
        .client
        .post(server.url("/v1/streams/task-1/truncate"))
        .bearer_auth(&all)
        .json(&json!({"before": 2, "force": true}));
    let (status, answer) = status_and_json(truncate.send().await.unwrap()).await;
    assert_eq!(status, 200, "{answer}");
    let (_, page) = get_as(&server, &all, "/v1/streams?prefix=task-1").await;
    let task_1 = &page["streams"][0];
    assert_eq!(
        (
            &task_1["events"],
            &task_1["version"],
            &task_1["lastPosition"],
            &task_1["aggregateType"]
        ),
        (&json!(1), &json!(2), &json!(5), &json!("x"))
    );
    server.stop().await;
}

#[tokio::test]
async fn status_reports_the_head_and_each_projection_lag() {
    let server = Server::start().await;
    spawn(&server, "agent-1", 1).await;
    spawn(&server, "agent-2", 2).await;
    let (status, before) = server.get("/v1/status").await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["head"], 2);
    let unloaded = json!({"name": "swarm.agent-state", "checkpoint": null, "lag": null});
    assert_eq!(before["projections"][0], unloaded);
    assert_eq!(server.get("/v1/projections/agents").await.0, 200);
    spawn(&server, "agent-3", 3).await;
    let (_, after) = server.get("/v1/status").await;
    let behind = json!({"name": "swarm.agent-state", "checkpoint": 2, "lag": 1});
    assert_eq!(after["projections"][0], behind);
    assert_eq!(after["projections"][1]["checkpoint"], Value::Null);
    assert_eq!(after["liveSubscribers"], 0);
    // Time travel at the head catches up the same projections.
    assert_eq!(server.get("/v1/projections/as-of").await.0, 200);
    let (_, caught_up) = server.get("/v1/status").await;
    for projection in caught_up["projections"].as_array().unwrap() {
        assert_eq!(
            (&projection["checkpoint"], &projection["lag"]),
            (&json!(3), &json!(0))
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn the_dashboard_is_served_from_the_binary_with_a_strict_policy() {
    let server = Server::start().await;
    let page = server.client.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let header = |response: &reqwest::Response, name: &str| {
        let value = response.headers().get(name).unwrap();
        value.to_str().unwrap().to_owned()
    };
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert!(header(&page, "content-security-policy").contains("default-src 'self'"));
    assert!(page.text().await.unwrap().contains("/assets/app.js"));
    let script = server
        .client
        .get(server.url("/assets/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&script, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(script.text().await.unwrap().len() > 1000);
    let (status, missing) = server.get("/assets/nothing.js").await;
    assert_eq!((status, missing["code"].clone()), (404, json!("not-found")));
    server.stop().await;
}
