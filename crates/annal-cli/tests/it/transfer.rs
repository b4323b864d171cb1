// Goal: export and import round-trip every field, imports are idempotent, a torn last line is
// reported and skipped, and a backup opens as a normal store. Method: CLI runs on temp stores.

use crate::support::Sandbox;

#[test]
fn export_then_import_round_trips_and_is_idempotent() {
    let source = Sandbox::new();
    source.ok(&[
        "append",
        "agent-1",
        "--type",
        "agent:spawned",
        "--data",
        r#"{"role":"coder"}"#,
        "--id",
        "e-1",
        "--metadata",
        r#"{"trace":"t"}"#,
        "--causation-id",
        "c-1",
        "--correlation-id",
        "r-1",
        "--source",
        "swarm",
    ]);
    source.ok(&[
        "append",
        "agent-1",
        "--type",
        "agent:started",
        "--data",
        "{}",
    ]);
    let exported = source.path("events.ndjson");
    source.ok(&["export", "--output", exported.to_str().unwrap()]);
    let original = source.json_lines(&["replay"]);

    let target = Sandbox::new();
    let report = target.json_lines(&["import", exported.to_str().unwrap()]);
    assert_eq!(report[0]["imported"], 2);
    let copied = target.json_lines(&["replay"]);
    assert_eq!(
        copied, original,
        "every field survives, versions and positions included"
    );
    let again = target.json_lines(&["import", exported.to_str().unwrap()]);
    assert_eq!(again[0]["imported"], 0);
    assert_eq!(again[0]["skippedExisting"], 2);
    assert_eq!(target.json_lines(&["replay"]).len(), 2);
}

#[test]
fn torn_last_line_is_reported_and_skipped() {
    let source = Sandbox::new();
    source.ok(&["append", "a", "--type", "x:y", "--data", "{}"]);
    let mut text = source.ok(&["export"]);
    text.push_str("{\"id\":\"half");
    let file = source.path("torn.ndjson");
    std::fs::write(&file, text).unwrap();
    let target = Sandbox::new();
    let report = target.json_lines(&["import", file.to_str().unwrap()]);
    assert_eq!(report[0]["imported"], 1);
    let bad = report[0]["skippedBad"][0].as_str().unwrap();
    assert!(bad.contains("line 2") && bad.contains("torn"), "{bad}");
}

/// Found by fuzzing: a line that is not UTF-8 stopped the whole import with "stream did not
/// contain valid UTF-8"; it is a bad line like any other, reported and skipped.
#[test]
fn a_line_that_is_not_utf8_is_reported_and_skipped() {
    let source = Sandbox::new();
    source.ok(&[
        "append", "a", "--type", "x:y", "--data", "{}", "--id", "e-1",
    ]);
    source.ok(&[
        "append", "b", "--type", "x:y", "--data", "{}", "--id", "e-2",
    ]);
    let text = source.ok(&["export"]);
    let (first, second) = text.split_once('\n').unwrap();
    let mut bytes = format!("{first}\n").into_bytes();
    bytes.extend_from_slice(b"{\"id\":\"\xff\xfe\"}\n");
    bytes.extend_from_slice(second.as_bytes());
    let file = source.path("mixed.ndjson");
    std::fs::write(&file, bytes).unwrap();
    let target = Sandbox::new();
    let report = target.json_lines(&["import", file.to_str().unwrap()]);
    assert_eq!(report[0]["imported"], 2, "{report:?}");
    let bad = report[0]["skippedBad"][0].as_str().unwrap();
    assert!(bad.contains("line 2") && bad.contains("UTF-8"), "{bad}");
}

#[test]
fn backup_opens_as_a_normal_store() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["append", "a", "--type", "x:y", "--data", "{}"]);
    let copy = sandbox.path("copy.db");
    sandbox.ok(&["backup", copy.to_str().unwrap()]);
    let events = sandbox.json_lines(&["replay", "--store", copy.to_str().unwrap()]);
    assert_eq!(events.len(), 1);
    let again = sandbox.run(&["backup", copy.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1), "a backup never overwrites");
    sandbox.ok(&[
        "append",
        "b",
        "--type",
        "x:y",
        "--data",
        "{}",
        "--store",
        copy.to_str().unwrap(),
    ]);
}
