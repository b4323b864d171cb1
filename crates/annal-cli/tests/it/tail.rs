// Goal: `annal tail --json` prints events committed after it started, as they are committed.
// Method: spawn the tail (from position 2) as a child with piped stdout, append 3 events with the CLI, read 3
// lines on a thread with a 10 s deadline, check ids and positions, then kill the tail.

// Test code: a failed set-up step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use crate::support::Sandbox;

#[test]
fn tail_prints_new_events_as_they_are_committed() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["append", "before", "--type", "x:y", "--data", "{}"]);
    let mut tail = sandbox
        .command(&["tail", "--json", "--from-position", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = tail.stdout.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if sender.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // Start after the event already stored, explicitly: with the default (the head when the
    // tail opens) a slow start on a loaded machine could take the new events as old ones.
    // The pause lets the tail reach its live wait first, so the events arrive by following.
    std::thread::sleep(Duration::from_millis(500));
    for n in 1..=3 {
        sandbox.ok(&[
            "append",
            "s",
            "--type",
            "x:y",
            "--data",
            "{}",
            "--id",
            &format!("t-{n}"),
        ]);
    }
    let mut received = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while received.len() < 3 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => received.push(serde_json::from_str::<serde_json::Value>(&line).unwrap()),
            Err(error) => {
                let _ = tail.kill();
                panic!(
                    "tail printed {} of 3 lines within 10 s: {error}",
                    received.len()
                );
            }
        }
    }
    tail.kill().unwrap();
    tail.wait().unwrap();
    let ids: Vec<_> = received
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["t-1", "t-2", "t-3"]);
    let positions: Vec<_> = received
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert_eq!(
        positions,
        [2, 3, 4],
        "after the event that was there before"
    );
}
