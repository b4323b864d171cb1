//! The JSON shapes of `GET /v1/projections/as-of`: the swarm projections' agents, tasks and
//! memory entries as views with their derived figures (health, averages), plus timeline marks.
//!
//! Invariant: each view is built from the projection's own value and serialized as declared
//! here, so the OpenAPI schema (derived from these types) is exactly what the endpoint answers.

use std::collections::BTreeMap;

use annal_swarm::projections::{Agent, Memory, Task};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The serde name of a unit enum variant (`"in-progress"`, `"active"`…).
pub(crate) fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// One agent as of the position.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentView {
    pub(crate) id: String,
    pub(crate) role: String,
    pub(crate) domain: String,
    pub(crate) capabilities: Vec<String>,
    /// idle, active, blocked, completed or error.
    pub(crate) status: String,
    /// healthy, degraded or failing.
    pub(crate) health: String,
    pub(crate) current_task: Option<String>,
    pub(crate) completed_count: u64,
    pub(crate) failed_count: u64,
    /// Mean duration of its completed tasks.
    pub(crate) average_task_duration_ms: Option<f64>,
    pub(crate) error_count: u64,
    pub(crate) spawned_at: i64,
    pub(crate) started_at: Option<i64>,
    pub(crate) stopped_at: Option<i64>,
    pub(crate) last_activity_at: i64,
}

impl From<&Agent> for AgentView {
    fn from(agent: &Agent) -> Self {
        Self {
            id: agent.id.clone(),
            role: agent.role.clone(),
            domain: agent.domain.clone(),
            capabilities: agent.capabilities.clone(),
            status: name(&agent.status),
            health: name(&agent.health()),
            current_task: agent.current_task.clone(),
            completed_count: agent.completed_count() as u64,
            failed_count: agent.failed_count() as u64,
            average_task_duration_ms: agent.average_task_duration_ms(),
            error_count: agent.error_count,
            spawned_at: agent.spawned_at,
            started_at: agent.started_at,
            stopped_at: agent.stopped_at,
            last_activity_at: agent.last_activity_at,
        }
    }
}

/// One task as of the position.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskView {
    pub(crate) id: String,
    pub(crate) task_type: String,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) priority: String,
    /// pending, queued, assigned, in-progress, blocked, completed, failed or cancelled.
    pub(crate) status: String,
    pub(crate) assigned_agent: Option<String>,
    pub(crate) dependencies: Vec<String>,
    pub(crate) blocked_by: Vec<String>,
    pub(crate) created_at: i64,
    pub(crate) queued_at: Option<i64>,
    pub(crate) started_at: Option<i64>,
    pub(crate) completed_at: Option<i64>,
    pub(crate) failed_at: Option<i64>,
    pub(crate) duration_ms: Option<u64>,
    /// What a completed task returned.
    pub(crate) result: Option<Value>,
    /// Why a failed task failed.
    pub(crate) error: Option<String>,
    pub(crate) retry_count: u32,
    pub(crate) failure_count: u32,
}

impl From<&Task> for TaskView {
    fn from(task: &Task) -> Self {
        Self {
            id: task.id.clone(),
            task_type: task.task_type.clone(),
            title: task.title.clone(),
            description: task.description.clone(),
            priority: task.priority.clone(),
            status: name(&task.status),
            assigned_agent: task.assigned_agent.clone(),
            dependencies: task.dependencies.clone(),
            blocked_by: task.blocked_by.clone(),
            created_at: task.created_at,
            queued_at: task.queued_at,
            started_at: task.started_at,
            completed_at: task.completed_at,
            failed_at: task.failed_at,
            duration_ms: task.duration_ms,
            result: task.result.clone(),
            error: task.error.clone(),
            retry_count: task.retry_count,
            failure_count: task.failure_count,
        }
    }
}

/// One memory entry as of the position.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemoryView {
    pub(crate) id: String,
    pub(crate) namespace: String,
    pub(crate) key: String,
    pub(crate) memory_type: String,
    /// Bytes.
    pub(crate) size: u64,
    /// How often it was read.
    pub(crate) access_count: u64,
    /// active, deleted or expired.
    pub(crate) status: String,
    pub(crate) stored_at: i64,
    pub(crate) last_accessed_at: i64,
    pub(crate) deleted_at: Option<i64>,
    pub(crate) expires_at: Option<i64>,
}

impl From<&Memory> for MemoryView {
    fn from(memory: &Memory) -> Self {
        Self {
            id: memory.id.clone(),
            namespace: memory.namespace.clone(),
            key: memory.key.clone(),
            memory_type: memory.memory_type.clone(),
            size: memory.size,
            access_count: memory.access_count,
            status: name(&memory.status),
            stored_at: memory.stored_at,
            last_accessed_at: memory.last_accessed_at,
            deleted_at: memory.deleted_at,
            expires_at: memory.expires_at,
        }
    }
}

/// A page of tasks and the figures over all tasks.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskPage {
    /// Tasks matching the filters (before paging).
    pub(crate) total: u64,
    pub(crate) items: Vec<TaskView>,
    /// Tasks per status, over all tasks.
    pub(crate) by_status: BTreeMap<String, u64>,
    pub(crate) average_duration_ms: Option<f64>,
    pub(crate) success_rate: Option<f64>,
    pub(crate) failure_rate: Option<f64>,
}

/// A page of memory entries and the figures over all entries.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemoryPage {
    /// Entries matching the filter (before paging).
    pub(crate) total: u64,
    pub(crate) items: Vec<MemoryView>,
    /// Live bytes per namespace.
    pub(crate) size_by_namespace: BTreeMap<String, u64>,
    /// Entries (of any status) per namespace.
    pub(crate) count_by_namespace: BTreeMap<String, u64>,
    /// The most-read entries.
    pub(crate) most_accessed: Vec<MemoryView>,
}

/// A mark on an agent's timeline row.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TimelineMark {
    pub(crate) agent: String,
    /// `task` (a bar from start to end), `memory` (a write) or `error`.
    pub(crate) kind: String,
    /// Ms since the epoch.
    pub(crate) start: i64,
    /// Where a task bar ends (absent while it runs).
    pub(crate) end: Option<i64>,
    /// The task, memory entry or error text it is about.
    pub(crate) label: String,
    /// For a task bar: completed, failed, in-progress…
    pub(crate) status: Option<String>,
}

/// `GET /v1/projections/as-of`: the three swarm projections as of one position.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SwarmAsOf {
    /// The last position folded in (0: none). Following the head, each projection has folded
    /// at least up to it (appends racing the request may have gone further).
    pub(crate) position: u64,
    /// The store's head when asked.
    pub(crate) head: u64,
    /// The timestamp of the event at `position`.
    pub(crate) timestamp: Option<i64>,
    /// Agents (before paging).
    pub(crate) agent_total: u64,
    pub(crate) agents: Vec<AgentView>,
    pub(crate) active_count: u64,
    pub(crate) tasks: TaskPage,
    pub(crate) memory: MemoryPage,
    /// Task bars, memory writes and errors of the agents listed (the newest ones, bounded).
    pub(crate) timeline: Vec<TimelineMark>,
}
