// Goal: every command works the same on every backend `--store` can name: the embedded SQLite
// file, an NDJSON directory (`ndjson:DIR`) and a PostgreSQL database (`postgres://…`).
// Method: one script drives every command in JSON mode and checks each answer; the three
// transcripts (timestamps, paths and sizes removed) must then be identical, so a backend that
// answers any command differently fails even where the script's own checks are loose. Each
// backend's backup is restored with that backend's tools and read back.

// Test code: a failed step of the script should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

use crate::support::{Sandbox, assert_failure, lines};

/// Everything the script saw, in order, in comparable form.
type Transcript = Vec<Value>;

struct Script<'a> {
    sandbox: &'a Sandbox,
    transcript: Transcript,
}

impl Script<'_> {
    /// Runs a command with `--json`, records its answer, returns its lines.
    fn json(&mut self, args: &[&str]) -> Vec<Value> {
        let answer = self.sandbox.json_lines(args);
        self.transcript
            .push(comparable(Value::Array(answer.clone())));
        answer
    }
}

/// `value` without what legitimately differs between backends and runs: clock readings, paths,
/// byte counts and the backup's format.
fn comparable(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| {
                    !matches!(
                        key.as_str(),
                        "timestamp"
                            | "oldestTimestamp"
                            | "newestTimestamp"
                            | "spawnedAt"
                            | "lastActivityAt"
                            | "bytesOnDisk"
                            | "output"
                            | "store"
                            | "backup"
                            | "bytes"
                            | "format"
                            | "path"
                    )
                })
                .map(|(key, value)| (key, comparable(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(comparable).collect()),
        other => other,
    }
}

/// Asserts two transcripts are equal, naming the first step where they differ.
#[track_caller]
fn assert_same(left: &Transcript, right: &Transcript) {
    for (step, (a, b)) in left.iter().zip(right).enumerate() {
        assert_eq!(a, b, "step {step} of the script differs");
    }
    assert_eq!(
        left.len(),
        right.len(),
        "the scripts ran different numbers of steps"
    );
}

/// Runs every command against the sandbox's store and returns the transcript.
fn every_command(sandbox: &Sandbox) -> Transcript {
    let mut script = Script {
        sandbox,
        transcript: Vec::new(),
    };
    script.json(&["init"]);
    let appended = script.json(&[
        "append",
        "agent-1",
        "--type",
        "agent:spawned",
        "--data",
        r#"{"agentId":"agent-1","role":"coder","domain":"core","capabilities":["rust"]}"#,
        "--expected-version",
        "no-stream",
        "--id",
        "e-1",
        "--correlation-id",
        "run-1",
    ]);
    assert_eq!(appended[0]["version"], 1, "{appended:?}");
    script.json(&[
        "append",
        "task-1",
        "--type",
        "task:created",
        "--data",
        r#"{"taskId":"task-1","title":"t"}"#,
        "--id",
        "e-2",
    ]);
    // One stream, so the order of commits is the order of lines on every backend (across
    // streams, pipelined lines may commit in any order).
    let lines_in = [
        r#"{"aggregateId":"log","type":"note:added","payload":{"n":1},"id":"e-3"}"#,
        r#"{"aggregateId":"log","type":"note:added","payload":{"n":2},"id":"e-4"}"#,
        r#"{"aggregateId":"log","type":"note:added","payload":{"n":3},"id":"e-5"}"#,
    ]
    .join("\n");
    let output = sandbox.run_with_input(&["append", "--stdin", "--json"], &lines_in);
    crate::support::assert_success(&output, &["append", "--stdin"]);
    let acks = lines(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(acks.len(), 3, "one acknowledgment per line: {acks:?}");
    script.transcript.push(comparable(Value::Array(acks)));

    let wrong = sandbox.run(&[
        "append",
        "agent-1",
        "--type",
        "agent:started",
        "--data",
        "{}",
        "--expected-version",
        "5",
    ]);
    assert_failure(&wrong, 1, "version 1");

    assert_eq!(script.json(&["read", "agent-1"]).len(), 1);
    assert_eq!(
        script
            .json(&["read", "log", "--backward", "--limit", "2"])
            .len(),
        2
    );
    let typed = script.json(&["query", "--type", "note:added", "--offset", "1"]);
    assert_eq!(typed.len(), 2);
    assert_eq!(
        script.json(&["query", "--correlation-id", "run-1"]).len(),
        1
    );
    assert_eq!(script.json(&["replay", "--from-position", "2"]).len(), 4);
    assert_eq!(
        script
            .json(&["tail", "--from-position", "1", "--limit", "3"])
            .len(),
        3
    );
    let stats = script.json(&["stats"]);
    assert_eq!(stats[0]["totalEvents"], 5, "{stats:?}");

    script.json(&[
        "snapshot",
        "save",
        "log",
        "--version",
        "2",
        "--state",
        r#"{"n":2}"#,
    ]);
    assert_eq!(script.json(&["snapshot", "get", "log"])[0]["version"], 2);
    let agents = script.json(&["project", "agents"]);
    assert!(agents[0].to_string().contains("agent-1"), "{agents:?}");
    script.json(&["project", "tasks"]);
    script.json(&["project", "memory"]);
    assert_eq!(script.json(&["verify"])[0]["events"], 5);

    let exported = sandbox.path("export.ndjson");
    script.json(&["export", "--output", exported.to_str().unwrap()]);
    let ledger = sandbox.path("ledger-out");
    script.json(&[
        "export",
        "--format",
        "seed-ledger",
        "--output",
        ledger.to_str().unwrap(),
    ]);
    let again = script.json(&["import", exported.to_str().unwrap()]);
    assert_eq!(again[0]["skippedExisting"], 5, "{again:?}");

    assert_eq!(
        script.json(&["truncate", "log", "--before", "2"])[0]["removed"],
        1
    );
    assert_eq!(
        script.json(&["delete", "task-1", "--expected-version", "1"])[0]["removed"],
        1
    );
    script.json(&["retain", "--max-events", "2"]);
    let left = script.json(&["replay"]);
    assert_eq!(left.len(), 2, "{left:?}");
    script.transcript
}

/// The demo writes a simulated swarm into the store, and the store still verifies.
fn demo_then_verify(sandbox: &Sandbox) {
    let text = sandbox.ok(&["demo", "--agents", "2", "--tasks", "5"]);
    assert!(text.contains("simulated run"), "{text}");
    let report = sandbox.json_lines(&["verify"]);
    assert_eq!(report[0]["problems"], 0, "{report:?}");
    assert!(report[0]["events"].as_u64().unwrap() > 10, "{report:?}");
}

fn restored_replay(sandbox: &Sandbox, store: &str) -> Vec<Value> {
    sandbox.json_lines(&["replay", "--store", store])
}

#[test]
fn sqlite_and_ndjson_answer_every_command_alike() {
    let sqlite = Sandbox::new();
    let ndjson_dir = tempfile::tempdir().unwrap();
    let ndjson_spec = format!("ndjson:{}", ndjson_dir.path().join("store").display());
    let ndjson = Sandbox::with_store(&ndjson_spec);

    let expected = every_command(&sqlite);
    assert_same(&every_command(&ndjson), &expected);

    let copy = ndjson.path("copy");
    ndjson.ok(&["backup", copy.to_str().unwrap()]);
    let copy_spec = format!("ndjson:{}", copy.display());
    assert_eq!(
        restored_replay(&ndjson, &copy_spec),
        ndjson.json_lines(&["replay"])
    );
    assert_failure(
        &ndjson.run(&["backup", copy.to_str().unwrap()]),
        1,
        "never overwrites",
    );

    demo_then_verify(&ndjson);
}

#[test]
fn postgres_answers_every_command_like_sqlite() {
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(annal_testkit::pg_cluster::cluster().fresh_database_url());
    let postgres = Sandbox::with_store(&url);
    let sqlite = Sandbox::new();
    assert_same(&every_command(&postgres), &every_command(&sqlite));

    let dump = postgres.path("annal.dump");
    postgres.ok(&["backup", dump.to_str().unwrap()]);
    let restored = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(annal_testkit::pg_cluster::cluster().fresh_database_url());
    let output = Command::new(annal_testkit::pg_cluster::program("pg_restore"))
        .arg("--no-owner")
        .arg("--dbname")
        .arg(&restored)
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        restored_replay(&postgres, &restored),
        postgres.json_lines(&["replay"])
    );

    demo_then_verify(&postgres);
}

#[test]
fn reading_a_store_that_does_not_exist_names_it_on_every_backend() {
    let sandbox = Sandbox::new();
    let missing_dir = sandbox.path("nowhere");
    let spec = format!("ndjson:{}", missing_dir.display());
    assert_failure(
        &sandbox.run(&["replay", "--store", &spec]),
        1,
        "no store at ndjson:",
    );
    assert!(!missing_dir.exists(), "a read creates nothing");

    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(annal_testkit::pg_cluster::cluster().fresh_database_url());
    assert_failure(
        &sandbox.run(&["stats", "--store", &url]),
        1,
        "no store at postgres",
    );
    // A backup of no store is refused like on the other backends, and leaves no dump behind.
    let dump = sandbox.path("empty.dump");
    let output = sandbox.run(&["backup", dump.to_str().unwrap(), "--store", &url]);
    assert_failure(&output, 1, "no store at postgres");
    assert!(!dump.exists());
    // Still empty: neither the read nor the backup created the schema.
    assert_failure(
        &sandbox.run(&["stats", "--store", &url]),
        1,
        "no store at postgres",
    );
}
