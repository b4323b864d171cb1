//! `annal demo`: simulates a swarm writing into the store (agents spawned, tasks created,
//! assigned, completed or failed, memory stored and read, the swarm scaled), with agents working
//! concurrently so the store's group commit shows, then prints the three projections and the
//! throughput achieved.

use std::sync::Arc;
use std::time::Instant;

use annal_core::{AppendError, AppendResult, Store, StreamId};
use annal_swarm::events::{EventDraft, agent, memory, swarm, task};
use anyhow::Context;
use serde_json::json;

use crate::args::DemoArgs;
use crate::commands::maintain::now_ms;
use crate::commands::project;
use crate::output::Output;

pub(crate) async fn run(
    store: Arc<dyn Store>,
    args: DemoArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    anyhow::ensure!(args.agents > 0, "--agents must be at least 1");
    let run_id = format!("demo-{}", now_ms());
    let swarm_id = StreamId::new(format!("swarm-{run_id}"))?;
    let started = Instant::now();
    let mut appended = 0u64;
    let t0 = now_ms();
    commit(
        swarm::initialized(
            &swarm_id,
            "hierarchical-mesh",
            15,
            json!({"run": run_id}),
            t0,
        )
        .append(&*store)
        .await,
    )?;
    appended += 1;
    let bar = crate::commands::transfer::progress(out, args.tasks, "simulating");
    let mut workers = Vec::new();
    for worker in 0..args.agents {
        let store = Arc::clone(&store);
        let run_id = run_id.clone();
        let tasks: Vec<u64> = (0..args.tasks)
            .filter(|n| n % args.agents == worker)
            .collect();
        let bar = bar.clone();
        workers.push(tokio::spawn(async move {
            work(store, run_id, worker, tasks, bar).await
        }));
    }
    for worker in workers {
        appended += worker.await.context("a demo agent stopped")??;
    }
    bar.finish_and_clear();
    let now = now_ms();
    let scaled = swarm::scaled(
        &swarm_id,
        0,
        u32::try_from(args.agents).unwrap_or(u32::MAX),
        "demo load",
        now,
    );
    commit(scaled.append(&*store).await)?;
    appended += 1;
    let elapsed = started.elapsed();
    let rate = appended as f64 / elapsed.as_secs_f64().max(1e-9);
    out.value(
        &json!({"run": run_id, "events": appended, "seconds": elapsed.as_secs_f64(), "eventsPerSecond": rate}),
        &format!(
            "simulated run {run_id}: {appended} events from {} concurrent agents in {:.2} s \
             ({rate:.0} durable appends/s, one event per append)\n",
            args.agents,
            elapsed.as_secs_f64()
        ),
    )?;
    project::print_all(store, out).await
}

fn commit(result: Result<AppendResult, AppendError>) -> anyhow::Result<()> {
    result.context("demo append")?;
    Ok(())
}

/// One agent's appends, each stamped with the agent as its source and the run as its
/// correlation id, and how many it made.
struct AgentWriter {
    store: Arc<dyn Store>,
    agent_id: StreamId,
    run_id: String,
    appended: u64,
}

impl AgentWriter {
    async fn send(&mut self, draft: EventDraft) -> anyhow::Result<()> {
        let draft = draft
            .with_source(self.agent_id.to_string())
            .with_correlation_id(self.run_id.clone());
        self.appended += 1;
        draft.append(&*self.store).await.context("demo append")?;
        Ok(())
    }
}

/// One agent's life: spawn, start, then its tasks (each with memory traffic), then stop.
async fn work(
    store: Arc<dyn Store>,
    run_id: String,
    worker: u64,
    tasks: Vec<u64>,
    bar: indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    let domains = ["core", "security", "integration", "quality"];
    let mut writer = AgentWriter {
        store,
        agent_id: StreamId::new(format!("agent-{run_id}-{worker}"))?,
        run_id,
        appended: 0,
    };
    let domain = domains[(worker % 4) as usize];
    let spawned = agent::spawned(
        &writer.agent_id,
        "coder",
        domain,
        vec!["rust".into(), "tests".into()],
        now_ms(),
    );
    writer.send(spawned).await?;
    writer
        .send(agent::started(&writer.agent_id, now_ms()))
        .await?;
    for n in tasks {
        run_task(&mut writer, n).await?;
        bar.inc(1);
    }
    writer
        .send(agent::stopped(&writer.agent_id, "done", now_ms()))
        .await?;
    Ok(writer.appended)
}

/// Task `n` from creation to its end: started by the agent, its memory stored and read, then
/// failed or completed; every tenth task's memory is deleted afterwards.
async fn run_task(writer: &mut AgentWriter, n: u64) -> anyhow::Result<()> {
    let task_id = StreamId::new(format!("task-{}-{n}", writer.run_id))?;
    let began = start_task(writer, &task_id, n).await?;
    let memory_id = StreamId::new(format!("mem-{}-{n}", writer.run_id))?;
    let namespace = format!("ns-{}", n % 3);
    use_memory(writer, &memory_id, &namespace, n).await?;
    let duration = u64::try_from(now_ms() - began).unwrap_or(0) + 1_000 + n % 500;
    finish_task(writer, &task_id, duration, n).await?;
    if n % 10 == 9 {
        let deleted = memory::deleted(&memory_id, namespace.as_str(), format!("key-{n}"), now_ms());
        writer.send(deleted).await?;
    }
    Ok(())
}

/// Creates, queues, assigns and starts task `n`; returns when it started.
async fn start_task(writer: &mut AgentWriter, task_id: &StreamId, n: u64) -> anyhow::Result<i64> {
    let priority = ["critical", "high", "medium", "low"][(n % 4) as usize];
    let created = task::created(
        task_id,
        "implementation",
        format!("Task {n}"),
        "demo",
        priority,
        vec![],
        now_ms(),
    );
    writer.send(created).await?;
    writer
        .send(task::queued(task_id, priority, now_ms()))
        .await?;
    let assigned = agent::task_assigned(&writer.agent_id, task_id, now_ms());
    writer.send(assigned).await?;
    let began = now_ms();
    writer
        .send(task::started(task_id, &writer.agent_id, began))
        .await?;
    Ok(began)
}

/// Stores task `n`'s memory entry, then reads it back one to three times.
async fn use_memory(
    writer: &mut AgentWriter,
    memory_id: &StreamId,
    namespace: &str,
    n: u64,
) -> anyhow::Result<()> {
    let stored = memory::stored(
        memory_id,
        namespace,
        format!("key-{n}"),
        "semantic",
        256 + n * 8,
        now_ms(),
    );
    writer.send(stored).await?;
    for access in 1..=(n % 3 + 1) {
        let retrieved =
            memory::retrieved(memory_id, namespace, format!("key-{n}"), access, now_ms());
        writer.send(retrieved).await?;
    }
    Ok(())
}

/// Ends task `n`: every seventh fails (and its agent reports the failure), the rest complete.
async fn finish_task(
    writer: &mut AgentWriter,
    task_id: &StreamId,
    duration: u64,
    n: u64,
) -> anyhow::Result<()> {
    if n % 7 == 3 {
        writer
            .send(task::failed(task_id, "tests failed", None, 0, now_ms()))
            .await?;
        let failed = agent::failed(&writer.agent_id, "task failed", None, now_ms());
        return writer.send(failed).await;
    }
    let completed = task::completed(task_id, json!({"ok": true}), duration, now_ms());
    writer.send(completed).await?;
    let agent_completed = agent::task_completed(
        &writer.agent_id,
        task_id,
        json!({"ok": true}),
        duration,
        now_ms(),
    );
    writer.send(agent_completed).await
}
