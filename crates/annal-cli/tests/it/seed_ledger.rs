// Goal: a seed guidance ledger directory (docs/seed-formats.md §2) imports as `run:recorded`
// events, reports its torn last line, leaves the directory byte for byte unchanged (index.json
// and a stale .lock included), re-imports as a no-op, and exports back to the same run events.
// Method: write the directory by hand, run `annal import` and `annal export --format
// seed-ledger`, compare files and parsed lines.

// Test code: a failed set-up step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::support::Sandbox;

/// One run event line as the seed writes it: compact, keys in the seed's field order.
fn run_line(id: &str, task: &str, timestamp: i64, session: Option<&str>) -> String {
    let session = session.map_or_else(String::new, |s| format!(r#","sessionId":"{s}""#));
    format!(
        r#"{{"eventId":"{id}","taskId":"{task}","guidanceHash":"sha256:abc","retrievedRuleIds":["R001"],"toolsUsed":["cargo test"],"filesTouched":["src/lib.rs"],"diffSummary":{{"linesAdded":10,"linesRemoved":2,"filesChanged":1}},"testResults":{{"ran":true,"passed":5,"failed":0,"skipped":1}},"violations":[{{"ruleId":"R001","description":"d","severity":"high","autoCorrected":true}}],"outcomeAccepted":null,"reworkLines":3,"intent":"bug-fix","timestamp":{timestamp},"durationMs":42{session}}}"#
    )
}

/// Every file of `dir` and its bytes.
fn snapshot_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn seed_ledger_imports_reports_torn_line_and_round_trips() {
    let sandbox = Sandbox::new();
    let ledger = sandbox.path("guidance");
    std::fs::create_dir(&ledger).unwrap();
    let run_lines = [
        run_line("e-1", "task-a", 1_000, Some("session-1")),
        run_line("e-2", "task-b", 3_000, None),
        run_line("e-3", "task-a", 2_000, None),
    ];
    let runs: Vec<Value> = run_lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut text = String::new();
    for line in &run_lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(r#"{"eventId":"e-4","taskId":"ta"#);
    std::fs::write(ledger.join("events.ndjson"), &text).unwrap();
    std::fs::write(
        ledger.join("index.json"),
        "{\n  \"eventCount\": 99,\n  \"oldestTimestamp\": 1,\n  \"newestTimestamp\": 2,\n  \"taskIds\": []\n}",
    )
    .unwrap();
    std::fs::write(
        ledger.join(".lock"),
        r#"{"holder":"4b7f2c9e-0000-4000-8000-000000000000","timestamp":1,"pid":12345}"#,
    )
    .unwrap();
    let before = snapshot_dir(&ledger);

    let report = sandbox.json_lines(&["import", ledger.to_str().unwrap()]);
    assert_eq!(
        report[0]["format"], "seed-ledger",
        "detected as a directory with events.ndjson"
    );
    assert_eq!(report[0]["imported"], 3, "{report:?}");
    let bad = report[0]["skippedBad"].as_array().unwrap();
    assert_eq!(bad.len(), 1, "{bad:?}");
    let bad = bad[0].as_str().unwrap();
    assert!(bad.contains("line 4") && bad.contains("torn"), "{bad}");
    assert_eq!(
        snapshot_dir(&ledger),
        before,
        "the source directory is never modified"
    );

    let stored = sandbox.json_lines(&["query", "--type", "run:recorded"]);
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0]["id"], "e-1");
    assert_eq!(stored[0]["aggregateId"], "run-task-a");
    assert_eq!(stored[0]["aggregateType"], "run");
    assert_eq!(stored[0]["timestamp"], 1_000);
    assert_eq!(stored[0]["correlationId"], "session-1");
    assert_eq!(stored[0]["payload"], runs[0]);
    assert_eq!(stored[1]["aggregateId"], "run-task-b");
    assert_eq!(stored[2]["version"], 2, "the second run of task-a");

    let again = sandbox.json_lines(&["import", ledger.to_str().unwrap()]);
    assert_eq!(again[0]["imported"], 0);
    assert_eq!(again[0]["skippedExisting"], 3);
    assert_eq!(sandbox.json_lines(&["replay"]).len(), 3);

    // Another event in the store is not a run and stays out of the ledger.
    sandbox.ok(&[
        "append",
        "agent-1",
        "--type",
        "agent:started",
        "--data",
        "{}",
    ]);
    let out = sandbox.path("exported");
    sandbox.ok(&[
        "export",
        "--format",
        "seed-ledger",
        "--output",
        out.to_str().unwrap(),
    ]);
    let exported = std::fs::read_to_string(out.join("events.ndjson")).unwrap();
    assert!(exported.ends_with('\n'));
    let lines: Vec<Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, runs, "every run event comes back as it was");
    let original_lines: Vec<&str> = text.lines().take(3).collect();
    assert_eq!(
        exported.lines().collect::<Vec<_>>(),
        original_lines,
        "byte for byte, key order included"
    );
    let index = std::fs::read_to_string(out.join("index.json")).unwrap();
    assert_eq!(
        index,
        "{\n  \"eventCount\": 3,\n  \"oldestTimestamp\": 1000,\n  \"newestTimestamp\": 3000,\n  \"taskIds\": [\n    \"task-a\",\n    \"task-b\"\n  ]\n}"
    );

    let refused = sandbox.run(&[
        "export",
        "--format",
        "seed-ledger",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "a non-empty directory is refused"
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));
}

/// Found by fuzzing: a line that is not UTF-8 stopped the whole import; it is reported by
/// number and skipped, and the lines around it are imported.
#[test]
fn a_line_that_is_not_utf8_is_reported_and_skipped() {
    let sandbox = Sandbox::new();
    let ledger = sandbox.path("ledger");
    std::fs::create_dir(&ledger).unwrap();
    let mut bytes = format!("{}\n", run_line("e-1", "task-a", 1_000, None)).into_bytes();
    bytes.extend_from_slice(b"\xc3\x28 not text\n");
    bytes.extend_from_slice(format!("{}\n", run_line("e-2", "task-a", 2_000, None)).as_bytes());
    std::fs::write(ledger.join("events.ndjson"), bytes).unwrap();
    let report = sandbox.json_lines(&["import", ledger.to_str().unwrap()]);
    assert_eq!(report[0]["imported"], 2, "{report:?}");
    let bad = report[0]["skippedBad"][0].as_str().unwrap();
    assert!(bad.contains("line 2") && bad.contains("UTF-8"), "{bad}");
}
