//! The child process of the multi-process and crash tests (`tests/it/crash.rs`,
//! `tests/it/processes.rs`); not a user tool.
//!
//! Modes, chosen by the first argument:
//!
//! - `write <db> <run> <tasks> <batch>`: opens `<db>` for writing, prints `ready`, then runs
//!   `<tasks>` concurrent tasks, each appending batches of `<batch>` events to its own stream
//!   with an exact expected version, and prints `ack <stream> <version> <id>...` (flushed)
//!   after each acknowledged batch, until killed. `ANNAL_PROBE_DURABILITY=relaxed` opens the
//!   store with relaxed durability. With `ANNAL_PROBE_MAINTAIN=1`, after every fourth batch
//!   task 0 removes all but its last batch (`trimming <stream> <before>`, then `trim ...` once
//!   acknowledged) and task 1 saves a snapshot (`snapshotting <stream> <version>`, then
//!   `snapshot ...`).
//! - `faults <db> <run> <tasks> <batch> <batches>`: like `write`, but each task stops after
//!   `<batches>` batches (`done <stream>`), and an open or append that fails is reported
//!   instead of ending the process: `open-error <message>`, or `error <stream> <kind>
//!   <message>` followed by `after <stream> <kind> <message>` for one more append, where
//!   `<kind>` is `poisoned`, `storage`, `other` or `ok` (the protocol of
//!   `annal_testkit::faults::check`). Run under the fault shim by the fault tests.
//! - `hold <db>`: opens `<db>` for writing, prints `ready`, and holds it until stdin closes.
//! - `open <db>`: tries to open `<db>` for writing; prints the error and exits with 3 if the
//!   store is in use, exits 0 if it opened.
//! - `tail <db> <n>`: opens `<db>` read-only, subscribes from the start, prints `event
//!   <position>` for each event as it arrives, and exits 0 after `<n>` events.

// A test child reports through stdout by design.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::io::{Read, Write};

use annal_core::{
    AggregateType, AppendError, EventId, EventType, ExpectedVersion, Filter, NewEvent, Position,
    RetentionError, Snapshot, SnapshotError, StorageError, Store, StreamId, Version,
};
use annal_sqlite::{OpenError, SqliteStore};
use futures::StreamExt;
use serde_json::json;

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |index: usize| -> Result<&str> {
        args.get(index)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument {index}").into())
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    match arg(0)? {
        "write" => {
            let (run, tasks, batch) = (arg(2)?.parse()?, arg(3)?.parse()?, arg(4)?.parse()?);
            runtime.block_on(write(arg(1)?, run, tasks, batch))
        }
        "faults" => {
            let (run, tasks) = (arg(2)?.parse()?, arg(3)?.parse()?);
            let (batch, batches) = (arg(4)?.parse()?, arg(5)?.parse()?);
            runtime.block_on(faults(arg(1)?, run, tasks, batch, batches))
        }
        "hold" => {
            let store = SqliteStore::open(arg(1)?)?;
            say("ready")?;
            let mut rest = Vec::new();
            std::io::stdin().read_to_end(&mut rest)?;
            drop(store);
            Ok(())
        }
        "open" => match SqliteStore::open(arg(1)?) {
            Ok(_) => Ok(()),
            Err(error @ OpenError::InUse { .. }) => {
                say(&format!("error {error}"))?;
                std::process::exit(3)
            }
            Err(error) => Err(error.into()),
        },
        "tail" => runtime.block_on(tail(arg(1)?, arg(2)?.parse()?)),
        other => Err(format!("unknown mode {other}").into()),
    }
}

fn say(line: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

async fn write(db: &str, run: u64, tasks: u64, batch: u64) -> Result<()> {
    let store = SqliteStore::open_with(db, write_options())?;
    say("ready")?;
    let mut workers = Vec::new();
    for task in 0..tasks {
        let store = store.clone();
        workers.push(tokio::task::spawn(async move {
            append_forever(store, run, task, batch).await
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

/// The writer's options: `ANNAL_PROBE_DURABILITY=relaxed` asks for the relaxed mode, which
/// the power-loss test uses to show that it catches acknowledgments made before an fsync.
fn write_options() -> annal_sqlite::OpenOptions {
    let relaxed = std::env::var("ANNAL_PROBE_DURABILITY").is_ok_and(|value| value == "relaxed");
    let options = annal_sqlite::OpenOptions::new().durability(if relaxed {
        annal_sqlite::Durability::Relaxed
    } else {
        annal_sqlite::Durability::Durable
    });
    // The crash test indexes often, so kills land inside groups that index too.
    match std::env::var("ANNAL_PROBE_INDEX_EVERY")
        .ok()
        .and_then(|every| every.parse().ok())
    {
        Some(every) => options.index_every(every),
        None => options,
    }
}

async fn append_forever(store: SqliteStore, run: u64, task: u64, batch: u64) -> Result<()> {
    let stream = StreamId::new(format!("w{task}"))?;
    let mut version = store.stream_version(&stream).await?;
    for n_batch in 0u64.. {
        let ids: Vec<String> = (0..batch)
            .map(|i| format!("r{run}-t{task}-b{n_batch}-{i}"))
            .collect();
        let events = ids
            .iter()
            .map(|id| {
                Ok(
                    NewEvent::new(EventType::new("crash:step")?, json!({ "id": id }))
                        .with_id(EventId::new(id.clone())?),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let result = store
            .append(&stream, ExpectedVersion::Exact(version), events)
            .await?;
        assert_eq!(
            result.stream_version,
            Version(version.0 + batch),
            "versions are contiguous"
        );
        version = result.stream_version;
        say(&format!("ack {stream} {} {}", version.0, ids.join(" ")))?;
        if let Some((kind, message)) =
            maintain(&store, &stream, task, n_batch, version, batch).await?
        {
            return Err(format!("{kind}: {message}").into());
        }
    }
    Ok(())
}

async fn faults(db: &str, run: u64, tasks: u64, batch: u64, batches: u64) -> Result<()> {
    let store = match SqliteStore::open(db) {
        Ok(store) => store,
        Err(error) => return say(&format!("open-error {}", one_line(&error))),
    };
    say("ready")?;
    let mut workers = Vec::new();
    for task in 0..tasks {
        let store = store.clone();
        workers.push(tokio::task::spawn(async move {
            append_until_failure(store, run, task, batch, batches).await
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

/// Appends `batches` batches, or until one fails; then reports the failure and one more try.
async fn append_until_failure(
    store: SqliteStore,
    run: u64,
    task: u64,
    batch: u64,
    batches: u64,
) -> Result<()> {
    let stream = StreamId::new(format!("w{task}"))?;
    let mut version = match store.stream_version(&stream).await {
        Ok(version) => version,
        Err(error) => return say(&format!("open-error {}", one_line(&error))),
    };
    for n_batch in 0..=batches {
        let ids: Vec<String> = (0..batch)
            .map(|i| format!("r{run}-t{task}-b{n_batch}-{i}"))
            .collect();
        let events = ids
            .iter()
            .map(|id| {
                Ok(
                    NewEvent::new(EventType::new("crash:step")?, json!({ "id": id }))
                        .with_id(EventId::new(id.clone())?),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        if n_batch == batches {
            return say(&format!("done {stream}"));
        }
        let failure = match store
            .append(&stream, ExpectedVersion::Exact(version), events.clone())
            .await
        {
            Ok(result) => {
                version = result.stream_version;
                say(&format!("ack {stream} {} {}", version.0, ids.join(" ")))?;
                maintain(&store, &stream, task, n_batch, version, batch).await?
            }
            Err(error) => Some((kind(&error), one_line(&error))),
        };
        if let Some((kind_of_error, message)) = failure {
            say(&format!("error {stream} {kind_of_error} {message}"))?;
            let again = store
                .append(&stream, ExpectedVersion::Any, events)
                .await
                .err();
            let (kind, message) = again.map_or(("ok".into(), String::new()), |error| {
                (kind(&error), one_line(&error))
            });
            return say(&format!("after {stream} {kind} {message}"));
        }
    }
    Ok(())
}

/// With `ANNAL_PROBE_MAINTAIN=1`, after every fourth batch task 0 removes all but its last
/// batch and task 1 saves a snapshot at its version, so removals and snapshots meet the faults
/// too; each is announced before and after. Returns the kind and message of a store error.
async fn maintain(
    store: &SqliteStore,
    stream: &StreamId,
    task: u64,
    n_batch: u64,
    version: Version,
    batch: u64,
) -> Result<Option<(String, String)>> {
    let enabled = std::env::var("ANNAL_PROBE_MAINTAIN").is_ok_and(|value| value == "1");
    if !enabled || n_batch % 4 != 3 {
        return Ok(None);
    }
    if task == 0 {
        let before = Version(version.0 + 1 - batch);
        say(&format!("trimming {stream} {}", before.0))?;
        if let Err(error) = store.truncate_before(stream, before, false).await {
            return Ok(Some((retention_kind(&error), one_line(&error))));
        }
        say(&format!("trim {stream} {}", before.0))?;
    } else if task == 1 {
        say(&format!("snapshotting {stream} {}", version.0))?;
        let snapshot = Snapshot {
            aggregate_id: stream.clone(),
            aggregate_type: AggregateType::new("probe")?,
            version,
            state: json!({ "version": version.0 }),
            timestamp: 0,
        };
        if let Err(error) = store.save_snapshot(snapshot).await {
            let kind = storage_kind(match &error {
                SnapshotError::Storage(error) => Some(error),
                _ => None,
            });
            return Ok(Some((kind, one_line(&error))));
        }
        say(&format!("snapshot {stream} {}", version.0))?;
    }
    Ok(None)
}

fn kind(error: &AppendError) -> String {
    storage_kind(match error {
        AppendError::Storage(error) => Some(error),
        _ => None,
    })
}

fn retention_kind(error: &RetentionError) -> String {
    storage_kind(match error {
        RetentionError::Storage(error) => Some(error),
        _ => None,
    })
}

fn storage_kind(error: Option<&StorageError>) -> String {
    match error {
        Some(StorageError::Poisoned { .. }) => "poisoned",
        Some(_) => "storage",
        None => "other",
    }
    .into()
}

/// The error and its sources on one line.
fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text.replace('\n', " ")
}

async fn tail(db: &str, n_events: usize) -> Result<()> {
    let store = SqliteStore::open_read_only(db)?;
    let mut events = store.subscribe(Position::START, Filter::all()).await?;
    for _ in 0..n_events {
        let event = events.next().await.ok_or("the subscription ended")??;
        say(&format!("event {}", event.position.0))?;
    }
    Ok(())
}
