//! The README's first command: records a small swarm's events, reads them back three ways,
//! follows a live projection, and prints what it saw.

#![allow(clippy::print_stdout)] // an example reports to its user on stdout
use std::collections::BTreeMap;
use std::sync::Arc;

use annal::sqlite::SqliteStore;
use annal::{
    EventType, ExpectedVersion, Filter, NewEvent, Position, Projection, ProjectionRunner,
    ReadStreamOptions, RecordedEvent, Store, StreamId, collect,
};
use serde_json::json;

/// Counts tasks by their latest status.
#[derive(Default, serde::Serialize, serde::Deserialize)]
struct TaskBoard {
    status: BTreeMap<String, String>,
}

impl Projection for TaskBoard {
    const NAME: &'static str = "task-board";

    fn apply(&mut self, event: &RecordedEvent) {
        if let Some(verb) = event.event_type.as_str().strip_prefix("task:") {
            self.status
                .insert(event.aggregate_id.to_string(), verb.to_owned());
        }
    }
}

fn event(kind: &str, payload: serde_json::Value) -> Result<NewEvent, annal::InvalidName> {
    Ok(NewEvent::new(EventType::new(kind)?, payload).with_source("orchestrator"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("quickstart.db"))?);
    let board = ProjectionRunner::<TaskBoard>::load(Arc::clone(&store)).await?;
    let mut board = board.follow().await?;

    let agent = StreamId::new("agent-1")?;
    let spawned = event(
        "agent:spawned",
        json!({"agentId": "agent-1", "role": "coder"}),
    )?;
    store
        .append(&agent, ExpectedVersion::NoStream, vec![spawned])
        .await?;
    let mut last = Position::START;
    for n in 1..=3 {
        let task = StreamId::new(format!("task-{n}"))?;
        let created = event(
            "task:created",
            json!({"taskId": task.as_str(), "title": "Index docs"}),
        )?;
        let started = event(
            "task:started",
            json!({"taskId": task.as_str(), "agentId": "agent-1"}),
        )?;
        let done = if n == 2 {
            "task:failed"
        } else {
            "task:completed"
        };
        let finished = event(done, json!({"taskId": task.as_str()}))?.with_correlation_id("run-7");
        let batch = vec![created, started, finished];
        last = store
            .append(&task, ExpectedVersion::NoStream, batch)
            .await?
            .last_position;
    }

    let history = collect(
        store
            .read_stream(&agent, ReadStreamOptions::forward())
            .await?,
    )
    .await?;
    let failed = Filter {
        event_types: vec![EventType::new("task:failed")?],
        ..Filter::all()
    };
    let failed = collect(store.query(&failed).await?).await?;
    board.wait_for(last).await?;

    println!(
        "agent-1 has {} event(s); first: {}",
        history.len(),
        history[0].event_type
    );
    println!(
        "failed tasks: {:?}",
        failed
            .iter()
            .map(|e| e.aggregate_id.as_str())
            .collect::<Vec<_>>()
    );
    println!("task board (live projection at {:?}):", board.checkpoint());
    for (task, status) in &board.state().status {
        println!("  {task:8} {status}");
    }
    let stats = store.stats(3).await?;
    println!(
        "{} events in {} streams, positions {:?}..{:?}",
        stats.total_events, stats.stream_count, stats.first_position, stats.last_position
    );
    board.stop().await?;
    Ok(())
}
