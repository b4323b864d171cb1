// Goal: `annal trace EVENT-ID` answers why an event happened (causes), what it led to
// (effects) and what shares its correlation id, as JSON and as a tree; an unknown id is a
// clear error. Method: append a small causal chain with `annal append`, then check both forms.

// Test code: a failed set-up step should fail the test at once.
#![allow(clippy::unwrap_used)]

use crate::support::Sandbox;

fn append(sandbox: &Sandbox, stream: &str, id: &str, cause: Option<&str>, run: &str) {
    let mut args = vec![
        "append",
        stream,
        "--type",
        "task:step",
        "--data",
        "{}",
        "--id",
        id,
        "--correlation-id",
        run,
    ];
    if let Some(cause) = cause {
        args.extend(["--causation-id", cause]);
    }
    sandbox.ok(&args);
}

fn ids(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect()
}

#[test]
fn trace_shows_causes_effects_and_correlated_events() {
    let sandbox = Sandbox::new();
    append(&sandbox, "task-1", "created", Some("cmd-7"), "run-1");
    append(&sandbox, "task-1", "started", Some("created"), "run-1");
    append(&sandbox, "agent-1", "other", None, "run-2");
    append(&sandbox, "task-1", "failed", Some("started"), "run-1");
    append(&sandbox, "agent-1", "agent-failed", Some("failed"), "run-1");

    let trace = &sandbox.json_lines(&["trace", "started"])[0];
    assert_eq!(trace["event"]["id"], "started");
    assert_eq!(ids(&trace["causes"]), ["created"]);
    assert_eq!(trace["missingCause"], "cmd-7");
    assert_eq!(ids(&trace["effects"]), ["failed", "agent-failed"]);
    assert_eq!(
        ids(&trace["correlated"]),
        ["created", "started", "failed", "agent-failed"]
    );

    let tree = sandbox.ok(&["trace", "started"]);
    let lines: Vec<&str> = tree.lines().collect();
    assert!(lines[0].contains("cmd-7"), "{tree}");
    assert!(lines[1].contains("id=created"), "{tree}");
    assert!(
        lines[2].contains("▶") && lines[2].contains("id=started"),
        "{tree}"
    );
    assert!(
        lines[3].contains("└─") && lines[3].contains("id=failed"),
        "{tree}"
    );
    assert!(
        lines[4].contains("└─") && lines[4].contains("id=agent-failed"),
        "{tree}"
    );
    assert!(tree.contains("correlation run-1: 4 events"), "{tree}");
}

#[test]
fn trace_of_an_unknown_id_says_how_to_find_ids() {
    let sandbox = Sandbox::new();
    append(&sandbox, "task-1", "created", None, "run-1");
    let output = sandbox.run(&["trace", "nope"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no event with id nope"), "{stderr}");
}
