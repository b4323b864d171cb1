// Goal: an agent session reads as one: spawn two agents, create and assign tasks, store
// memory, complete one task and fail another, then ask events_trace why the failed task failed
// and task_status for its history. Method: one rmcp client drives the session on each backend;
// every answer is checked field by field.

// Test code: a failed step should fail the test at once.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::support::{Client, connect, every_backend};

fn types(events: &Value) -> Vec<&str> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_agent_session_explains_why_a_task_failed() {
    for backend in every_backend().await {
        let client = connect(backend.store.clone(), true).await;
        session(&client).await;
    }
}

async fn session(client: &Client) {
    let swarm = client
        .ok("swarm_init", json!({"topology": "mesh", "maxAgents": 2}))
        .await;
    let swarm_id = swarm["swarmId"].as_str().unwrap();
    for (id, kind) in [("agent-coder", "coder"), ("agent-tester", "tester")] {
        let spawned = client
            .ok(
                "agent_spawn",
                json!({"agentType": kind, "agentId": id, "swarmId": swarm_id}),
            )
            .await;
        assert_eq!(spawned["status"], "spawned");
    }
    let build = client
        .ok("task_create", json!({"type": "feature", "description": "Build the index", "assignTo": ["agent-coder"], "correlationId": "run-7"}))
        .await;
    let build = build["taskId"].as_str().unwrap().to_owned();
    let check = client
        .ok("task_create", json!({"type": "test", "description": "Run the migration tests", "priority": "high", "correlationId": "run-7"}))
        .await;
    let check = check["taskId"].as_str().unwrap().to_owned();
    client
        .ok(
            "task_assign",
            json!({"taskId": check, "agentId": "agent-tester"}),
        )
        .await;
    client
        .ok(
            "memory_store",
            json!({"key": "db-url", "value": "postgres://ci/db", "namespace": "run-7"}),
        )
        .await;
    client
        .ok(
            "task_update",
            json!({"taskId": build, "status": "in_progress"}),
        )
        .await;
    client
        .ok(
            "task_update",
            json!({"taskId": check, "status": "in_progress"}),
        )
        .await;
    let done = client
        .ok(
            "task_complete",
            json!({"taskId": build, "result": {"documents": 42}}),
        )
        .await;
    assert_eq!(done["version"], 3);
    let failed = client
        .ok(
            "task_update",
            json!({"taskId": check, "status": "failed", "error": "migration 0007 timed out"}),
        )
        .await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "migration 0007 timed out");

    // Why did the check fail? Its task:failed event, traced.
    let status = client.ok("task_status", json!({"taskId": check})).await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["assignedTo"], json!(["agent-tester"]));
    assert_eq!(status["priority"], "high");
    assert_eq!(status["failureCount"], 1);
    assert!(status["failedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(status["version"], 3);
    assert_eq!(
        types(&status["history"]),
        ["task:created", "task:started", "task:failed"]
    );
    let failure = &status["history"][2];
    assert_eq!(failure["payload"]["error"], "migration 0007 timed out");
    assert_eq!(failure["correlationId"], "run-7");

    let trace = client
        .ok("events_trace", json!({"eventId": failure["id"]}))
        .await;
    assert_eq!(trace["event"]["type"], "task:failed");
    assert_eq!(
        trace["event"]["payload"]["error"],
        "migration 0007 timed out"
    );
    assert_eq!(types(&trace["causes"]), ["task:created", "task:started"]);
    assert_eq!(trace["causes"][1]["payload"]["agentId"], "agent-tester");
    assert_eq!(
        trace["causes"][0]["payload"]["description"],
        "Run the migration tests"
    );
    assert_eq!(trace["missingCause"], Value::Null);
    assert_eq!(trace["effects"], json!([]));
    assert_eq!(trace["correlationId"], "run-7");
    // Everything of run 7, in position order: both tasks' events and the assignments.
    assert_eq!(
        types(&trace["correlated"]),
        [
            "task:created",
            "agent:task-assigned",
            "task:created",
            "agent:task-assigned",
            "task:started",
            "task:started",
            "task:completed",
            "agent:task-completed",
            "task:failed",
        ]
    );
    let positions: Vec<u64> = trace["correlated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]));

    let coder = client
        .ok("agent_status", json!({"agentId": "agent-coder"}))
        .await;
    assert_eq!(coder["completedTasks"], json!([build]));
    assert_eq!(coder["status"], "idle");
    let tester = client
        .ok("agent_status", json!({"agentId": "agent-tester"}))
        .await;
    assert_eq!(tester["failedTasks"], json!([check]));
    let memory = client
        .ok(
            "memory_retrieve",
            json!({"key": "db-url", "namespace": "run-7"}),
        )
        .await;
    assert_eq!(memory["value"], "postgres://ci/db");
    let failed_tasks = client.ok("task_list", json!({"status": "failed"})).await;
    assert_eq!(failed_tasks["total"], 1);
    assert_eq!(failed_tasks["tasks"][0]["taskId"], check.as_str());
}
