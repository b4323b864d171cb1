//! The two test drivers a disk backend calls: [`io_faults`] and [`power_loss`], each a bounded
//! series of probe runs against one store, checked after every run by reopening it.
//!
//! Invariant: a driver panics with the seed, the run and what was injected as soon as one
//! promise is broken (an acknowledged event lost, a store that does not open, a panic or hang
//! in the probe, a wrong error, a write accepted after a failure, a partial batch), so the
//! message is a reproducer.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_core::{EventId, EventType, ExpectedVersion, NewEvent, Store, StreamId};

use super::check::{Acked, Outcome, check_store};
use super::power::{Loss, PowerLoss};
use super::{FaultPlan, Random, preload};

/// Concurrent appending tasks in each probe.
const TASKS: u64 = 4;
/// Events per batch.
const BATCH: usize = 3;
/// Batches each task appends in a fault run.
const BATCHES: u64 = 15;
/// The failing call is among this many of its classes: most runs fail during appends, some
/// during the open.
const CALLS_MAX: u64 = 40;
/// A probe that has not ended by then is hung: some caller never got an answer.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens the store under test for writing (in the test process, without the shim).
pub type Open<'a> = &'a dyn Fn() -> Result<Arc<dyn Store>, String>;

/// A disk backend, as the drivers see it.
pub struct Target<'a> {
    /// The backend's probe binary.
    pub probe: PathBuf,
    /// The shim library ([`super::shim`]).
    pub shim: PathBuf,
    /// The directory holding the store's files: the shim's prefix and the power-loss root.
    pub dir: PathBuf,
    /// The path the probe and `open` are given (the SQLite file, or the NDJSON directory).
    pub store: PathBuf,
    /// Opens the store for writing.
    pub open: Open<'a>,
    /// Files written through `mmap`, which the power-loss image leaves out.
    pub volatile: &'a dyn Fn(&Path) -> bool,
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("probe", &self.probe)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Runs the probe in `faults` mode `runs` times, each with a random [`FaultPlan`], and checks
/// the probe's answers and the reopened store after each run.
pub async fn io_faults(target: &Target<'_>, seed: u64, runs: u64) {
    let mut random = Random::new(seed);
    let mut acknowledged: Vec<Acked> = Vec::new();
    let (mut fired, mut open_errors) = (0, 0);
    for run in 0..runs {
        let plan = FaultPlan::random(&mut random, CALLS_MAX);
        let context = format!("ANNAL_SEED={seed}, run {run}, {plan:?}");
        let mut command = probe_command(target, "faults", run);
        command.arg(BATCHES.to_string());
        preload(&mut command, &target.shim, &target.dir);
        plan.apply(&mut command);
        let (stdout, stderr) = run_to_end(command, &context);
        fired += usize::from(stderr.contains("annal-fault-shim:"));
        let outcome = Outcome::parse(&stdout, BATCH);
        open_errors += usize::from(outcome.open_error.is_some());
        let problems = outcome.problems(TASKS);
        assert!(
            problems.is_empty(),
            "{context}: {}\nstderr:\n{stderr}",
            problems.join("\n")
        );
        acknowledged.extend(outcome.acked);
        reopen_and_check(target, &mut acknowledged, run, &context).await;
    }
    report(&format!(
        "{runs} fault runs: a fault struck in {fired}, {open_errors} during the open; \
         {} batches acknowledged",
        acknowledged.len()
    ));
    assert!(fired * 3 >= runs as usize, "too few runs met their fault");
}

/// Runs the probe in `write` mode `runs` times, kills it after a random delay, replaces the
/// store's files with what a power loss at that moment leaves ([`PowerLoss`]), and checks the
/// reopened store.
pub async fn power_loss(target: &Target<'_>, seed: u64, runs: u64, journal_dir: &Path) {
    let mut random = Random::new(seed);
    let mut acknowledged: Vec<Acked> = Vec::new();
    let mut total = Loss::default();
    std::fs::create_dir_all(&target.dir).unwrap();
    for run in 0..runs {
        let context = format!("ANNAL_SEED={seed}, run {run}");
        let before = PowerLoss::start(&target.dir).unwrap();
        let journal = journal_dir.join(format!("journal-{run}.bin"));
        let mut command = probe_command(target, "write", run);
        preload(&mut command, &target.shim, &target.dir);
        command.env("ANNAL_FAULT_JOURNAL", &journal);
        let delay = Duration::from_millis(50 + random.below(300));
        let (stdout, stderr) = run_then_kill(command, delay);
        assert!(!stderr.contains("panicked"), "{context}: {stderr}");
        let outcome = Outcome::parse(&stdout, BATCH);
        acknowledged.extend(outcome.acked);
        let loss = before
            .crash(&journal, &mut random, target.volatile)
            .unwrap_or_else(|error| panic!("{context}: {error}"));
        std::fs::remove_file(&journal).unwrap();
        total.records += loss.records;
        total.dropped_changes += loss.dropped_changes;
        total.torn_writes += loss.torn_writes;
        total.dropped_entries += loss.dropped_entries;
        let context = format!("{context}, after a power loss that dropped {loss:?}");
        reopen_and_check(target, &mut acknowledged, run, &context).await;
    }
    report(&format!(
        "{runs} power losses: {} batches acknowledged; {total:?}",
        acknowledged.len()
    ));
    assert!(
        acknowledged.len() > runs as usize,
        "the probes acknowledged too little to test"
    );
}

fn probe_command(target: &Target<'_>, mode: &str, run: u64) -> Command {
    let mut command = Command::new(&target.probe);
    command
        .arg(mode)
        .arg(&target.store)
        .args([run.to_string(), TASKS.to_string(), BATCH.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Reopens the store, checks it against everything acknowledged, and appends one batch to
/// show that a reopened store writes again.
async fn reopen_and_check(
    target: &Target<'_>,
    acknowledged: &mut Vec<Acked>,
    run: u64,
    context: &str,
) {
    let store = (target.open)()
        .unwrap_or_else(|error| panic!("{context}: the store does not reopen: {error}"));
    check_store(store.as_ref(), acknowledged, BATCH)
        .await
        .unwrap_or_else(|error| panic!("{context}: after reopening, {error}"));
    let ids: Vec<String> = (0..BATCH)
        .map(|i| format!("r{run}-reopen-b0-{i}"))
        .collect();
    let events = ids
        .iter()
        .map(|id| {
            NewEvent::new(
                EventType::new("crash:step").unwrap(),
                serde_json::json!({ "id": id }),
            )
            .with_id(EventId::new(id.clone()).unwrap())
        })
        .collect();
    let stream = StreamId::new("reopened").unwrap();
    store
        .append(&stream, ExpectedVersion::Any, events)
        .await
        .unwrap_or_else(|error| panic!("{context}: the reopened store refuses an append: {error}"));
    acknowledged.push(Acked {
        stream: "reopened".into(),
        ids,
    });
}

/// Starts `command`, collecting its output on threads (a full pipe must not stall it).
fn spawn(
    mut command: Command,
) -> (
    Child,
    std::thread::JoinHandle<String>,
    std::thread::JoinHandle<String>,
) {
    let mut child = command.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || read_all(&mut stdout));
    let err = std::thread::spawn(move || read_all(&mut stderr));
    (child, out, err)
}

fn read_all(pipe: &mut impl Read) -> String {
    let mut bytes = Vec::new();
    // A pipe cut by a kill ends the output; what was read is what counts.
    let _ = pipe.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs `command` until it exits; panics if it hangs, fails or panics.
fn run_to_end(command: Command, context: &str) -> (String, String) {
    let (mut child, out, err) = spawn(command);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_TIMEOUT {
            child.kill().unwrap();
            child.wait().unwrap();
            let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
            panic!("{context}: the probe hung\nstdout:\n{stdout}\nstderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success() && !stderr.contains("panicked"),
        "{context}: the probe ended with {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}

/// Runs `command` for `delay`, then kills it with SIGKILL.
fn run_then_kill(command: Command, delay: Duration) -> (String, String) {
    let (mut child, out, err) = spawn(command);
    std::thread::sleep(delay);
    // It may have ended on its own (an error); kill fails then, and that is fine.
    let _ = child.kill();
    child.wait().unwrap();
    (out.join().unwrap(), err.join().unwrap())
}

// The drivers' summary must reach the test's output even when the test passes.
#[allow(clippy::print_stderr)]
fn report(line: &str) {
    eprintln!("{line}");
}
