// Goal: every tool answers good arguments correctly on every backend, and a read-only server
// neither lists nor runs the state-changing tools. Method: one rmcp client per backend calls
// each tool in turn, checking the structured answers field by field and, for writes, the
// events stored.

// Test code: a failed step should fail the test at once.
#![allow(clippy::unwrap_used)]

use annal::{EventType, Filter, Store, collect};
use annal_mcp::WRITE_TOOLS;
use serde_json::{Value, json};

use crate::support::{Client, connect, every_backend, sqlite};

const READ_TOOLS: &[&str] = &[
    "agent_health",
    "agent_list",
    "agent_status",
    "events_query",
    "events_read",
    "events_recent",
    "events_trace",
    "memory_list",
    "memory_retrieve",
    "memory_search",
    "memory_stats",
    "projection_get",
    "store_stats",
    "streams_list",
    "swarm_status",
    "task_list",
    "task_status",
];

#[tokio::test]
async fn every_tool_answers_on_every_backend() {
    for backend in every_backend().await {
        let client = connect(backend.store.clone(), true).await;
        let mut names = client.tool_names().await;
        names.sort();
        let mut expected: Vec<&str> = READ_TOOLS.iter().chain(WRITE_TOOLS).copied().collect();
        expected.sort();
        assert_eq!(names, expected, "{}", backend.name);
        swarm_and_agents(&client).await;
        let task = tasks(&client, &*backend.store).await;
        memory(&client).await;
        history(&client, &task).await;
    }
}

async fn swarm_and_agents(client: &Client) {
    let swarm = client
        .ok(
            "swarm_init",
            json!({"topology": "hierarchical", "maxAgents": 4, "strategy": "balanced"}),
        )
        .await;
    let swarm_id = swarm["swarmId"].as_str().unwrap().to_owned();
    assert!(swarm_id.starts_with("swarm-"));
    let spawned = client
        .ok("agent_spawn", json!({"agentType": "coder", "agentId": "agent-a", "domain": "core", "swarmId": swarm_id, "model": "sonnet"}))
        .await;
    assert_eq!(spawned["agentId"], "agent-a");
    assert_eq!(spawned["version"], 1);
    client
        .ok(
            "agent_spawn",
            json!({"agentType": "tester", "agentId": "agent-b"}),
        )
        .await;
    let status = client
        .ok("agent_status", json!({"agentId": "agent-a"}))
        .await;
    assert_eq!(status["agentType"], "coder");
    assert_eq!(status["domain"], "core");
    assert_eq!(status["status"], "idle");
    assert_eq!(status["history"][0]["type"], "agent:spawned");
    assert_eq!(status["history"][0]["correlationId"], swarm_id.as_str());
    let list = client.ok("agent_list", json!({"domain": "core"})).await;
    assert_eq!(list["total"], 1);
    let health = client.ok("agent_health", json!({})).await;
    assert_eq!(health["agents"].as_array().unwrap().len(), 2);
    assert_eq!(health["agents"][0]["health"], "healthy");
    let swarm_status = client.ok("swarm_status", json!({})).await;
    assert_eq!(swarm_status["swarmId"], swarm_id.as_str());
    assert_eq!(swarm_status["topology"], "hierarchical");
    assert_eq!(swarm_status["config"]["strategy"], "balanced");
    assert_eq!(swarm_status["agents"]["idle"], 2);
    let stopped = client
        .ok("agent_terminate", json!({"agentId": "agent-b"}))
        .await;
    assert_eq!(stopped["status"], "terminated");
    let b = client
        .ok("agent_status", json!({"agentId": "agent-b"}))
        .await;
    assert_eq!(b["status"], "completed");
}

/// Creates, assigns, starts, progresses and completes one task, cancels another; returns the
/// completed task's id.
async fn tasks(client: &Client, store: &dyn Store) -> String {
    let created = client
        .ok("task_create", json!({"type": "bugfix", "description": "Fix the parser\nIt drops lines", "priority": "high", "tags": ["parser"]}))
        .await;
    let task = created["taskId"].as_str().unwrap().to_owned();
    assert_eq!(created["title"], "Fix the parser");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["priority"], "high");
    let assigned = client
        .ok(
            "task_assign",
            json!({"taskId": task, "agentIds": ["agent-a"]}),
        )
        .await;
    assert_eq!(assigned["status"], "assigned");
    assert_eq!(assigned["assignedTo"], json!(["agent-a"]));
    let started = client
        .ok(
            "task_update",
            json!({"taskId": task, "status": "in_progress", "progress": 40}),
        )
        .await;
    assert_eq!(started["status"], "in_progress");
    assert_eq!(started["progress"], 40.0);
    let version = started["version"].as_u64().unwrap();
    let done = client
        .ok(
            "task_complete",
            json!({"taskId": task, "result": {"lines": 3}, "expectedVersion": version}),
        )
        .await;
    assert_eq!(done["version"], version + 1);
    let status = client.ok("task_status", json!({"taskId": task})).await;
    assert_eq!(status["status"], "completed");
    assert_eq!(status["result"], json!({"lines": 3}));
    assert_eq!(status["progress"], 100.0);
    let types: Vec<&str> = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "task:created",
            "task:started",
            "task:progress",
            "task:completed"
        ]
    );
    let agent = client
        .ok("agent_status", json!({"agentId": "agent-a"}))
        .await;
    assert_eq!(agent["completedTasks"], json!([task]));

    let other = client
        .ok(
            "task_create",
            json!({"type": "research", "description": "Read the spec"}),
        )
        .await;
    let other = other["taskId"].as_str().unwrap().to_owned();
    let cancelled = client
        .ok(
            "task_cancel",
            json!({"taskId": other, "reason": "out of scope"}),
        )
        .await;
    assert_eq!(cancelled["taskId"], other.as_str());
    let list = client.ok("task_list", json!({"status": "cancelled"})).await;
    assert_eq!(list["tasks"][0]["taskId"], other.as_str());
    let list = client
        .ok(
            "task_list",
            json!({"status": "completed,cancelled", "limit": 10}),
        )
        .await;
    assert_eq!(list["total"], 2);
    let filter = Filter {
        event_types: vec![EventType::new("task:completed").unwrap()],
        ..Filter::all()
    };
    assert_eq!(
        collect(store.query(&filter).await.unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
    task
}

async fn memory(client: &Client) {
    let stored = client
        .ok("memory_store", json!({"key": "plan", "value": "parse first, then index", "namespace": "proj", "tags": ["a"]}))
        .await;
    assert_eq!(stored["success"], true);
    assert_eq!(stored["version"], 1);
    client
        .ok(
            "memory_store",
            json!({"key": "owner", "value": {"name": "agent-a"}}),
        )
        .await;
    let got = client
        .ok(
            "memory_retrieve",
            json!({"key": "plan", "namespace": "proj"}),
        )
        .await;
    assert_eq!(got["value"], "parse first, then index");
    assert_eq!(got["tags"], json!(["a"]));
    assert_eq!(got["storedBy"]["type"], "memory:stored");
    let list = client.ok("memory_list", json!({"namespace": "proj"})).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["entries"][0]["key"], "plan");
    let found = client.ok("memory_search", json!({"query": "INDEX"})).await;
    assert_eq!(found["results"][0]["key"], "plan");
    assert_eq!(found["matching"], "text");
    let found = client
        .ok("memory_search", json!({"query": "agent-a"}))
        .await;
    assert_eq!(found["results"][0]["key"], "owner");
    let stats = client.ok("memory_stats", json!({})).await;
    assert_eq!(stats["active"], 2);
    let deleted = client
        .ok("memory_delete", json!({"key": "plan", "namespace": "proj"}))
        .await;
    assert_eq!(deleted["version"], 2);
    let stats = client.ok("memory_stats", json!({})).await;
    assert_eq!(
        (stats["active"].clone(), stats["deleted"].clone()),
        (json!(1), json!(1))
    );
    let entry = client
        .ok(
            "projection_get",
            json!({"kind": "memory", "id": "plan", "namespace": "proj"}),
        )
        .await;
    assert_eq!(entry["memory"]["status"], "deleted");
    assert_eq!(entry["events"].as_array().unwrap().len(), 2);
}

async fn history(client: &Client, task: &str) {
    let read = client.ok("events_read", json!({"stream": task})).await;
    assert_eq!(read["version"], 4);
    assert_eq!(read["events"].as_array().unwrap().len(), 4);
    let back = client
        .ok(
            "events_read",
            json!({"stream": task, "direction": "backward", "limit": 1}),
        )
        .await;
    assert_eq!(back["events"][0]["type"], "task:completed");
    let page = client
        .ok(
            "events_query",
            json!({"aggregateTypes": ["task"], "limit": 3}),
        )
        .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    let next = client
        .ok(
            "events_query",
            json!({"aggregateTypes": ["task"], "limit": 3, "cursor": cursor}),
        )
        .await;
    assert!(next["events"][0]["position"].as_u64() > page["events"][2]["position"].as_u64());
    let recent = client
        .ok(
            "events_recent",
            json!({"count": 2, "types": ["memory:deleted", "memory:stored"]}),
        )
        .await;
    let types: Vec<&Value> = recent["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["type"])
        .collect();
    assert_eq!(types, [&json!("memory:deleted"), &json!("memory:stored")]);
    let streams = client.ok("streams_list", json!({"prefix": "agent-"})).await;
    assert_eq!(
        streams["streams"],
        json!([{"stream": "agent-a", "version": 3, "events": 3}, {"stream": "agent-b", "version": 2, "events": 2}])
    );
    let stats = client.ok("store_stats", json!({"top": 2})).await;
    assert!(stats["totalEvents"].as_u64().unwrap() >= 15);
    let completed = &read["events"][3];
    let trace = client
        .ok("events_trace", json!({"eventId": completed["id"]}))
        .await;
    let causes: Vec<&Value> = trace["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["type"])
        .collect();
    assert_eq!(
        causes,
        [
            &json!("task:created"),
            &json!("task:started"),
            &json!("task:progress")
        ]
    );
    assert_eq!(trace["effects"][0]["type"], "agent:task-completed");
    assert_eq!(trace["correlationId"], task);
    let appended = client
        .ok("events_append", json!({"stream": "notes-1", "expectedVersion": "no-stream", "events": [{"type": "note:added", "payload": {"text": "hi"}}]}))
        .await;
    assert_eq!(appended["version"], 1);
    let task_entry = client
        .ok("projection_get", json!({"kind": "task", "id": task}))
        .await;
    assert_eq!(task_entry["status"], "completed");
    let agent_entry = client
        .ok("projection_get", json!({"kind": "agent", "id": "agent-a"}))
        .await;
    assert_eq!(agent_entry["completedTasks"], json!([task]));
}

#[tokio::test]
async fn read_only_server_hides_and_refuses_state_changing_tools() {
    let backend = sqlite().await;
    let client = connect(backend.store.clone(), false).await;
    let mut names = client.tool_names().await;
    names.sort();
    assert_eq!(names, READ_TOOLS);
    let params = rmcp::model::CallToolRequestParams::new("task_create").with_arguments(
        json!({"type": "x", "description": "y"})
            .as_object()
            .unwrap()
            .clone(),
    );
    let refused = client.service.call_tool(params).await;
    let text = match refused {
        Ok(result) => {
            assert_eq!(result.is_error, Some(true), "{result:?}");
            format!("{result:?}")
        }
        Err(error) => error.to_string(),
    };
    assert!(
        text.contains("read-only") || text.contains("not found"),
        "{text}"
    );
    assert_eq!(
        backend.store.head().await.unwrap().0,
        0,
        "nothing was written"
    );
}
