//! The child process of the multi-process tests (`tests/it/processes.rs`); not a user tool.
//!
//! Modes, chosen by the first argument:
//!
//! - `write <url> <tag> <tasks> <millis>`: connects, then runs `<tasks>` concurrent tasks for
//!   `<millis>` ms, each appending one event at a time to its own stream `<tag>-<task>` with an
//!   exact expected version, and prints `ack <position> <id>` after each acknowledged append;
//!   prints `done` at the end.
//! - `subscribe <url>`: subscribes from the start and prints `event <position> <id>` for each
//!   event as it arrives, until killed.
//! - `bench-store <url> <tag> <tasks> <millis>` (the append benchmark's multi-process case):
//!   like `write` with `ExpectedVersion::Any` and the benchmark's 300-byte payload, printing
//!   only `count <n>` at the end.
//! - `bench-plain <url> <tag> <connections> <millis>`: the same rows as plain one-row
//!   `INSERT`s into the benchmark's `ceiling` table from `<connections>` connections, printing
//!   `count <n>` at the end.

// A test child reports through stdout by design.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::io::Write;
use std::time::{Duration, Instant};

use annal_core::{
    EventId, EventType, ExpectedVersion, Filter, NewEvent, Position, Store, StreamId,
};
use annal_postgres::PostgresStore;
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match arg(0)? {
        "write" => {
            let (tasks, millis) = (arg(3)?.parse()?, arg(4)?.parse()?);
            runtime.block_on(write(
                arg(1)?,
                arg(2)?,
                tasks,
                Duration::from_millis(millis),
            ))
        }
        "subscribe" => runtime.block_on(subscribe(arg(1)?)),
        "bench-store" | "bench-plain" => {
            let (tasks, millis) = (arg(3)?.parse()?, arg(4)?.parse()?);
            let run_for = Duration::from_millis(millis);
            let count = if arg(0)? == "bench-store" {
                runtime.block_on(bench_store(arg(1)?, arg(2)?, tasks, run_for))?
            } else {
                runtime.block_on(bench_plain(arg(1)?, arg(2)?, tasks, run_for))?
            };
            say(&format!("count {count}"))
        }
        other => Err(format!("unknown mode {other}").into()),
    }
}

fn say(line: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

async fn write(url: &str, tag: &str, tasks: u64, run_for: Duration) -> Result<()> {
    let store = PostgresStore::connect(url).await?;
    let deadline = Instant::now() + run_for;
    let mut workers = Vec::new();
    for task in 0..tasks {
        let store = store.clone();
        let stream = StreamId::new(format!("{tag}-{task}"))?;
        workers.push(tokio::spawn(append_until(store, stream, deadline)));
    }
    for worker in workers {
        worker.await??;
    }
    say("done")
}

async fn append_until(store: PostgresStore, stream: StreamId, deadline: Instant) -> Result<()> {
    let mut version = store.stream_version(&stream).await?;
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let id = format!("{stream}-{n}");
        let event = NewEvent::new(EventType::new("probe:step")?, json!({ "n": n }))
            .with_id(EventId::new(id.clone())?);
        let result = store
            .append(&stream, ExpectedVersion::Exact(version), vec![event])
            .await?;
        version = result.stream_version;
        say(&format!("ack {} {id}", result.first_position.0))?;
    }
    Ok(())
}

async fn subscribe(url: &str) -> Result<()> {
    let store = PostgresStore::connect(url).await?;
    let mut events = store.subscribe(Position::START, Filter::all()).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        say(&format!("event {} {}", event.position.0, event.id))?;
    }
    Err("the subscription ended".into())
}

/// The benchmark's payload: about 300 bytes of JSON.
fn note(n: u64) -> serde_json::Value {
    json!({ "n": n, "note": "the agent finished the step and wrote its findings to memory; ".repeat(4) })
}

async fn bench_store(url: &str, tag: &str, tasks: u64, run_for: Duration) -> Result<u64> {
    let store = PostgresStore::connect(url).await?;
    let deadline = Instant::now() + run_for;
    let mut workers = Vec::new();
    for task in 0..tasks {
        let store = store.clone();
        let stream = StreamId::new(format!("{tag}-{task}"))?;
        workers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let event = NewEvent::new(EventType::new("agent:step")?, note(n))
                    .with_source("orchestrator");
                store
                    .append(&stream, ExpectedVersion::Any, vec![event])
                    .await?;
                n += 1;
            }
            Ok::<u64, Box<dyn Error + Send + Sync>>(n)
        }));
    }
    let mut count = 0;
    for worker in workers {
        count += worker.await??;
    }
    Ok(count)
}

const PLAIN_INSERT: &str = "INSERT INTO ceiling (position, stream_id, version, type_id, \
     aggregate_type_id, timestamp, id, source, payload, metadata) \
     VALUES ($1, $2, $3, 1, 1, $4, $5, 'orchestrator', $6, '{}')";

async fn bench_plain(url: &str, tag: &str, connections: u64, run_for: Duration) -> Result<u64> {
    let deadline = Instant::now() + run_for;
    // Positions of different processes must not collide: each takes the range its tag's
    // digits name ("r1p2" → 12).
    let digits: String = tag.chars().filter(char::is_ascii_digit).collect();
    let offset: i64 = digits.parse::<i64>().unwrap_or(0) * 1_000_000_000;
    let mut workers = Vec::new();
    for connection in 0..connections {
        let (client, driver) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(driver);
        let first = offset + connection as i64 * 10_000_000;
        let tag = tag.to_owned();
        workers.push(tokio::spawn(async move {
            let statement = client.prepare(PLAIN_INSERT).await?;
            let mut n = 0i64;
            while Instant::now() < deadline {
                let position = first + n;
                let id = format!("{tag}-{position}");
                let payload = note(n as u64).to_string();
                let stamp = 1_700_000_000_000i64;
                client
                    .execute(
                        &statement,
                        &[&position, &position, &n, &stamp, &id, &payload],
                    )
                    .await?;
                n += 1;
            }
            Ok::<u64, Box<dyn Error + Send + Sync>>(n as u64)
        }));
    }
    let mut count = 0;
    for worker in workers {
        count += worker.await??;
    }
    Ok(count)
}
