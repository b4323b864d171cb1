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
