// Goal: bad input gets a clear error naming the problem, the right exit code, and changes nothing
// stored. Method: run each failing command, check exit code and stderr, then read the store.

// Test code: a failed set-up step should fail the test at once.
#![allow(clippy::unwrap_used)]

use crate::support::{Sandbox, assert_failure, lines};

#[test]
fn malformed_data_is_refused() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["init"]);
    let output = sandbox.run(&[
        "append",
        "task-1",
        "--type",
        "task:created",
        "--data",
        "{oops",
    ]);
    assert_failure(&output, 1, "--data is not valid JSON");
    let output = sandbox.run(&[
        "append",
        "task-1",
        "--type",
        "task:created",
        "--data",
        "[1]",
    ]);
    assert_failure(&output, 1, "--data must be a JSON object");
    assert!(sandbox.json_lines(&["replay"]).is_empty());
}

#[test]
fn unknown_store_path_is_refused_for_reads() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["read", "task-1"]);
    assert_failure(&output, 1, "no store at");
    assert!(!sandbox.store().exists(), "a read must not create a store");
}

#[test]
fn wrong_expected_version_names_the_actual_version() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["append", "task-1", "--type", "task:created", "--data", "{}"]);
    let output = sandbox.run(&[
        "append",
        "task-1",
        "--type",
        "task:started",
        "--data",
        "{}",
        "--expected-version",
        "5",
    ]);
    assert_failure(
        &output,
        1,
        "stream task-1 is at version 1, expected version 5",
    );
    assert_eq!(sandbox.json_lines(&["read", "task-1"]).len(), 1);
}

#[test]
fn usage_errors_exit_with_two() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["append", "task-1"]);
    assert_eq!(output.status.code(), Some(2));
    let output = sandbox.run(&["no-such-command"]);
    assert_eq!(output.status.code(), Some(2));
    let output = sandbox.run(&["--lock-timeout", "soon", "stats"]);
    assert_failure(&output, 2, "not a duration");
}

#[test]
fn store_locked_by_another_writer() {
    let sandbox = Sandbox::new();
    sandbox.ok(&["init"]);
    // A stdin append that waits for more input holds the writer lock (a tail holds none).
    let (mut holder, stdin) = hold_writer_lock(&sandbox);
    let output = sandbox.run(&[
        "--lock-timeout",
        "200ms",
        "append",
        "b",
        "--type",
        "x:y",
        "--data",
        "{}",
    ]);
    assert_failure(&output, 1, "in use");
    // Reads work meanwhile.
    assert_eq!(sandbox.json_lines(&["replay"]).len(), 1);
    drop(stdin);
    assert!(holder.wait().unwrap().success());
    sandbox.ok(&["append", "b", "--type", "x:y", "--data", "{}"]);
    assert_eq!(lines(&sandbox.ok(&["replay", "--json"])).len(), 2);
}

/// Holds the store's writer lock with an `append --stdin` that has committed one line.
fn hold_writer_lock(sandbox: &Sandbox) -> (std::process::Child, std::process::ChildStdin) {
    let mut holder = sandbox
        .command(&["append", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = holder.stdin.take().unwrap();
    std::io::Write::write_all(
        &mut stdin,
        b"{\"aggregateId\":\"a\",\"type\":\"x:y\",\"payload\":{}}\n",
    )
    .unwrap();
    let mut stdout = std::io::BufReader::new(holder.stdout.take().unwrap());
    let mut ack = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut ack).unwrap();
    assert!(ack.contains("\"position\":1"), "{ack}");
    (holder, stdin)
}

#[test]
fn a_writer_waits_for_the_lock_up_to_the_timeout_on_each_file_backend() {
    let ndjson_dir = tempfile::tempdir().unwrap();
    let ndjson = format!("ndjson:{}", ndjson_dir.path().join("store").display());
    for sandbox in [Sandbox::new(), Sandbox::with_store(ndjson)] {
        let (mut holder, stdin) = hold_writer_lock(&sandbox);
        let refused = sandbox.run(&[
            "--lock-timeout",
            "100ms",
            "append",
            "b",
            "--type",
            "x:y",
            "--data",
            "{}",
        ]);
        assert_failure(&refused, 1, "in use");
        // A writer with a long timeout started now gets the store once the holder exits.
        let waiting = sandbox
            .command(&[
                "--lock-timeout",
                "30s",
                "append",
                "b",
                "--type",
                "x:y",
                "--data",
                "{}",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(stdin);
        assert!(holder.wait().unwrap().success());
        let output = waiting.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            sandbox.store_spec(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(sandbox.json_lines(&["replay"]).len(), 2);
    }
}

/// What the terminal shows for a run: both output streams.
fn shown(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_postgres_password_never_reaches_the_terminal() {
    // Nothing listens on port 1, so each run fails while connecting, naming the store.
    for url in [
        "postgres://user:s3cret@127.0.0.1:1/annal",
        "postgres://user:s3/c?ret@127.0.0.1:1/annal",
        "postgres://user@127.0.0.1:1/annal?password=s3cret",
    ] {
        let sandbox = Sandbox::with_store(url);
        let failed = sandbox.run(&["stats"]);
        assert_eq!(failed.status.code(), Some(1));
        let text = shown(&failed);
        assert!(text.contains("127.0.0.1:1"), "the store is named: {text}");
        assert!(
            !text.contains("s3cret") && !text.contains("s3/c?ret"),
            "{text}"
        );
        // Help shows where --store comes from, but not what ANNAL_STORE holds.
        let help = shown(&sandbox.run(&["--help"]));
        assert!(help.contains("ANNAL_STORE"), "{help}");
        assert!(
            !help.contains("s3cret") && !help.contains("s3/c?ret"),
            "{help}"
        );
    }
}
