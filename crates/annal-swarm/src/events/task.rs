//! Task execution events (aggregate type `task`, stream = the task id): six payloads and their
//! constructors.
//!
//! Priorities and ids stay strings, as in the seed: annal records what the swarm said, and the
//! projections decide what they understand.

use annal_core::{StreamId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::draft::{EventDraft, Payload};

macro_rules! payload {
    ($ty:ident, $event_type:literal) => {
        impl Payload for $ty {
            const EVENT_TYPE: &'static str = $event_type;
            const AGGREGATE_TYPE: &'static str = "task";
        }
    };
}

/// `task:created`: a new task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCreated {
    /// The task.
    pub task_id: String,
    /// Its kind (`implementation`, `review`, ...).
    pub task_type: String,
    /// A short title.
    pub title: String,
    /// What is to be done.
    pub description: String,
    /// `critical`, `high`, `medium` or `low` (not checked).
    pub priority: String,
    /// Tasks that must complete first.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// When.
    pub created_at: Timestamp,
}
payload!(TaskCreated, "task:created");

/// `task:started`: an agent began the task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStarted {
    /// The task.
    pub task_id: String,
    /// The agent working on it.
    pub agent_id: String,
    /// When.
    pub started_at: Timestamp,
}
payload!(TaskStarted, "task:started");

/// `task:completed`: the task succeeded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskCompleted {
    /// The task.
    pub task_id: String,
    /// What it produced (any JSON).
    #[serde(default)]
    pub result: Value,
    /// When.
    pub completed_at: Timestamp,
    /// How long it took, in ms.
    pub duration: u64,
}
payload!(TaskCompleted, "task:completed");

/// `task:failed`: the task failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFailed {
    /// The task.
    pub task_id: String,
    /// The error message.
    pub error: String,
    /// The stack trace, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// When.
    pub failed_at: Timestamp,
    /// How many times it has been retried so far.
    pub retry_count: u32,
}
payload!(TaskFailed, "task:failed");

/// `task:blocked`: the task waits for other tasks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskBlocked {
    /// The task.
    pub task_id: String,
    /// The tasks it waits for.
    pub blocked_by: Vec<String>,
    /// When.
    pub blocked_at: Timestamp,
}
payload!(TaskBlocked, "task:blocked");

/// `task:queued`: the task entered a queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskQueued {
    /// The task.
    pub task_id: String,
    /// The priority it was queued with.
    pub priority: String,
    /// When.
    pub queued_at: Timestamp,
}
payload!(TaskQueued, "task:queued");

/// `task:created` for `task_id`.
pub fn created(
    task_id: &StreamId,
    task_type: impl Into<String>,
    title: impl Into<String>,
    description: impl Into<String>,
    priority: impl Into<String>,
    dependencies: Vec<String>,
    at: Timestamp,
) -> EventDraft {
    let payload = TaskCreated {
        task_id: task_id.to_string(),
        task_type: task_type.into(),
        title: title.into(),
        description: description.into(),
        priority: priority.into(),
        dependencies,
        created_at: at,
    };
    EventDraft::new(task_id.clone(), &payload, at)
}

/// `task:started`: `agent_id` began `task_id`.
pub fn started(task_id: &StreamId, agent_id: &StreamId, at: Timestamp) -> EventDraft {
    let payload = TaskStarted {
        task_id: task_id.to_string(),
        agent_id: agent_id.to_string(),
        started_at: at,
    };
    EventDraft::new(task_id.clone(), &payload, at)
}

/// `task:completed` for `task_id`, after `duration_ms`.
pub fn completed(task_id: &StreamId, result: Value, duration_ms: u64, at: Timestamp) -> EventDraft {
    let payload = TaskCompleted {
        task_id: task_id.to_string(),
        result,
        completed_at: at,
        duration: duration_ms,
    };
    EventDraft::new(task_id.clone(), &payload, at)
}

/// `task:failed` for `task_id`.
pub fn failed(
    task_id: &StreamId,
    error: impl Into<String>,
    stack: Option<String>,
    retry_count: u32,
    at: Timestamp,
) -> EventDraft {
    let payload = TaskFailed {
        task_id: task_id.to_string(),
        error: error.into(),
        stack,
        failed_at: at,
        retry_count,
    };
    EventDraft::new(task_id.clone(), &payload, at)
}

/// `task:blocked`: `task_id` waits for `blocked_by` (the seed had no constructor for it).
pub fn blocked(task_id: &StreamId, blocked_by: Vec<String>, at: Timestamp) -> EventDraft {
    let payload = TaskBlocked {
        task_id: task_id.to_string(),
        blocked_by,
        blocked_at: at,
    };
    EventDraft::new(task_id.clone(), &payload, at)
}

/// `task:queued` for `task_id` (the seed had no constructor for it).
pub fn queued(task_id: &StreamId, priority: impl Into<String>, at: Timestamp) -> EventDraft {
    let payload = TaskQueued {
        task_id: task_id.to_string(),
        priority: priority.into(),
        queued_at: at,
    };
    EventDraft::new(task_id.clone(), &payload, at)
}
