//! A swarm's life on annal, as the seed's example usage showed it: record events, build the
//! projections, query them, follow live, snapshot an aggregate, replay, and print stats.
//!
//! Run with `cargo run -p annal-swarm --example swarm`. It uses the in-memory store; any
//! `Arc<dyn Store>` works the same way.

// An example reports to the terminal; that is its whole purpose.
#![allow(clippy::print_stdout)]
#![allow(clippy::too_many_lines)] // an example reads top to bottom as one walkthrough

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use annal_core::{MemoryStore, Position, ProjectionRunner, Store, StreamId, collect};
use annal_swarm::aggregate::{load, save_snapshot};
use annal_swarm::events::{DomainEvent, agent, memory, swarm, task};
use annal_swarm::ledger::{RunLedger, TaskIntent};
use annal_swarm::projections::{AgentState, AgentStatus, MemoryIndex, TaskHistory};
use serde_json::json;

fn id(value: &str) -> Result<StreamId, Box<dyn Error>> {
    Ok(StreamId::new(value)?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let at = 1_700_000_000_000;

    println!("== recording a swarm");
    let swarm_id = id("swarm-demo")?;
    let (coder, tester) = (id("agent-coder")?, id("agent-tester")?);
    let (build, review) = (id("task-build")?, id("task-review")?);
    let notes = id("mem-notes")?;
    let drafts = vec![
        swarm::initialized(
            &swarm_id,
            "hierarchical-mesh",
            15,
            json!({"region": "local"}),
            at,
        ),
        agent::spawned(&coder, "coder", "core", vec!["coding".into()], at + 1),
        agent::spawned(&tester, "tester", "quality", vec!["testing".into()], at + 2),
        task::created(
            &build,
            "implementation",
            "Build the index",
            "",
            "high",
            vec![],
            at + 3,
        ),
        task::created(
            &review,
            "review",
            "Review it",
            "",
            "medium",
            vec!["task-build".into()],
            at + 4,
        ),
        agent::started(&coder, at + 5),
        agent::task_assigned(&coder, &build, at + 6),
        task::started(&build, &coder, at + 7),
        task::blocked(&review, vec!["task-build".into()], at + 8),
        memory::stored(&notes, "design", "index-notes", "semantic", 2048, at + 9),
        memory::retrieved(&notes, "design", "index-notes", 1, at + 10),
        task::completed(&build, json!({"files": 3}), 4200, at + 11),
        agent::task_completed(&coder, &build, json!({"files": 3}), 4200, at + 12),
        swarm::milestone_reached(&swarm_id, "m-1", "index built", at + 13),
    ];
    let count = drafts.len();
    for draft in drafts {
        draft
            .with_correlation_id("demo-run")
            .append(&*store)
            .await?;
    }
    println!("recorded {count} events");

    println!("\n== projections");
    let mut agents = ProjectionRunner::<AgentState>::load(Arc::clone(&store)).await?;
    agents.catch_up().await?;
    let mut tasks = ProjectionRunner::<TaskHistory>::load(Arc::clone(&store)).await?;
    tasks.catch_up().await?;
    let mut memories = ProjectionRunner::<MemoryIndex>::load(Arc::clone(&store)).await?;
    memories.catch_up().await?;
    for agent in agents.state().all() {
        println!(
            "agent {:<14} {:<9} domain {:<8} completed {} failed {} avg {:?} ms health {:?}",
            agent.id,
            agent.status.as_str(),
            agent.domain,
            agent.completed_count(),
            agent.failed_count(),
            agent.average_task_duration_ms(),
            agent.health()
        );
    }
    {
        let tasks = tasks.state();
        println!(
            "tasks: {} completed, average {:?} ms, success rate {:?}",
            tasks.completed_count(),
            tasks.average_duration_ms(),
            tasks.success_rate()
        );
        for blocked in tasks.blocked() {
            println!(
                "  {} is blocked by {:?} (unmet: {:?})",
                blocked.task.id, blocked.blocked_by, blocked.unmet_dependencies
            );
        }
    }
    println!(
        "memory: {} bytes in namespace design, most accessed {:?}",
        memories.state().total_size("design"),
        memories
            .state()
            .most_accessed(1)
            .iter()
            .map(|m| &m.key)
            .collect::<Vec<_>>()
    );

    println!("\n== following live");
    let mut live = agents.follow().await?;
    agent::status_changed(&tester, "idle", "active", at + 14)
        .append(&*store)
        .await?;
    let head = store.head().await?;
    tokio::time::timeout(Duration::from_secs(5), live.wait_for(head)).await??;
    println!(
        "active agents now: {}",
        live.state().by_status(AgentStatus::Active).len()
    );
    live.stop().await?;

    println!("\n== snapshot and resume");
    let loaded = load::<TaskHistory>(&*store, &build).await?;
    save_snapshot(&*store, &build, &loaded, at + 15).await?;
    let resumed = load::<TaskHistory>(&*store, &build).await?;
    println!(
        "task-build at version {} from snapshot {:?}, {} events replayed on top",
        resumed.version.0, resumed.snapshot_version, resumed.replayed
    );

    println!("\n== replay");
    for event in collect(store.read_all(Position::START).await?).await? {
        let kind = match DomainEvent::decode(&event)? {
            DomainEvent::Unknown { .. } => "unknown",
            _ => "typed",
        };
        println!(
            "{:>3} {:<24} {:<14} ({kind})",
            event.position.0,
            event.event_type.as_str(),
            event.aggregate_id.as_str()
        );
    }

    println!("\n== run ledger");
    let ledger = RunLedger::new(Arc::clone(&store));
    let mut run = ledger.create_event("task-build", TaskIntent::Feature, "gh-1");
    run.tools_used = vec!["Read".into(), "Edit".into()];
    run.test_results.ran = true;
    run.test_results.passed = 12;
    let run = ledger.log(run).await?;
    for result in ledger.evaluate(&run) {
        println!(
            "  {:<26} passed {:<5} {}",
            result.name, result.passed, result.details
        );
    }
    println!("  metrics: {:?}", ledger.metrics().await?);

    println!("\n== stats");
    let stats = store.stats(3).await?;
    println!(
        "total events {}, snapshots {}",
        stats.total_events, stats.snapshot_count
    );
    for (event_type, count) in &stats.events_by_type {
        println!("  {event_type:<24} {count}");
    }
    Ok(())
}
