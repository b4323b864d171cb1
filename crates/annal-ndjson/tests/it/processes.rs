// Goal: one writer per directory across processes, a lock left by a killed writer does not block,
// and a read-only open in another process follows a live writer. Method: real child processes
// (the annal-ndjson-probe binary) against a store the test process holds, and the other way round.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use annal_ndjson::{NdjsonStore, OpenError};

use crate::support::{append_ids, everything};

pub(crate) fn probe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_annal-ndjson-probe"))
}

/// Reads the child's stdout until a line equal to `line`.
fn wait_for_line(child: &mut Child, line: &str) {
    let stdout = child.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut got = String::new();
    loop {
        got.clear();
        assert!(
            reader.read_line(&mut got).unwrap() > 0,
            "the child ended before {line:?}"
        );
        if got.trim() == line {
            return;
        }
    }
}

#[tokio::test]
async fn live_writer_in_another_process_gets_in_use_and_a_killed_one_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let mut child = probe()
        .arg("hold")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut child, "ready");
    let error = NdjsonStore::open(&path).unwrap_err();
    assert!(matches!(error, OpenError::InUse { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("in use"), "{message}");
    assert!(
        message.contains(&format!("pid {}", child.id())),
        "{message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        path.join(".lock").exists(),
        "the killed writer left its lock file"
    );
    let store = NdjsonStore::open(&path).unwrap();
    append_ids(&store, "s", &["after-kill"]).await;
    assert_eq!(everything(&store).await.len(), 1);
}

#[tokio::test]
async fn read_only_process_follows_a_live_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let store = NdjsonStore::open(&path).unwrap();
    append_ids(&store, "s", &["e1", "e2"]).await;
    let mut child = probe()
        .arg("tail")
        .arg(&path)
        .arg("6")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut child, "event 2");
    tokio::time::sleep(Duration::from_millis(50)).await;
    append_ids(&store, "s", &["e3"]).await;
    append_ids(&store, "t", &["e4", "e5", "e6"]).await;
    let status = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let stdout = child.stdout.take().unwrap();
        for line in BufReader::new(stdout).lines() {
            lines.push(line.unwrap());
        }
        (child.wait().unwrap(), lines)
    });
    let (status, lines) = tokio::time::timeout(Duration::from_secs(10), status)
        .await
        .expect("the tailer saw every event within 10 s")
        .unwrap();
    assert!(status.success());
    assert_eq!(lines, ["event 3", "event 4", "event 5", "event 6"]);
}
