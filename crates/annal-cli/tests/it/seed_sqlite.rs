// Goal: a seed event store file (docs/seed-formats.md §1) imports with every field intact, versions
// identical, snapshots included; a re-import adds nothing; a file that is not a seed database
// fails with exit 1, names the file and what is missing, and creates no store.
// Method: build the seed's schema with rusqlite in a temp dir, run `annal import`, read back
// with `annal replay --json` and `annal snapshot get --json`.

// Test code: a failed set-up step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use crate::support::{Sandbox, assert_failure};

/// The seed's DDL, as `initialize()` runs it.
const SEED_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  aggregate_id TEXT NOT NULL,
  aggregate_type TEXT NOT NULL,
  version INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  source TEXT NOT NULL,
  payload TEXT NOT NULL,
  metadata TEXT,
  causation_id TEXT,
  correlation_id TEXT
);
CREATE INDEX IF NOT EXISTS idx_aggregate_id ON events(aggregate_id);
CREATE INDEX IF NOT EXISTS idx_aggregate_type ON events(aggregate_type);
CREATE INDEX IF NOT EXISTS idx_event_type ON events(type);
CREATE INDEX IF NOT EXISTS idx_timestamp ON events(timestamp);
CREATE INDEX IF NOT EXISTS idx_version ON events(version);
CREATE UNIQUE INDEX IF NOT EXISTS idx_aggregate_version ON events(aggregate_id, version);
CREATE TABLE IF NOT EXISTS snapshots (
  aggregate_id TEXT PRIMARY KEY,
  aggregate_type TEXT NOT NULL,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  timestamp INTEGER NOT NULL
);
";

/// One seed row: (id, type, aggregate_id, aggregate_type, version, timestamp, source, payload,
/// metadata, causation_id, correlation_id).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    i64,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

/// Interleaved aggregates, some with metadata and causation/correlation ids, some with NULLs.
const ROWS: [Row; 5] = [
    (
        "evt-1-1",
        "agent:spawned",
        "agent-1",
        "agent",
        1,
        1_000,
        "swarm",
        r#"{"agentId":"agent-1","role":"coder","domain":"core","capabilities":["rust"]}"#,
        None,
        None,
        None,
    ),
    (
        "evt-1-2",
        "task:created",
        "task-1",
        "task",
        1,
        1_001,
        "swarm",
        r#"{"taskId":"task-1","taskType":"fix","title":"t","description":"d","priority":"high","dependencies":[],"createdAt":1001}"#,
        Some(r#"{"trace":"abc","n":2}"#),
        Some("evt-1-1"),
        Some("run-7"),
    ),
    (
        "evt-1-3",
        "agent:started",
        "agent-1",
        "agent",
        2,
        1_002,
        "agent-1",
        r#"{"agentId":"agent-1","startedAt":1002}"#,
        Some("{}"),
        None,
        Some("run-7"),
    ),
    (
        "evt-1-4",
        "task:started",
        "task-1",
        "task",
        2,
        1_003,
        "agent-1",
        r#"{"taskId":"task-1","agentId":"agent-1","startedAt":1003}"#,
        None,
        Some("evt-1-2"),
        None,
    ),
    (
        "evt-1-5",
        "swarm:initialized",
        "swarm",
        "swarm",
        1,
        1_004,
        "swarm",
        r#"{"topology":"mesh","maxAgents":4,"config":{},"initializedAt":1004}"#,
        None,
        None,
        None,
    ),
];

fn write_seed(path: &Path) {
    let connection = Connection::open(path).unwrap();
    connection.execute_batch(SEED_SCHEMA).unwrap();
    for row in ROWS {
        connection
            .execute(
                "INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10
                ],
            )
            .unwrap();
    }
    connection
        .execute(
            "INSERT INTO snapshots VALUES ('agent-1', 'agent', 2, ?1, 5000)",
            [r#"{"status":"active","tasks":[]}"#],
        )
        .unwrap();
    connection
        .execute(
            "INSERT INTO snapshots VALUES ('task-1', 'task', 1, ?1, 5001)",
            [r#"{"status":"pending"}"#],
        )
        .unwrap();
}

/// The event a seed row must become, in annal's JSON envelope (positions aside).
fn expected(row: &Row) -> Value {
    json!({
        "id": row.0,
        "type": row.1,
        "aggregateId": row.2,
        "aggregateType": row.3,
        "version": row.4,
        "timestamp": row.5,
        "source": row.6,
        "payload": serde_json::from_str::<Value>(row.7).unwrap(),
        "metadata": row.8.map_or(json!({}), |m| serde_json::from_str(m).unwrap()),
        "causationId": row.9,
        "correlationId": row.10,
    })
}

#[test]
fn seed_database_imports_every_field_and_reimport_adds_nothing() {
    let sandbox = Sandbox::new();
    let seed = sandbox.path("events.db");
    write_seed(&seed);
    let seed_bytes = std::fs::read(&seed).unwrap();

    let report = sandbox.json_lines(&["import", seed.to_str().unwrap()]);
    assert_eq!(report[0]["format"], "seed-sqlite", "detected by its header");
    assert_eq!(report[0]["imported"], 5, "{report:?}");
    assert_eq!(report[0]["skippedExisting"], 0);
    assert_eq!(report[0]["skippedBad"], json!([]));
    assert_eq!(report[0]["snapshotsImported"], 2);

    let events = sandbox.json_lines(&["replay"]);
    assert_eq!(events.len(), ROWS.len());
    for (event, row) in events.iter().zip(ROWS.iter()) {
        let mut event = event.clone();
        let position = event.as_object_mut().unwrap().remove("position");
        assert!(position.is_some());
        // Absent causation/correlation ids may be omitted or null; both read back as none.
        let object = event.as_object_mut().unwrap();
        for key in ["causationId", "correlationId"] {
            object.entry(key).or_insert(Value::Null);
        }
        assert_eq!(
            event,
            expected(row),
            "rowid order is kept, every field intact"
        );
    }

    let snapshot = sandbox.json_lines(&["snapshot", "get", "agent-1"]);
    assert_eq!(snapshot[0]["aggregateType"], "agent");
    assert_eq!(snapshot[0]["version"], 2);
    assert_eq!(snapshot[0]["state"], json!({"status":"active","tasks":[]}));
    assert_eq!(snapshot[0]["timestamp"], 5000);
    let snapshot = sandbox.json_lines(&["snapshot", "get", "task-1"]);
    assert_eq!(snapshot[0]["version"], 1);
    assert_eq!(snapshot[0]["state"], json!({"status":"pending"}));
    assert_eq!(snapshot[0]["timestamp"], 5001);

    let again = sandbox.json_lines(&["import", seed.to_str().unwrap()]);
    assert_eq!(again[0]["imported"], 0);
    assert_eq!(again[0]["skippedExisting"], 5);
    assert_eq!(again[0]["snapshotsImported"], 0);
    assert_eq!(again[0]["snapshotsExisting"], 2);
    assert_eq!(sandbox.json_lines(&["replay"]).len(), ROWS.len());
    assert_eq!(
        std::fs::read(&seed).unwrap(),
        seed_bytes,
        "the source is never written"
    );
}

#[test]
fn bad_rows_and_version_gaps_are_reported_by_rowid_and_skipped() {
    let sandbox = Sandbox::new();
    let seed = sandbox.path("events.db");
    write_seed(&seed);
    let connection = Connection::open(&seed).unwrap();
    connection
        .execute_batch(
            "INSERT INTO events VALUES ('bad-json', 'task:queued', 'task-2', 'task', 1, 9, 'swarm', '{nope', NULL, NULL, NULL);
             INSERT INTO events VALUES ('gap', 'task:queued', 'task-1', 'task', 4, 9, 'swarm', '{}', NULL, NULL, NULL);
             INSERT INTO events VALUES ('after', 'task:queued', 'task-3', 'task', 1, 9, 'swarm', '{}', NULL, NULL, NULL);",
        )
        .unwrap();
    drop(connection);
    let report = sandbox.json_lines(&["import", "--format", "seed-sqlite", seed.to_str().unwrap()]);
    assert_eq!(
        report[0]["imported"], 6,
        "the rows around the bad ones: {report:?}"
    );
    let bad: Vec<&str> = report[0]["skippedBad"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reason| reason.as_str().unwrap())
        .collect();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(
        bad[0].starts_with("rowid 6:") && bad[0].contains("payload is not JSON"),
        "{bad:?}"
    );
    assert!(
        bad[1].starts_with("rowid 7:") && bad[1].contains("version 4"),
        "{bad:?}"
    );
}

#[test]
fn a_file_that_is_not_a_seed_database_is_refused_and_nothing_is_written() {
    let sandbox = Sandbox::new();
    let random = sandbox.path("random.bin");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&random, &bytes).unwrap();
    let output = sandbox.run(&[
        "import",
        "--format",
        "seed-sqlite",
        random.to_str().unwrap(),
    ]);
    assert_failure(&output, 1, "random.bin is not a seed database");
    assert_failure(&output, 1, "not a SQLite file");

    let other = sandbox.path("other.db");
    let connection = Connection::open(&other).unwrap();
    connection
        .execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'a');")
        .unwrap();
    drop(connection);
    let output = sandbox.run(&["import", other.to_str().unwrap()]);
    assert_failure(&output, 1, "other.db is not a seed database");
    assert_failure(&output, 1, "no `events` table");

    let partial = sandbox.path("partial.db");
    let connection = Connection::open(&partial).unwrap();
    connection
        .execute_batch("CREATE TABLE events (id TEXT PRIMARY KEY, type TEXT, payload TEXT);")
        .unwrap();
    drop(connection);
    let output = sandbox.run(&["import", partial.to_str().unwrap()]);
    assert_failure(
        &output,
        1,
        "lacks column(s) aggregate_id, aggregate_type, version",
    );

    assert!(
        !sandbox.store().exists(),
        "a refused import creates no store"
    );
}
