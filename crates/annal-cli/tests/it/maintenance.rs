// Goal: snapshot, truncate, delete, retain and verify do what they say, refuse what they must,
// and report in both modes. Method: build a store through the CLI, run each, read back.

use crate::support::{Sandbox, assert_failure};

fn appended(sandbox: &Sandbox, stream: &str, count: u64) {
    for n in 0..count {
        sandbox.ok(&[
            "append",
            stream,
            "--type",
            "note:added",
            "--data",
            &format!("{{\"n\":{n}}}"),
        ]);
    }
}

#[test]
fn snapshot_save_get_and_refusals() {
    let sandbox = Sandbox::new();
    appended(&sandbox, "agent-1", 3);
    sandbox.ok(&[
        "snapshot",
        "save",
        "agent-1",
        "--version",
        "2",
        "--state",
        r#"{"n":2}"#,
    ]);
    let got = sandbox.json_lines(&["snapshot", "get", "agent-1"]);
    assert_eq!(got[0]["version"], 2);
    assert_eq!(got[0]["state"]["n"], 2);
    let output = sandbox.run(&[
        "snapshot",
        "save",
        "agent-1",
        "--version",
        "1",
        "--state",
        "{}",
    ]);
    assert_failure(&output, 1, "snapshot at version 2, newer than version 1");
    let output = sandbox.run(&["snapshot", "get", "agent-2"]);
    assert_failure(&output, 1, "has no snapshot");
}

#[test]
fn truncate_delete_and_retain() {
    let sandbox = Sandbox::new();
    appended(&sandbox, "log", 5);
    appended(&sandbox, "task-1", 2);
    let report = sandbox.json_lines(&["truncate", "log", "--before", "3"]);
    assert_eq!(report[0]["removed"], 2);
    let report = sandbox.json_lines(&["delete", "task-1", "--expected-version", "2"]);
    assert_eq!(report[0]["removed"], 2);
    let output = sandbox.run(&["delete", "log", "--expected-version", "1"]);
    assert_failure(&output, 1, "is at version 5");
    let report = sandbox.json_lines(&["retain", "--max-events", "1"]);
    assert_eq!(report[0]["removed"], 2);
    let left = sandbox.json_lines(&["replay"]);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["version"], 5);
    assert_eq!(
        sandbox.run(&["retain"]).status.code(),
        Some(2),
        "a policy is required"
    );
}

#[test]
fn verify_reports_a_healthy_store() {
    let sandbox = Sandbox::new();
    appended(&sandbox, "a", 3);
    appended(&sandbox, "b", 2);
    let report = sandbox.json_lines(&["verify"]);
    assert_eq!(report[0]["events"], 5);
    assert_eq!(report[0]["problems"], 0);
    assert!(sandbox.ok(&["verify"]).contains("no problems"));
}

/// `retain --max-age` on a stream whose timestamps are not in version order
/// removes only its oldest prefix, so `verify` still finds every stream contiguous.
#[test]
fn retain_by_age_never_punches_a_hole_in_a_stream() {
    let sandbox = Sandbox::new();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis();
    let stamps = [1_000, 1_000, now_ms, 1_000, now_ms];
    let input: String = stamps
        .iter()
        .map(|timestamp| {
            format!(
                "{{\"aggregateId\":\"s\",\"type\":\"note:added\",\"payload\":{{}},\"timestamp\":{timestamp}}}\n"
            )
        })
        .collect();
    let appended = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert!(appended.status.success());
    let report = sandbox.json_lines(&["retain", "--max-age", "1d"]);
    assert_eq!(report[0]["removed"], 2, "{report:?}");
    let versions: Vec<u64> = sandbox
        .json_lines(&["read", "s"])
        .iter()
        .filter_map(|event| event["version"].as_u64())
        .collect();
    assert_eq!(versions, vec![3, 4, 5]);
    assert_eq!(sandbox.json_lines(&["verify"])[0]["problems"], 0);
}

#[test]
fn verify_deep_checks_the_sqlite_file_and_names_a_damaged_one() {
    let sandbox = Sandbox::new();
    let filler = "x".repeat(200);
    let input: String = (0..400u64)
        .map(|n| {
            format!(
                "{{\"aggregateId\":\"a\",\"type\":\"note:added\",\
                 \"payload\":{{\"n\":{n},\"filler\":\"{filler}\"}}}}\n"
            )
        })
        .collect();
    let appended = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert!(appended.status.success(), "{appended:?}");
    let report = sandbox.json_lines(&["verify", "--deep"]);
    assert_eq!(report[0]["deep"], "sqlite integrity_check: ok");
    assert_eq!(report[0]["problems"], 0);
    // Wreck a leaf page of the events table away from its right edge (0x0D: table leaf).
    let path = sandbox.store();
    let mut bytes = std::fs::read(&path).unwrap();
    let pages = bytes.len() / 4096;
    let leaf = (2..pages - 2)
        .find(|page| bytes[page * 4096] == 0x0D)
        .expect("a table leaf page");
    bytes[leaf * 4096..(leaf + 1) * 4096].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();
    let output = sandbox.run(&["verify", "--deep"]);
    assert_failure(&output, 1, "integrity_check");
    assert_failure(&output, 1, &path.display().to_string());
}
