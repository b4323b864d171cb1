// Goal: bad arguments get tool-level errors (isError) that say what to do: the actual version
// for a wrong expected version, "streams_list lists them" for an unknown stream, the listing
// tool for an unknown task, agent or key; long payloads are shortened with a note. Method: an
// rmcp client calls each tool with bad arguments on a SQLite store and checks the error
// fields, then checks nothing was written by the refused calls.

// Test code: a failed step should fail the test at once.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use crate::support::{connect, sqlite};

#[tokio::test]
async fn bad_arguments_get_errors_that_say_what_to_do() {
    let backend = sqlite().await;
    let client = connect(backend.store.clone(), true).await;

    let e = client
        .err("events_read", json!({"stream": "task-404"}))
        .await;
    assert_eq!(e["error"], "no_such_stream");
    assert!(e["hint"].as_str().unwrap().contains("streams_list"));

    client
        .ok(
            "events_append",
            json!({"stream": "s", "events": [{"type": "a:b", "payload": {}}]}),
        )
        .await;
    let e = client
        .err("events_append", json!({"stream": "s", "expectedVersion": 0, "events": [{"type": "a:b", "payload": {}}]}))
        .await;
    assert_eq!(e["error"], "wrong_expected_version");
    assert_eq!(e["actualVersion"], 1);
    assert_eq!(e["expectedVersion"], "0");
    let e = client
        .err("events_append", json!({"stream": "s", "expectedVersion": "soon", "events": [{"type": "a:b", "payload": {}}]}))
        .await;
    assert_eq!(e["error"], "invalid_argument");
    let e = client
        .err(
            "events_append",
            json!({"stream": "s", "events": [{"type": "a:b", "payload": [1]}]}),
        )
        .await;
    assert_eq!(e["error"], "invalid_argument", "{e}");
    let e = client
        .err("events_append", json!({"stream": "s", "events": []}))
        .await;
    assert_eq!(e["error"], "invalid_argument");

    let e = client.err("events_query", json!({"cursor": "abc"})).await;
    assert_eq!(e["error"], "invalid_argument");
    let e = client
        .err("events_query", json!({"since": 10, "until": 5}))
        .await;
    assert_eq!(e["error"], "invalid_argument");
    let e = client.err("events_query", json!({"types": [""]})).await;
    assert_eq!(e["error"], "invalid_argument");
    let e = client
        .err(
            "events_read",
            json!({"stream": "s", "direction": "sideways"}),
        )
        .await;
    assert_eq!(
        e["error"], "arguments",
        "undecodable arguments are refused by the SDK"
    );
    let e = client.err("events_read", json!({})).await;
    assert_eq!(e["error"], "arguments");
    let e = client
        .err("events_trace", json!({"eventId": "no-such-event"}))
        .await;
    assert_eq!(e["error"], "not_found");

    let e = client
        .err("task_status", json!({"taskId": "task-404"}))
        .await;
    assert_eq!(e["error"], "no_such_task");
    assert!(e["hint"].as_str().unwrap().contains("task_list"));
    let e = client
        .err("task_complete", json!({"taskId": "task-404"}))
        .await;
    assert_eq!(e["error"], "no_such_task");
    let e = client
        .err("task_update", json!({"taskId": "task-404"}))
        .await;
    assert_eq!(e["error"], "invalid_argument");
    let task = client
        .ok("task_create", json!({"type": "t", "description": "d"}))
        .await;
    let task = task["taskId"].as_str().unwrap().to_owned();
    let e = client
        .err("task_update", json!({"taskId": task, "status": "dreaming"}))
        .await;
    assert_eq!(e["error"], "invalid_argument");
    let e = client
        .err(
            "task_update",
            json!({"taskId": task, "status": "in_progress"}),
        )
        .await;
    assert!(e["hint"].as_str().unwrap().contains("task_assign"), "{e}");
    let e = client
        .err("task_update", json!({"taskId": task, "progress": 150}))
        .await;
    assert_eq!(e["error"], "invalid_argument");
    let e = client
        .err(
            "task_assign",
            json!({"taskId": task, "agentIds": ["agent-404"]}),
        )
        .await;
    assert_eq!(e["error"], "no_such_agent");
    let e = client
        .err("task_assign", json!({"taskId": task, "unassign": true}))
        .await;
    assert_eq!(e["error"], "invalid_argument");
    let e = client
        .err(
            "task_complete",
            json!({"taskId": task, "expectedVersion": 7}),
        )
        .await;
    assert_eq!(
        (e["error"].clone(), e["actualVersion"].clone()),
        (json!("wrong_expected_version"), json!(1))
    );
    client.ok("task_cancel", json!({"taskId": task})).await;
    let e = client.err("task_complete", json!({"taskId": task})).await;
    assert_eq!(e["error"], "task_finished");
    assert_eq!(e["status"], "cancelled");
    let e = client.err("task_cancel", json!({"taskId": task})).await;
    assert_eq!(e["error"], "task_finished");
    let e = client.err("task_list", json!({"limit": "ten"})).await;
    assert_eq!(e["error"], "arguments");
    let e = client.err("task_create", json!({"type": "t"})).await;
    assert_eq!(e["error"], "arguments");

    let e = client
        .err("agent_status", json!({"agentId": "agent-404"}))
        .await;
    assert_eq!(e["error"], "no_such_agent");
    assert!(e["hint"].as_str().unwrap().contains("agent_list"));
    let e = client
        .err("agent_terminate", json!({"agentId": "agent-404"}))
        .await;
    assert_eq!(e["error"], "no_such_agent");
    let e = client
        .err("agent_health", json!({"agentId": "agent-404"}))
        .await;
    assert_eq!(e["error"], "no_such_agent");
    let e = client.err("agent_list", json!({"status": "sleepy"})).await;
    assert_eq!(e["error"], "invalid_argument");
    client
        .ok(
            "agent_spawn",
            json!({"agentType": "coder", "agentId": "agent-1"}),
        )
        .await;
    let e = client
        .err(
            "agent_spawn",
            json!({"agentType": "coder", "agentId": "agent-1"}),
        )
        .await;
    assert_eq!(e["error"], "already_exists");
    let e = client
        .err("agent_spawn", json!({"agentType": "coder", "agentId": ""}))
        .await;
    assert_eq!(e["error"], "invalid_argument");

    let e = client.err("memory_retrieve", json!({"key": "nope"})).await;
    assert_eq!(e["error"], "not_found");
    assert!(e["hint"].as_str().unwrap().contains("memory_list"));
    let e = client.err("memory_delete", json!({"key": "nope"})).await;
    assert_eq!(e["error"], "not_found");
    let e = client.err("memory_search", json!({"query": " "})).await;
    assert_eq!(e["error"], "invalid_argument");
    let e = client
        .err(
            "memory_store",
            json!({"key": "k", "value": 1, "namespace": "a/b"}),
        )
        .await;
    assert_eq!(e["error"], "invalid_argument");
    client
        .ok("memory_store", json!({"key": "k", "value": 1}))
        .await;
    let e = client
        .err(
            "memory_store",
            json!({"key": "k", "value": 2, "upsert": false}),
        )
        .await;
    assert_eq!(e["error"], "already_exists");
    let e = client
        .err(
            "memory_store",
            json!({"key": "k", "value": 2, "expectedVersion": 0}),
        )
        .await;
    assert_eq!(e["actualVersion"], 1);
    client
        .ok(
            "memory_store",
            json!({"key": "short-lived", "value": 1, "ttl": 0}),
        )
        .await;
    let e = client
        .err("memory_retrieve", json!({"key": "short-lived"}))
        .await;
    assert_eq!(e["error"], "expired");

    let e = client.err("swarm_status", json!({})).await;
    assert_eq!(e["error"], "no_such_swarm");
    let e = client.err("swarm_init", json!({"maxAgents": 0})).await;
    assert_eq!(e["error"], "invalid_argument");
    let e = client.err("swarm_init", json!({"config": [1]})).await;
    assert_eq!(e["error"], "invalid_argument");
    let e = client
        .err("projection_get", json!({"kind": "task", "id": "task-404"}))
        .await;
    assert_eq!(e["error"], "no_such_task");
    let e = client
        .err("projection_get", json!({"kind": "planet", "id": "x"}))
        .await;
    assert_eq!(e["error"], "arguments");
    let e = client.err("store_stats", json!({"top": -1})).await;
    assert_eq!(e["error"], "arguments");
    let e = client.err("streams_list", json!({"limit": "all"})).await;
    assert_eq!(e["error"], "arguments");
}

#[tokio::test]
async fn long_payloads_are_shortened_with_a_note_unless_full() {
    let backend = sqlite().await;
    let client = connect(backend.store.clone(), true).await;
    let long = "x".repeat(5_000);
    client
        .ok("events_append", json!({"stream": "doc-1", "events": [{"type": "doc:written", "payload": {"text": long}}]}))
        .await;
    let read = client.ok("events_read", json!({"stream": "doc-1"})).await;
    assert_eq!(read["events"][0]["payloadShortened"], true);
    assert_eq!(read["events"][0]["payloadBytes"], 5_011);
    assert!(read["note"].as_str().unwrap().contains("full=true"));
    let full = client
        .ok("events_read", json!({"stream": "doc-1", "full": true}))
        .await;
    assert_eq!(
        full["events"][0]["payload"]["text"].as_str().unwrap().len(),
        5_000
    );
    assert!(full.get("note").is_none());
}
