// Goal: `annal project agents|tasks|memory --json` answer from the swarm events in the store,
// filters included. Method: append seed-shaped swarm events (the 23 swarm event types of annal-swarm) with `annal
// append`, then check the JSON answers.

// Test code: a failed set-up step should fail the test at once.
#![allow(clippy::unwrap_used)]

use crate::support::Sandbox;

fn append(sandbox: &Sandbox, stream: &str, event_type: &str, data: &str) {
    sandbox.ok(&["append", stream, "--type", event_type, "--data", data]);
}

#[test]
fn projections_answer_from_appended_swarm_events() {
    let sandbox = Sandbox::new();
    for (agent, role) in [("agent-1", "coder"), ("agent-2", "tester")] {
        append(
            &sandbox,
            agent,
            "agent:spawned",
            &format!(
                r#"{{"agentId":"{agent}","role":"{role}","domain":"core","capabilities":["rust"]}}"#
            ),
        );
    }
    for task in ["task-1", "task-2"] {
        append(
            &sandbox,
            task,
            "task:created",
            &format!(
                r#"{{"taskId":"{task}","taskType":"fix","title":"t","description":"d","priority":"high","dependencies":[],"createdAt":1000}}"#
            ),
        );
        append(
            &sandbox,
            task,
            "task:started",
            &format!(r#"{{"taskId":"{task}","agentId":"agent-1","startedAt":1100}}"#),
        );
    }
    append(
        &sandbox,
        "task-2",
        "task:failed",
        r#"{"taskId":"task-2","error":"boom","failedAt":1300,"retryCount":1}"#,
    );
    for (memory, key) in [("mem-1", "a"), ("mem-2", "b")] {
        append(
            &sandbox,
            memory,
            "memory:stored",
            &format!(
                r#"{{"memoryId":"{memory}","namespace":"ns","key":"{key}","memoryType":"semantic","size":10,"storedAt":1}}"#
            ),
        );
    }
    append(
        &sandbox,
        "mem-2",
        "memory:retrieved",
        r#"{"memoryId":"mem-2","namespace":"ns","key":"b","retrievedAt":2,"accessCount":1}"#,
    );

    let agents = sandbox.json_lines(&["project", "agents"]);
    let list = agents[0]["agents"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let coder = list.iter().find(|a| a["id"] == "agent-1").unwrap();
    assert_eq!(coder["role"], "coder");
    assert_eq!(coder["domain"], "core");
    assert_eq!(coder["failedTasks"], serde_json::json!(["task-2"]));

    let tasks = sandbox.json_lines(&["project", "tasks"]);
    assert_eq!(tasks[0]["tasks"].as_array().unwrap().len(), 2);
    let failed = sandbox.json_lines(&["project", "tasks", "--status", "failed"]);
    let failed_tasks = failed[0]["tasks"].as_array().unwrap();
    assert_eq!(failed_tasks.len(), 1);
    assert_eq!(failed_tasks[0]["id"], "task-2");
    assert_eq!(failed_tasks[0]["error"], "boom");
    assert_eq!(failed_tasks[0]["assignedAgent"], "agent-1");
    assert_eq!(
        failed[0]["failureRate"], 1.0,
        "the only finished task failed"
    );

    let memory = sandbox.json_lines(&["project", "memory", "--top", "1"]);
    let top = memory[0]["memories"].as_array().unwrap();
    assert_eq!(top.len(), 1);
    assert_eq!(top[0]["id"], "mem-2", "the only memory read");
    assert_eq!(memory[0]["sizeByNamespace"]["ns"], 20);
}
