//! The probe process: the child that the crash, fault, power-loss, lock and multi-process tests
//! of a durable backend start, kill and read; not a user tool.
//!
//! A backend's `src/bin/probe.rs` calls [`probe_main`] with its [`ProbeBackend`]. Modes,
//! chosen by the first argument (`<store>` is what the backend opens: a file, a directory):
//!
//! - `write <store> <run> <tasks> <batch>`: opens `<store>` for writing, prints `ready`, then
//!   runs `<tasks>` concurrent tasks, each appending batches of `<batch>` events to its own
//!   stream with an exact expected version, and prints `ack <stream> <version> <id>...`
//!   (flushed) after each acknowledged batch, until killed. `ANNAL_PROBE_DURABILITY=relaxed`
//!   opens the store with relaxed durability. With `ANNAL_PROBE_MAINTAIN=1`, after every
//!   fourth batch task 0 removes all but its last batch (`trimming <stream> <before>`, then
//!   `trim ...` once acknowledged) and task 1 saves a snapshot (`snapshotting <stream>
//!   <version>`, then `snapshot ...`).
//! - `faults <store> <run> <tasks> <batch> <batches>`: like `write`, but each task stops after
//!   `<batches>` batches (`done <stream>`), and an open or append that fails is reported
//!   instead of ending the process: `open-error <message>`, or `error <stream> <kind>
//!   <message>` followed by `after <stream> <kind> <message>` for one more append, where
//!   `<kind>` is `poisoned`, `storage`, `other` or `ok` (the protocol of
//!   [`crate::faults::check`]). Run under the fault shim by the fault tests.
//! - `hold <store>`: opens `<store>` for writing, prints `ready`, and holds it until stdin
//!   closes.
//! - `open <store>`: tries to open `<store>` for writing; prints the error and exits with 3 if
//!   the store is in use, exits 0 if it opened.
//! - `rename <from> <to>`: renames `<from>` over `<to>` and exits without syncing the
//!   directory, as a writer killed between a rename and its directory fsync leaves it.
//! - `tail <store> <n>`: opens `<store>` read-only, subscribes from the start, prints `event
//!   <position>` for each event as it arrives, and exits 0 after `<n>` events.

use std::error::Error;
use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;

use annal_core::{Filter, Position, Store};
use futures::StreamExt;

use super::appender::{self, Plan};

/// What the probe's modes return: any error ends the process with its message.
pub type ProbeResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// The durability a writer is opened with (each backend maps it to its own option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeDurability {
    /// An append is acknowledged once it is durable.
    Durable,
    /// The backend's relaxed mode, acknowledged before the sync; the power-loss tests use it
    /// to show that they catch such acknowledgments.
    Relaxed,
}

/// Why a backend did not open its store.
#[derive(Debug)]
pub enum ProbeOpenError {
    /// Another process holds the store for writing.
    InUse(Box<dyn Error + Send + Sync>),
    /// Any other failure.
    Other(Box<dyn Error + Send + Sync>),
}

impl ProbeOpenError {
    fn inner(&self) -> &(dyn Error + Send + Sync + 'static) {
        match self {
            Self::InUse(error) | Self::Other(error) => error.as_ref(),
        }
    }
}

impl std::fmt::Display for ProbeOpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.inner(), f)
    }
}

// The message and sources are the backend's own, so a report reads as the backend wrote it.
impl Error for ProbeOpenError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.inner().source()
    }
}

/// How the probe opens one backend's store: all it needs to know of the backend.
pub trait ProbeBackend {
    /// Opens the store at `location` for writing.
    fn open(
        &self,
        location: &str,
        durability: ProbeDurability,
    ) -> impl Future<Output = Result<Arc<dyn Store>, ProbeOpenError>>;

    /// Opens the store at `location` read-only.
    fn open_read_only(
        &self,
        location: &str,
    ) -> impl Future<Output = Result<Arc<dyn Store>, ProbeOpenError>>;
}

/// The probe's `main`: runs the mode its arguments name against `backend`'s store.
pub fn probe_main(backend: &impl ProbeBackend) -> ProbeResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |index: usize| -> ProbeResult<&str> {
        args.get(index)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument {index}").into())
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match arg(0)? {
        "write" => {
            let plan = Plan::parse(arg(2)?, arg(3)?, arg(4)?)?;
            runtime.block_on(write(backend, arg(1)?, plan))
        }
        "faults" => {
            let plan = Plan::parse(arg(2)?, arg(3)?, arg(4)?)?;
            runtime.block_on(faults(backend, arg(1)?, plan, arg(5)?.parse()?))
        }
        "hold" => {
            let store = runtime.block_on(backend.open(arg(1)?, ProbeDurability::Durable))?;
            say("ready")?;
            let mut rest = Vec::new();
            std::io::stdin().read_to_end(&mut rest)?;
            drop(store);
            Ok(())
        }
        "open" => match runtime.block_on(backend.open(arg(1)?, ProbeDurability::Durable)) {
            Ok(_) => Ok(()),
            Err(error @ ProbeOpenError::InUse(_)) => {
                say(&format!("error {error}"))?;
                std::process::exit(3)
            }
            Err(error) => Err(error.into()),
        },
        "rename" => Ok(std::fs::rename(arg(1)?, arg(2)?)?),
        "tail" => runtime.block_on(tail(backend, arg(1)?, arg(2)?.parse()?)),
        other => Err(format!("unknown mode {other}").into()),
    }
}

/// Prints one line of the protocol and flushes it, so a kill right after loses nothing said.
pub(super) fn say(line: &str) -> ProbeResult<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

/// The error and its sources on one line.
pub(super) fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// `ANNAL_PROBE_DURABILITY=relaxed` asks for the relaxed mode.
fn durability_from_env() -> ProbeDurability {
    match std::env::var("ANNAL_PROBE_DURABILITY") {
        Ok(value) if value == "relaxed" => ProbeDurability::Relaxed,
        _ => ProbeDurability::Durable,
    }
}

async fn write(backend: &impl ProbeBackend, location: &str, plan: Plan) -> ProbeResult<()> {
    let store = backend.open(location, durability_from_env()).await?;
    say("ready")?;
    appender::append_forever(store, plan).await
}

async fn faults(
    backend: &impl ProbeBackend,
    location: &str,
    plan: Plan,
    batches: u64,
) -> ProbeResult<()> {
    let store = match backend.open(location, ProbeDurability::Durable).await {
        Ok(store) => store,
        Err(error) => return say(&format!("open-error {}", one_line(&error))),
    };
    say("ready")?;
    appender::append_until_failure(store, plan, batches).await
}

async fn tail(backend: &impl ProbeBackend, location: &str, n_events: usize) -> ProbeResult<()> {
    let store = backend.open_read_only(location).await?;
    let mut events = store.subscribe(Position::START, Filter::all()).await?;
    for _ in 0..n_events {
        let event = events.next().await.ok_or("the subscription ended")??;
        say(&format!("event {}", event.position.0))?;
    }
    Ok(())
}
