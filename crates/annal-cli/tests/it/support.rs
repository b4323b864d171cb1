// Shared helpers: run the binary in a temp dir with a given store, capture its output.

// Test support: a failed set-up step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A temporary directory holding one store.
pub(crate) struct Sandbox {
    pub(crate) dir: tempfile::TempDir,
    /// `--store` for every command: the embedded file `annal.db` in `dir` unless set.
    store_spec: Option<String>,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            store_spec: None,
        }
    }

    /// A sandbox whose commands use the store `spec` (`ndjson:DIR`, a `postgres://` URL).
    pub(crate) fn with_store(spec: impl Into<String>) -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            store_spec: Some(spec.into()),
        }
    }

    /// What `--store` says for this sandbox.
    pub(crate) fn store_spec(&self) -> String {
        self.store_spec
            .clone()
            .unwrap_or_else(|| self.store().to_string_lossy().into_owned())
    }

    pub(crate) fn store(&self) -> PathBuf {
        self.dir.path().join("annal.db")
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A command for the binary, pointed at this sandbox's store.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_annal"));
        command
            .args(args)
            .env("ANNAL_STORE", self.store_spec())
            .current_dir(self.dir.path());
        command
    }

    /// Runs the binary and returns its output.
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs the binary with `input` on standard input.
    pub(crate) fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        self.run_with_input_bytes(args, input.as_bytes())
    }

    /// Runs the binary with `input`, any bytes, on standard input.
    pub(crate) fn run_with_input_bytes(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Feed input from another thread: the child's output could otherwise fill its pipe
        // while this thread is still writing, and both would wait forever.
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_owned();
        let writer = std::thread::spawn(move || {
            // The child may stop reading early (a bad line); that is not this test's failure.
            let _ = stdin.write_all(&input);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        output
    }

    /// Runs the binary, asserts success, returns standard output.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_success(&output, args);
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs with `--json` and parses every output line as JSON.
    pub(crate) fn json_lines(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = args.to_vec();
        all.push("--json");
        lines(&self.ok(&all))
    }
}

pub(crate) fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[track_caller]
pub(crate) fn assert_success(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "annal {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts the run failed with `code` and that stderr contains `needle`.
#[track_caller]
pub(crate) fn assert_failure(output: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert!(
        stderr.contains(needle),
        "stderr does not mention {needle:?}: {stderr}"
    );
}
