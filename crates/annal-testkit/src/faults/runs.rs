//! The two test drivers a disk backend calls: [`io_faults`] and [`power_loss`], each a bounded
//! series of probe runs against one store, checked after every run by reopening it.
//!
//! Invariant: a driver stops with the seed, the run and what was injected as soon as one
//! promise is broken (an acknowledged event lost, a store that does not open, a panic or hang
//! in the probe, a wrong error, a write accepted after a failure, a partial batch), so the
//! message is a reproducer.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_core::{EventId, EventType, ExpectedVersion, NewEvent, Store, StreamId};

use super::check::{Acked, Outcome, Promises, check_store};
use super::power::{Loss, PowerLoss};
use super::{FaultPlan, Random, journal, preload};

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
    /// Extra environment for the probe (how a deliberately broken configuration is asked for).
    pub probe_env: &'a [(&'a str, &'a str)],
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("probe", &self.probe)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// What a driver concluded: a summary of the runs, or the first broken promise with its
/// reproducer (seed, run, what was injected).
pub type Verdict = Result<String, String>;

/// Runs the probe in `faults` mode `runs` times, each with a random [`FaultPlan`], and checks
/// the probe's answers and the reopened store after each run.
/// A failing run keeps the store's files from before and after it (see [`power_loss`] for
/// where).
pub async fn io_faults(target: &Target<'_>, seed: u64, runs: u64, journal_dir: &Path) -> Verdict {
    let mut random = Random::new(seed);
    let mut promises = Promises::default();
    let (mut fired, mut open_errors) = (0, 0);
    let evidence = journal_dir.join("evidence");
    std::fs::create_dir_all(&target.dir).unwrap();
    for run in 0..runs {
        let plan = FaultPlan::random(&mut random, CALLS_MAX);
        let context = format!("ANNAL_SEED={seed}, run {run}, {plan:?}");
        let _ = std::fs::remove_dir_all(&evidence);
        copy_tree(&target.dir, &evidence.join("before")).unwrap();
        let mut command = probe_command(target, "faults", run);
        command.arg(BATCHES.to_string());
        preload(&mut command, &target.shim, &target.dir);
        plan.apply(&mut command);
        let (stdout, stderr) = run_to_end(command, &context)?;
        std::fs::write(evidence.join("stdout.txt"), &stdout).unwrap();
        copy_tree(&target.dir, &evidence.join("image")).unwrap();
        fired += usize::from(stderr.contains("annal-fault-shim:"));
        let outcome = Outcome::parse(&stdout, BATCH);
        open_errors += usize::from(outcome.open_error.is_some());
        let problems = outcome.problems(TASKS);
        if !problems.is_empty() {
            return Err(format!(
                "{context}: {}\nstderr:\n{stderr}",
                problems.join("\n")
            ));
        }
        promises.absorb(&outcome);
        if let Err(failure) = reopen_and_check(target, &mut promises, run, &context).await {
            return Err(format!(
                "{failure}\n{}",
                keep_evidence(&evidence, seed, run)
            ));
        }
    }
    assert!(fired * 3 >= runs as usize, "too few runs met their fault");
    Ok(format!(
        "{runs} fault runs: a fault struck in {fired}, {open_errors} during the open; \
         {} batches acknowledged, {} streams trimmed, {} with a snapshot",
        promises.acked.len(),
        promises.floors.len(),
        promises.snapshots.len()
    ))
}

/// Runs the probe in `write` mode `runs` times, each killed after a random delay. About half
/// the kills are power losses: the store's files are replaced with what a power loss at that
/// moment leaves ([`PowerLoss`], over every run since the last one), and the reopened store is
/// checked. A third of the runs also meet a failed fsync, whose doomed writes a later power
/// loss drops even when the next process read them. The journals go to `journal_dir`, outside
/// the store's directory.
pub async fn power_loss(target: &Target<'_>, seed: u64, runs: u64, journal_dir: &Path) -> Verdict {
    let mut random = Random::new(seed);
    let mut promises = Promises::default();
    let mut total = Loss::default();
    let (mut n_acked, mut n_losses) = (0, 0);
    let evidence = journal_dir.join("evidence");
    let journal = evidence.join("journal.bin");
    let mut segment: Option<(PowerLoss, Vec<String>)> = None;
    std::fs::create_dir_all(&target.dir).unwrap();
    for run in 0..runs {
        let (state, story) = match segment.take() {
            Some(segment) => segment,
            None => (
                start_segment(target, &evidence, &mut random, &mut promises),
                Vec::new(),
            ),
        };
        let mut command = probe_command(target, "write", run);
        preload(&mut command, &target.shim, &target.dir);
        command.env("ANNAL_FAULT_JOURNAL", &journal);
        let plan = random.one_in(3).then(|| FaultPlan {
            ops: "s".into(),
            sticky: false,
            partial: false,
            ..FaultPlan::random(&mut random, CALLS_MAX)
        });
        if let Some(plan) = &plan {
            plan.apply(&mut command);
        }
        let (stdout, stderr) = run_then_kill(command, random_delay(&mut random));
        // The next run of this segment appends to the same journal.
        journal::drop_partial_record(&journal).unwrap();
        let mut story = story;
        story.push(format!("run {run} (fsync fault {plan:?}) killed"));
        if stderr.contains("panicked") {
            return Err(format!(
                "ANNAL_SEED={seed}, {story:?}: the probe panicked: {stderr}"
            ));
        }
        append_file(&evidence.join("stdout.txt"), &stdout);
        let outcome = Outcome::parse(&stdout, BATCH);
        n_acked += outcome.acked.len();
        promises.absorb(&outcome);
        if run + 1 < runs && random.one_in(2) {
            // A process crash only: the files stay as they are, and the next run goes on.
            segment = Some((state, story));
            continue;
        }
        let context = format!("ANNAL_SEED={seed}, {story:?}, then a power loss");
        let loss = state
            .crash(&journal, &mut random, target.volatile)
            .map_err(|error| format!("{context}: {error}"))?;
        copy_tree(&target.dir, &evidence.join("image")).unwrap();
        n_losses += 1;
        total.records += loss.records;
        total.dropped_changes += loss.dropped_changes;
        total.torn_writes += loss.torn_writes;
        total.dropped_entries += loss.dropped_entries;
        let context = format!("{context} that dropped {loss:?}");
        if let Err(failure) = reopen_and_check(target, &mut promises, run, &context).await {
            let evidence = keep_evidence(&evidence, seed, run);
            return Err(format!("{failure}\n{evidence}"));
        }
    }
    assert!(
        n_acked > runs as usize,
        "the probes acknowledged too little to test"
    );
    Ok(format!(
        "{runs} runs, {n_losses} power losses: {n_acked} batches acknowledged; {total:?}"
    ))
}

/// Starts following the store's directory from its current state (now and then an empty one,
/// so power losses also meet the creation of a store), with fresh evidence.
fn start_segment(
    target: &Target<'_>,
    evidence: &Path,
    random: &mut Random,
    promises: &mut Promises,
) -> PowerLoss {
    if !promises.acked.is_empty() && random.one_in(6) {
        std::fs::remove_dir_all(&target.dir).unwrap();
        std::fs::create_dir_all(&target.dir).unwrap();
        *promises = Promises::default();
    }
    let _ = std::fs::remove_dir_all(evidence);
    copy_tree(&target.dir, &evidence.join("before")).unwrap();
    PowerLoss::start(&target.dir).unwrap()
}

/// Mostly a few hundred milliseconds; now and then a longer run, so the periodic work of a
/// writer (refreshing a cache file, copying the WAL into the database) meets the power loss
/// too, and a shorter one, so the open does.
fn random_delay(random: &mut Random) -> Duration {
    match random.below(8) {
        0 => Duration::from_millis(2_000 + random.below(1_000)),
        1 => Duration::from_millis(5 + random.below(40)),
        _ => Duration::from_millis(50 + random.below(300)),
    }
}

fn append_file(path: &Path, text: &str) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Copies the directory tree `from` to `to`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Moves a failed run's evidence (the store before the run, the journal, the probe's output
/// and the image the reopen was given) where it outlives the test; says where.
fn keep_evidence(evidence: &Path, seed: u64, run: u64) -> String {
    let kept = std::env::temp_dir().join(format!("annal-faults-{seed}-run-{run}"));
    let _ = std::fs::remove_dir_all(&kept);
    match copy_tree(evidence, &kept) {
        Ok(()) => format!(
            "the store before the run, the probe's output, the store the reopen was given \
             (image) and any journal are kept in {}",
            kept.display()
        ),
        Err(error) => format!("keeping the evidence failed: {error}"),
    }
}

fn probe_command(target: &Target<'_>, mode: &str, run: u64) -> Command {
    let mut command = Command::new(&target.probe);
    command
        .arg(mode)
        .arg(&target.store)
        .args([run.to_string(), TASKS.to_string(), BATCH.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("ANNAL_PROBE_MAINTAIN", "1")
        .envs(target.probe_env.iter().copied());
    command
}

/// Reopens the store, checks it against everything acknowledged, and appends one batch to
/// show that a reopened store writes again.
async fn reopen_and_check(
    target: &Target<'_>,
    promises: &mut Promises,
    run: u64,
    context: &str,
) -> Result<(), String> {
    let store = match (target.open)() {
        Ok(store) => store,
        Err(error) => return Err(format!("{context}: the store does not reopen: {error}")),
    };
    check_store(store.as_ref(), promises, BATCH)
        .await
        .map_err(|error| format!("{context}: after reopening, {error}"))?;
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
    let result = store
        .append(&stream, ExpectedVersion::Any, events)
        .await
        .map_err(|error| format!("{context}: the reopened store refuses an append: {error}"))?;
    promises.acked.push(Acked {
        stream: "reopened".into(),
        version: result.stream_version.0,
        ids,
    });
    Ok(())
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

/// Runs `command` until it exits; a hang, a failure or a panic is an error.
fn run_to_end(command: Command, context: &str) -> Result<(String, String), String> {
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
            return Err(format!(
                "{context}: the probe hung\nstdout:\n{stdout}\nstderr:\n{stderr}"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    if !status.success() || stderr.contains("panicked") {
        return Err(format!(
            "{context}: the probe ended with {status}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ));
    }
    Ok((stdout, stderr))
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
