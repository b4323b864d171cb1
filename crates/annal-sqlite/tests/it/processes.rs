// Goal: one writer per file across processes, and read-only opens in another process that read
// and follow a live writer. Method: real child processes (the annal-sqlite-probe binary) against
// a store the test process holds, and the other way round.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use annal_sqlite::{OpenError, SqliteStore};

use crate::support::append_one;

pub(crate) fn probe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_annal-sqlite-probe"))
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
async fn second_writer_process_gets_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let store = SqliteStore::open(&path).unwrap();
    append_one(&store, "agent-1", 1).await;
    let output = probe().arg("open").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(text.contains("in use"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(
        text.contains(&format!("pid {}", std::process::id())),
        "{text}"
    );
    drop(store);
    let output = probe().arg("open").arg(&path).output().unwrap();
    assert!(
        output.status.success(),
        "the lock is free once the store is dropped"
    );
}

#[test]
fn lock_of_a_killed_writer_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let mut child = probe()
        .arg("hold")
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_line(&mut child, "ready");
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(error, OpenError::InUse { .. }), "{error}");
    assert!(
        error.to_string().contains(&format!("pid {}", child.id())),
        "{error}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    SqliteStore::open(&path).expect("the OS released the dead writer's lock");
}

#[tokio::test]
async fn read_only_process_reads_and_tails_a_live_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("annal.db");
    let store = SqliteStore::open(&path).unwrap();
    for n in 0..10 {
        append_one(&store, "agent-1", n).await;
    }
    let child = probe()
        .arg("tail")
        .arg(&path)
        .arg("30")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    for n in 10..30 {
        append_one(&store, &format!("agent-{}", n % 3), n).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success());
    let positions: Vec<u64> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.strip_prefix("event ").unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        positions,
        (1..=30).collect::<Vec<_>>(),
        "history, then live, in order"
    );
}
