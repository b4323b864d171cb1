// Goal: every reading and writing command works in both output modes. Method: append through the
// CLI, then read back with read, query, replay, stats, in human and JSON form.

use crate::support::Sandbox;

fn seed(sandbox: &Sandbox) {
    sandbox.ok(&["init"]);
    sandbox.ok(&[
        "append",
        "agent-1",
        "--type",
        "agent:spawned",
        "--data",
        r#"{"role":"coder"}"#,
        "--expected-version",
        "no-stream",
    ]);
    sandbox.ok(&[
        "append",
        "task-1",
        "--type",
        "task:created",
        "--data",
        r#"{"title":"t"}"#,
        "--correlation-id",
        "run-1",
        "--source",
        "orchestrator",
    ]);
    sandbox.ok(&[
        "append",
        "agent-1",
        "--type",
        "agent:started",
        "--data",
        "{}",
        "--expected-version",
        "1",
    ]);
}

#[test]
fn init_creates_the_store() {
    let sandbox = Sandbox::new();
    let out = sandbox.ok(&["init"]);
    assert!(out.contains("store ready"), "{out}");
    assert!(sandbox.store().exists());
}

#[test]
fn append_then_read_in_both_modes() {
    let sandbox = Sandbox::new();
    seed(&sandbox);
    let human = sandbox.ok(&["read", "agent-1"]);
    assert!(
        human.contains("agent:spawned") && human.contains("agent:started"),
        "{human}"
    );
    let events = sandbox.json_lines(&["read", "agent-1"]);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["version"], 1);
    assert_eq!(events[0]["payload"]["role"], "coder");
    assert_eq!(events[1]["position"], 3);
    let back = sandbox.json_lines(&["read", "agent-1", "--backward", "--limit", "1"]);
    assert_eq!(back[0]["type"], "agent:started");
    let from = sandbox.json_lines(&["read", "agent-1", "--from-version", "2"]);
    assert_eq!(from.len(), 1);
}

#[test]
fn global_flags_work_before_or_after_the_command() {
    let sandbox = Sandbox::new();
    seed(&sandbox);
    let store = sandbox.store();
    let store = store.to_str().unwrap();
    let before = sandbox.ok(&["--json", "--store", store, "read", "task-1"]);
    let after = sandbox.ok(&["read", "task-1", "--store", store, "--json"]);
    assert_eq!(before, after);
}

#[test]
fn query_filters_and_pages() {
    let sandbox = Sandbox::new();
    seed(&sandbox);
    let agents = sandbox.json_lines(&["query", "--aggregate-type", "agent"]);
    assert_eq!(agents.len(), 2);
    let run = sandbox.json_lines(&["query", "--correlation-id", "run-1"]);
    assert_eq!(run.len(), 1);
    assert_eq!(run[0]["source"], "orchestrator");
    let typed = sandbox.json_lines(&["query", "--type", "agent:spawned,task:created"]);
    assert_eq!(typed.len(), 2);
    let paged = sandbox.json_lines(&["query", "--offset", "1", "--limit", "1"]);
    assert_eq!(paged[0]["position"], 2);
    let newest = sandbox.json_lines(&["query", "--backward", "--limit", "1"]);
    assert_eq!(newest[0]["position"], 3);
}

#[test]
fn replay_and_stats() {
    let sandbox = Sandbox::new();
    seed(&sandbox);
    let all = sandbox.json_lines(&["replay"]);
    assert_eq!(
        all.iter()
            .map(|e| e["position"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let later = sandbox.json_lines(&["replay", "--from-position", "3"]);
    assert_eq!(later.len(), 1);
    let stats = sandbox.json_lines(&["stats"]);
    assert_eq!(stats[0]["totalEvents"], 3);
    assert_eq!(stats[0]["eventsByType"]["agent:spawned"], 1);
    let human = sandbox.ok(&["stats"]);
    assert!(
        human.contains("events") && human.contains("agent:started"),
        "{human}"
    );
}

#[test]
fn completions_and_man_page_are_generated() {
    let sandbox = Sandbox::new();
    assert!(sandbox.ok(&["completions", "bash"]).contains("annal"));
    assert!(sandbox.ok(&["man"]).contains(".TH"));
}

#[test]
fn closed_pipe_is_not_an_error() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["init"]);
    // One stream, so the lines merge into a few large batches; the replay prints ~150 KB.
    let lines: String = (0..1500)
        .map(|n| {
            format!("{{\"aggregateId\":\"s\",\"type\":\"note:added\",\"payload\":{{\"n\":{n}}}}}\n")
        })
        .collect();
    let output = sandbox.run_with_input(&["append", "--stdin"], &lines);
    assert!(output.status.success());
    let mut child = sandbox
        .command(&["replay"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe, as `annal replay | head -1` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
