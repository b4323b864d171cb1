// Goal: `append --stdin` acknowledges each event once committed, keeps per-stream order, and on a
// bad or refused line commits and acknowledges every earlier line before failing with that
// line's number; re-sending the same input is an idempotent retry; a closed output stops only
// the printing. Method: run the real binary on generated input, then read the store back.

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

fn envelope(stream: &str, n: u64, payload: &str) -> String {
    format!(
        "{{\"aggregateId\":\"{stream}\",\"type\":\"note:added\",\"payload\":{payload},\"id\":\"e-{n}\"}}\n"
    )
}

/// Lines 1..=n of stream `s`, line `bad` (if any) with a payload the store refuses.
fn one_stream(n: u64, bad: Option<u64>) -> String {
    (1..=n)
        .map(|k| {
            if Some(k) == bad {
                envelope("s", k, "[]")
            } else {
                envelope("s", k, &format!("{{\"n\":{k}}}"))
            }
        })
        .collect()
}

fn stored_ns(sandbox: &Sandbox, stream: &str) -> Vec<u64> {
    sandbox
        .json_lines(&["read", stream])
        .iter()
        .map(|e| e["payload"]["n"].as_u64().expect("payloads carry n"))
        .collect()
}

fn stored_versions(sandbox: &Sandbox, stream: &str) -> Vec<u64> {
    sandbox
        .json_lines(&["read", stream])
        .iter()
        .map(|e| e["version"].as_u64().expect("events carry a version"))
        .collect()
}

fn acks(output: &std::process::Output) -> Vec<serde_json::Value> {
    lines(&String::from_utf8(output.stdout.clone()).expect("acknowledgments are UTF-8"))
}

/// 1,100 lines of one stream, line 500 refused by the store. The earlier
/// lines are committed and acknowledged in order, the error names line 500, and no later
/// batch of the stream is sent (the store once held line 1, then lines 1002-1100).
#[test]
fn a_refused_line_keeps_its_stream_in_order_and_is_named() {
    let sandbox = Sandbox::new();
    let output = sandbox.run_with_input(&["append", "--stdin"], &one_stream(1_100, Some(500)));
    assert_failure(&output, 1, "line 500 of standard input");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("payload must be a JSON object"), "{stderr}");
    let acks = acks(&output);
    assert_eq!(
        acks.len(),
        499,
        "every line before the refused one is acknowledged"
    );
    for (k, ack) in (1u64..).zip(&acks) {
        assert_eq!(ack["id"], format!("e-{k}"));
        assert_eq!(ack["version"], k);
    }
    assert_eq!(stored_ns(&sandbox, "s"), (1..500).collect::<Vec<_>>());
    assert_eq!(stored_versions(&sandbox, "s"), (1..500).collect::<Vec<_>>());
}

/// Sending the same input again answers every line with its stored
/// position and version, whatever batches the second run forms, and stores nothing twice.
#[test]
fn rerunning_the_same_input_is_an_idempotent_retry() {
    let sandbox = Sandbox::new();
    let input: String = (0..1_500)
        .map(|n| line(&format!("s-{}", n % 7), n))
        .collect();
    let first = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        acks(&second),
        acks(&first),
        "the retry answers with the stored events"
    );
    assert_eq!(
        sandbox.json_lines(&["replay"]).len(),
        1_500,
        "nothing stored twice"
    );
}

/// After a run stopped at a refused line, fixing the line and sending the
/// whole input again commits the rest once, in order.
#[test]
fn rerun_after_fixing_the_refused_line_appends_the_rest_once() {
    let sandbox = Sandbox::new();
    let failed = sandbox.run_with_input(&["append", "--stdin"], &one_stream(1_100, Some(500)));
    assert_failure(&failed, 1, "line 500 of standard input");
    let rerun = sandbox.run_with_input(&["append", "--stdin"], &one_stream(1_100, None));
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    let acks_again = acks(&rerun);
    assert_eq!(acks_again.len(), 1_100);
    assert_eq!(
        acks_again[..499],
        acks(&failed)[..],
        "the retried lines keep their events"
    );
    assert_eq!(stored_ns(&sandbox, "s"), (1..=1_100).collect::<Vec<_>>());
    assert_eq!(
        stored_versions(&sandbox, "s"),
        (1..=1_100).collect::<Vec<_>>()
    );
}

/// When the reader of the acknowledgments goes away (`| head -1`), every
/// line is still appended and the command succeeds.
#[test]
fn a_closed_output_still_appends_every_line() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;

    let sandbox = Sandbox::new();
    let mut child = sandbox
        .command(&["append", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let first: String = (0..100).map(|n| line("s", n)).collect();
    stdin.write_all(first.as_bytes()).unwrap();
    stdin.flush().unwrap();
    let mut ack = String::new();
    stdout.read_line(&mut ack).unwrap();
    assert!(ack.contains("\"e-0\""), "{ack}");
    drop(stdout);
    // Enough acknowledgments after the close that writing them must meet the closed pipe.
    let rest: String = (100..5_000).map(|n| line("s", n)).collect();
    stdin.write_all(rest.as_bytes()).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        sandbox.json_lines(&["replay"]).len(),
        5_000,
        "every line appended"
    );
}

/// Blank and whitespace-only lines are skipped but counted, CRLF endings and a leading byte
/// order mark are accepted.
#[test]
fn blank_lines_crlf_and_a_byte_order_mark_are_accepted() {
    let sandbox = Sandbox::new();
    let input = format!(
        "\u{feff}{}\r\n\n   \t\r\n{}\r\n{{broken\r\n",
        line("a", 0).trim_end(),
        line("a", 1).trim_end()
    );
    let output = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert_failure(&output, 1, "line 5 of standard input");
    assert_eq!(acks(&output).len(), 2);
    assert_eq!(stored_ns(&sandbox, "a"), vec![0, 1]);
}

/// A line over the length limit or not UTF-8 is refused by number, after the earlier lines.
#[test]
fn a_huge_line_or_invalid_utf8_is_refused_by_number() {
    let sandbox = Sandbox::new();
    let huge = format!(
        "{{\"aggregateId\":\"a\",\"type\":\"note:added\",\"payload\":{{\"x\":\"{}\"}}}}\n",
        "x".repeat(17 * 1024 * 1024)
    );
    let input = format!("{}{}{huge}{}", line("a", 0), line("a", 1), line("a", 2));
    let output = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert_failure(
        &output,
        1,
        "line 3 of standard input: the line is longer than",
    );
    assert_eq!(stored_ns(&sandbox, "a"), vec![0, 1]);

    let sandbox = Sandbox::new();
    let mut input = line("b", 0).into_bytes();
    input.extend_from_slice(
        b"{\"aggregateId\":\"b\",\"type\":\"x:y\",\"payload\":{\"t\":\"\xff\"}}\n",
    );
    input.extend_from_slice(line("b", 2).as_bytes());
    let output = sandbox.run_with_input_bytes(&["append", "--stdin"], &input);
    assert_failure(
        &output,
        1,
        "line 2 of standard input: the line is not valid UTF-8",
    );
    assert_eq!(stored_ns(&sandbox, "b"), vec![0]);
}

/// Through the command line: an event type with an empty domain is refused
/// by line, not a crash.
#[test]
fn an_event_type_with_an_empty_domain_is_refused_by_line() {
    let sandbox = Sandbox::new();
    let input = format!(
        "{}{{\"aggregateId\":\"a\",\"type\":\":x\",\"payload\":{{}}}}\n",
        line("a", 0)
    );
    let output = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert_failure(&output, 1, "line 2 of standard input");
    assert!(String::from_utf8_lossy(&output.stderr).contains("empty domain"));
    assert_eq!(stored_ns(&sandbox, "a"), vec![0]);
    let single = sandbox.run(&["append", "a", "--type", ":", "--data", "{}"]);
    assert_failure(&single, 1, "empty domain");
}

/// Many streams interleaved, one line refused: the acknowledgments are exactly the lines
/// before it, every one of them is stored, and every stream holds a prefix of its own lines in
/// order (lines of other streams after the refused one may have been in flight).
#[test]
fn many_streams_with_one_refused_line() {
    let sandbox = Sandbox::new();
    let bad = 1_234u64;
    let input: String = (1..=3_000u64)
        .map(|n| {
            let stream = format!("s-{}", n % 20);
            let payload = if n == bad {
                "[]".to_owned()
            } else {
                format!("{{\"n\":{n}}}")
            };
            envelope(&stream, n, &payload)
        })
        .collect();
    let output = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert_failure(&output, 1, &format!("line {bad} of standard input"));
    let acks = acks(&output);
    assert_eq!(acks.len() as u64, bad - 1);
    for (n, ack) in (1u64..).zip(&acks) {
        assert_eq!(ack["id"], format!("e-{n}"));
    }
    for k in 0..20u64 {
        let stream = format!("s-{k}");
        let ns = stored_ns(&sandbox, &stream);
        let own: Vec<u64> = (1..=3_000u64).filter(|n| n % 20 == k).collect();
        assert_eq!(
            ns[..],
            own[..ns.len()],
            "stream {stream} holds a prefix of its lines"
        );
        assert!(own.iter().filter(|n| **n < bad).all(|n| ns.contains(n)));
        if k == bad % 20 {
            assert!(
                ns.iter().all(|n| *n < bad),
                "nothing after the refused line of its stream"
            );
        }
        let versions = stored_versions(&sandbox, &stream);
        assert_eq!(versions, (1..=ns.len() as u64).collect::<Vec<_>>());
    }
}

/// A line repeating an earlier line's id in the same stream is a retry of it, answered with the
/// stored event, whether or not both land in one batch; the same id in another stream is
/// refused by line.
#[test]
fn a_repeated_id_is_a_retry_in_its_stream_and_refused_in_another() {
    let sandbox = Sandbox::new();
    let input = format!(
        "{}{}{}{}",
        line("a", 1),
        line("a", 2),
        line("a", 1),
        line("b", 2)
    );
    let output = sandbox.run_with_input(&["append", "--stdin"], &input);
    assert_failure(&output, 1, "line 4 of standard input");
    // Named by the store ("already stored in stream a") once line 2 is acknowledged, by the
    // command while it is not ("already used by line 2 in stream a").
    assert!(String::from_utf8_lossy(&output.stderr).contains("in stream a"));
    let acks = acks(&output);
    assert_eq!(acks.len(), 3);
    assert_eq!(
        acks[2], acks[0],
        "the repeated line is answered with the stored event"
    );
    assert_eq!(stored_ns(&sandbox, "a"), vec![1, 2]);
    assert!(stored_ns(&sandbox, "b").is_empty());
}

/// The largest expected version a line can name is refused by line, on a new event and on a
/// retry alike, never an overflow.
#[test]
fn the_largest_expected_version_is_refused_by_line() {
    let sandbox = Sandbox::new();
    let max = u64::MAX;
    let with_max = |n: u64| {
        format!(
            "{{\"aggregateId\":\"a\",\"type\":\"note:added\",\"payload\":{{\"n\":{n}}},\"id\":\"e-{n}\",\"expectedVersion\":{max}}}\n"
        )
    };
    for (input, refused) in [
        (format!("{}{}", line("a", 1), with_max(1)), 2),
        (with_max(7), 1),
    ] {
        let output = sandbox.run_with_input(&["append", "--stdin"], &input);
        assert_failure(&output, 1, &format!("line {refused} of standard input"));
        assert!(String::from_utf8_lossy(&output.stderr).contains("wrong expected version"));
    }
    assert_eq!(stored_ns(&sandbox, "a"), vec![1]);
}
