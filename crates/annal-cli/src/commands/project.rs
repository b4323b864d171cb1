//! `annal project agents|tasks|memory`: brings a projection up to date (resuming from its saved
//! checkpoint, so only new events are folded) and prints its answers to the query flags.

use std::sync::Arc;

use annal_core::{Position, ProjectionRunner, Store};
use annal_swarm::projections::{
    Agent, AgentState, AgentStatus, Memory, MemoryIndex, Task, TaskHistory, TaskStatus,
};
use comfy_table::Table;
use serde_json::json;

use crate::args::{ProjectArgs, ProjectCommand};
use crate::output::Output;

pub(crate) async fn run(
    store: Arc<dyn Store>,
    args: ProjectArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    match args.command {
        ProjectCommand::Agents {
            status,
            domain,
            limit,
        } => {
            let runner = caught_up::<AgentState>(store).await?;
            let state = runner.state();
            let status = status.map(|s| parse_agent_status(&s)).transpose()?;
            let agents: Vec<_> = state
                .all()
                .filter(|a| status.is_none_or(|s| a.status == s))
                .filter(|a| domain.as_deref().is_none_or(|d| a.domain == d))
                .take(limit.unwrap_or(usize::MAX))
                .collect();
            print_agents(&state, &agents, runner.checkpoint(), out)
        }
        ProjectCommand::Tasks {
            status,
            agent,
            priority,
            blocked,
            limit,
        } => {
            let runner = caught_up::<TaskHistory>(store).await?;
            let state = runner.state();
            let status = status.map(|s| parse_task_status(&s)).transpose()?;
            let tasks: Vec<_> = state
                .all()
                .filter(|t| status.is_none_or(|s| t.status == s))
                .filter(|t| {
                    agent
                        .as_deref()
                        .is_none_or(|a| t.assigned_agent.as_deref() == Some(a))
                })
                .filter(|t| priority.as_deref().is_none_or(|p| t.priority == p))
                .filter(|t| !blocked || !t.blocked_by.is_empty())
                .take(limit.unwrap_or(usize::MAX))
                .collect();
            print_tasks(&state, &tasks, runner.checkpoint(), out)
        }
        ProjectCommand::Memory { namespace, top } => {
            let runner = caught_up::<MemoryIndex>(store).await?;
            let state = runner.state();
            let memories: Vec<_> = match (&namespace, top) {
                (_, Some(n)) => state.most_accessed(n),
                (Some(ns), None) => state.by_namespace(ns),
                (None, None) => state.all().collect(),
            };
            print_memories(&state, &memories, runner.checkpoint(), out)
        }
    }
}

/// The selected agents, as JSON or as a table under a count of the active ones.
fn print_agents(
    state: &AgentState,
    agents: &[&Agent],
    checkpoint: Position,
    out: &mut Output,
) -> anyhow::Result<()> {
    if out.json() {
        return out.json_line(&json!({"agents": agents, "checkpoint": checkpoint}));
    }
    let mut table = table(&[
        "agent", "role", "domain", "status", "done", "failed", "avg ms", "health",
    ]);
    for a in agents {
        table.add_row(vec![
            a.id.clone(),
            a.role.clone(),
            a.domain.clone(),
            a.status.as_str().to_owned(),
            a.completed_count().to_string(),
            a.failed_count().to_string(),
            a.average_task_duration_ms()
                .map_or_else(|| "-".into(), |d| format!("{d:.0}")),
            format!("{:?}", a.health()).to_lowercase(),
        ]);
    }
    out.text(&format!(
        "agents ({} shown, {} active)\n{table}",
        agents.len(),
        state.active_count()
    ))
}

/// The selected tasks, as JSON or as a table under the history's rates and average duration.
fn print_tasks(
    state: &TaskHistory,
    tasks: &[&Task],
    checkpoint: Position,
    out: &mut Output,
) -> anyhow::Result<()> {
    let rate = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0));
    if out.json() {
        return out.json_line(&json!({
            "tasks": tasks,
            "averageDurationMs": state.average_duration_ms(),
            "successRate": state.success_rate(),
            "failureRate": state.failure_rate(),
            "checkpoint": checkpoint,
        }));
    }
    let mut table = table(&["task", "priority", "status", "agent", "ms", "error"]);
    for t in tasks {
        table.add_row(vec![
            t.id.clone(),
            t.priority.clone(),
            serde_json::to_value(t.status)?
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            t.assigned_agent.clone().unwrap_or_default(),
            t.duration_ms.map_or_else(String::new, |d| d.to_string()),
            t.error.clone().unwrap_or_default(),
        ]);
    }
    out.text(&format!(
        "tasks ({} shown): success {}, failure {}, average {} ms\n{table}",
        tasks.len(),
        rate(state.success_rate()),
        rate(state.failure_rate()),
        state
            .average_duration_ms()
            .map_or_else(|| "-".into(), |d| format!("{d:.0}")),
    ))
}

/// The selected memories, as JSON or as a table under the live size of each namespace.
fn print_memories(
    state: &MemoryIndex,
    memories: &[&Memory],
    checkpoint: Position,
    out: &mut Output,
) -> anyhow::Result<()> {
    if out.json() {
        return out.json_line(&json!({
            "memories": memories,
            "sizeByNamespace": state.total_size_by_namespace(),
            "checkpoint": checkpoint,
        }));
    }
    let mut table = table(&["memory", "namespace", "key", "bytes", "reads", "status"]);
    for m in memories {
        table.add_row(vec![
            m.id.clone(),
            m.namespace.clone(),
            m.key.clone(),
            m.size.to_string(),
            m.access_count.to_string(),
            format!("{:?}", m.status).to_lowercase(),
        ]);
    }
    let sizes: Vec<String> = state
        .total_size_by_namespace()
        .iter()
        .map(|(ns, b)| format!("{ns} {b} B"))
        .collect();
    out.text(&format!(
        "memory ({} shown; live size: {})\n{table}",
        memories.len(),
        sizes.join(", ")
    ))
}

/// All three projections, briefly: what the demo prints at its end.
pub(crate) async fn print_all(store: Arc<dyn Store>, out: &mut Output) -> anyhow::Result<()> {
    use crate::args::ProjectCommand as P;
    for command in [
        P::Agents {
            status: None,
            domain: None,
            limit: Some(10),
        },
        P::Tasks {
            status: Some("failed".into()),
            agent: None,
            priority: None,
            blocked: false,
            limit: Some(10),
        },
        P::Memory {
            namespace: None,
            top: Some(5),
        },
    ] {
        run(Arc::clone(&store), ProjectArgs { command }, out).await?;
    }
    Ok(())
}

async fn caught_up<P: annal_core::Projection>(
    store: Arc<dyn Store>,
) -> anyhow::Result<ProjectionRunner<P>> {
    let mut runner = ProjectionRunner::<P>::load(store).await?;
    runner.catch_up().await?;
    Ok(runner)
}

fn parse_agent_status(text: &str) -> anyhow::Result<AgentStatus> {
    AgentStatus::parse(text).ok_or_else(|| {
        anyhow::anyhow!("--status {text:?}: use idle, active, blocked, completed or error")
    })
}

fn parse_task_status(text: &str) -> anyhow::Result<TaskStatus> {
    serde_json::from_value(json!(text)).map_err(|_| {
        anyhow::anyhow!(
            "--status {text:?}: use pending, queued, assigned, in-progress, blocked, completed, \
             failed or cancelled"
        )
    })
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(header.to_vec());
    table
}
