//! Agent lifecycle events (aggregate type `agent`, stream = the agent id): seven payloads and
//! their constructors.
//!
//! Payload field names are the seed's (camelCase); each constructor stamps the payload's time
//! field and the envelope with the same `at`, so replays are deterministic.

use annal_core::{StreamId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::draft::{EventDraft, Payload};

macro_rules! payload {
    ($ty:ident, $event_type:literal) => {
        impl Payload for $ty {
            const EVENT_TYPE: &'static str = $event_type;
            const AGGREGATE_TYPE: &'static str = "agent";
        }
    };
}

/// `agent:spawned`: an agent was created.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSpawned {
    /// The agent.
    pub agent_id: String,
    /// Its role (`coder`, `reviewer`, ...).
    pub role: String,
    /// Its domain (`security`, `core`, ...).
    pub domain: String,
    /// What it can do.
    pub capabilities: Vec<String>,
}
payload!(AgentSpawned, "agent:spawned");

/// `agent:started`: the agent began executing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStarted {
    /// The agent.
    pub agent_id: String,
    /// When (ms since the epoch).
    pub started_at: Timestamp,
}
payload!(AgentStarted, "agent:started");

/// `agent:stopped`: the agent finished its work.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStopped {
    /// The agent.
    pub agent_id: String,
    /// Why it stopped.
    pub reason: String,
    /// When.
    pub stopped_at: Timestamp,
}
payload!(AgentStopped, "agent:stopped");

/// `agent:failed`: the agent hit an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentFailed {
    /// The agent.
    pub agent_id: String,
    /// The error message.
    pub error: String,
    /// The stack trace, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// When.
    pub failed_at: Timestamp,
}
payload!(AgentFailed, "agent:failed");

/// `agent:status-changed`: the agent moved from one status to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatusChanged {
    /// The agent.
    pub agent_id: String,
    /// The status before (`idle`, `active`, `blocked`, `completed`, `error`).
    pub previous_status: String,
    /// The status after.
    pub new_status: String,
}
payload!(AgentStatusChanged, "agent:status-changed");

/// `agent:task-assigned`: a task was handed to the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentTaskAssigned {
    /// The agent.
    pub agent_id: String,
    /// The task.
    pub task_id: String,
    /// When.
    pub assigned_at: Timestamp,
}
payload!(AgentTaskAssigned, "agent:task-assigned");

/// `agent:task-completed`: the agent finished a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentTaskCompleted {
    /// The agent.
    pub agent_id: String,
    /// The task.
    pub task_id: String,
    /// What the task produced (any JSON).
    #[serde(default)]
    pub result: Value,
    /// When.
    pub completed_at: Timestamp,
    /// How long the task took, in ms.
    pub duration: u64,
}
payload!(AgentTaskCompleted, "agent:task-completed");

/// `agent:spawned` for `agent_id`.
pub fn spawned(
    agent_id: &StreamId,
    role: impl Into<String>,
    domain: impl Into<String>,
    capabilities: Vec<String>,
    at: Timestamp,
) -> EventDraft {
    let payload = AgentSpawned {
        agent_id: agent_id.to_string(),
        role: role.into(),
        domain: domain.into(),
        capabilities,
    };
    EventDraft::new(agent_id.clone(), &payload, at)
}

/// `agent:started` for `agent_id`.
pub fn started(agent_id: &StreamId, at: Timestamp) -> EventDraft {
    let payload = AgentStarted {
        agent_id: agent_id.to_string(),
        started_at: at,
    };
    EventDraft::new(agent_id.clone(), &payload, at)
}

/// `agent:stopped` for `agent_id`.
pub fn stopped(agent_id: &StreamId, reason: impl Into<String>, at: Timestamp) -> EventDraft {
    let payload = AgentStopped {
        agent_id: agent_id.to_string(),
        reason: reason.into(),
        stopped_at: at,
    };
    EventDraft::new(agent_id.clone(), &payload, at)
}

/// `agent:failed` for `agent_id`, with an error message and an optional stack trace.
pub fn failed(
    agent_id: &StreamId,
    error: impl Into<String>,
    stack: Option<String>,
    at: Timestamp,
) -> EventDraft {
    let payload = AgentFailed {
        agent_id: agent_id.to_string(),
        error: error.into(),
        stack,
        failed_at: at,
    };
    EventDraft::new(agent_id.clone(), &payload, at)
}

/// `agent:status-changed` for `agent_id` (the seed had no constructor for it).
pub fn status_changed(
    agent_id: &StreamId,
    previous_status: impl Into<String>,
    new_status: impl Into<String>,
    at: Timestamp,
) -> EventDraft {
    let payload = AgentStatusChanged {
        agent_id: agent_id.to_string(),
        previous_status: previous_status.into(),
        new_status: new_status.into(),
    };
    EventDraft::new(agent_id.clone(), &payload, at)
}

/// `agent:task-assigned`: `task_id` goes to `agent_id`.
pub fn task_assigned(agent_id: &StreamId, task_id: &StreamId, at: Timestamp) -> EventDraft {
    let payload = AgentTaskAssigned {
        agent_id: agent_id.to_string(),
        task_id: task_id.to_string(),
        assigned_at: at,
    };
    EventDraft::new(agent_id.clone(), &payload, at)
}

/// `agent:task-completed`: `agent_id` finished `task_id` after `duration_ms`.
pub fn task_completed(
    agent_id: &StreamId,
    task_id: &StreamId,
    result: Value,
    duration_ms: u64,
    at: Timestamp,
) -> EventDraft {
    let payload = AgentTaskCompleted {
        agent_id: agent_id.to_string(),
        task_id: task_id.to_string(),
        result,
        completed_at: at,
        duration: duration_ms,
    };
    EventDraft::new(agent_id.clone(), &payload, at)
}
