// Goal: `append --stdin` acknowledges each event once committed, keeps per-stream order, and on a
// malformed line commits and acknowledges every earlier line before failing with the line number.

use crate::support::{Sandbox, assert_failure, lines};

fn line(stream: &str, n: u64) -> String {
    format!(
        "{{\"aggregateId\":\"{stream}\",\"type\":\"note:added\",\"payload\":{{\"n\":{n}}},\"id\":\"e-{n}\"}}\n"
    )
}

#[test]
fn acknowledges_every_event_in_order() {
    let sandbox = Sandbox::new();
    let input: String = (0..500)
        .map(|n| line(&format!("s-{}", n % 13), n))
        .collect();
    let output = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let acks = lines(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(acks.len(), 500);
    for (n, ack) in acks.iter().enumerate() {
        assert_eq!(ack["id"], format!("e-{n}"));
        assert_eq!(ack["version"], (n / 13 + 1) as u64, "ack {ack}");
    }
    let stored = sandbox.json_lines(&["read", "s-3"]);
    let ns: Vec<u64> = stored
        .iter()
        .map(|e| e["payload"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ns,
        (0..500).filter(|n| n % 13 == 3).collect::<Vec<_>>(),
        "per-stream order kept"
    );
    let positions: Vec<u64> = acks
        .iter()
        .map(|a| a["position"].as_u64().unwrap())
        .collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 500, "every event has its own position");
}

#[test]
fn malformed_line_stops_after_committing_earlier_lines() {
    let sandbox = Sandbox::new();
    let input = format!(
        "{}{}{{not json\n{}",
        line("a", 0),
        line("b", 1),
        line("a", 2)
    );
    let output = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert_failure(&output, 1, "line 3 of standard input");
    let acks = lines(&String::from_utf8(output.stdout).unwrap());
    assert_eq!(acks.len(), 2, "the two valid lines were acknowledged");
    assert_eq!(
        sandbox.json_lines(&["replay"]).len(),
        2,
        "and committed; the line after was not"
    );
}

#[test]
fn per_line_expected_version_is_checked() {
    let sandbox = Sandbox::new();
    let input = "{\"aggregateId\":\"t\",\"type\":\"task:created\",\"payload\":{},\"expectedVersion\":\"no-stream\"}\n\
                 {\"aggregateId\":\"t\",\"type\":\"task:created\",\"payload\":{},\"expectedVersion\":\"no-stream\"}\n";
    let output = sandbox.run_with_input(&["append", "--stdin"], input);
    assert_failure(&output, 1, "line 2 of standard input");
    assert_eq!(sandbox.json_lines(&["replay"]).len(), 1);
}
