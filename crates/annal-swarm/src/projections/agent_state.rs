//! [`AgentState`]: the current state of every agent, with indexes by status and domain.
//!
//! Differences from the seed, on purpose:
//! - failed tasks are recorded: `agent:failed` moves the agent's current task to its failed
//!   tasks, and `task:failed` does the same for the agent the task was assigned to (through
//!   `agent:task-assigned` or `task:started`); each assignment fails at most once, and ends with
//!   the task's `task:completed` or the agent's `agent:task-completed`;
//! - a second `agent:spawned` updates role, domain and capabilities but keeps the history;
//! - capabilities are kept, a duration of 0 counts as 0, and an unknown status in
//!   `agent:status-changed` is ignored (and counted) instead of stored.
//!
//! Times are the envelope timestamps, as in the seed.

use std::collections::{BTreeMap, HashMap};

use annal_core::{Projection, RecordedEvent, Timestamp};
use serde::{Deserialize, Serialize};

use super::slot_index::SlotIndex;
use crate::events::{DomainEvent, EventKind};

/// What an agent is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Spawned or between tasks.
    Idle,
    /// Started or working on a task.
    Active,
    /// Waiting on something.
    Blocked,
    /// Stopped after finishing its work.
    Completed,
    /// Failed.
    Error,
}

impl AgentStatus {
    /// Every status.
    pub const ALL: [AgentStatus; 5] = [
        AgentStatus::Idle,
        AgentStatus::Active,
        AgentStatus::Blocked,
        AgentStatus::Completed,
        AgentStatus::Error,
    ];

    /// The status named `name` (`idle`, `active`, `blocked`, `completed`, `error`).
    pub fn parse(name: &str) -> Option<AgentStatus> {
        AgentStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
    }

    /// The status's name as the seed wrote it.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Idle => "idle",
            AgentStatus::Active => "active",
            AgentStatus::Blocked => "blocked",
            AgentStatus::Completed => "completed",
            AgentStatus::Error => "error",
        }
    }
}

/// A coarse verdict on an agent, from its status and failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentHealth {
    /// No errors and no failed tasks.
    Healthy,
    /// It has failed before but is not failed now.
    Degraded,
    /// Its status is `error`.
    Failing,
}

/// One agent as the events describe it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    /// The agent id.
    pub id: String,
    /// Its role.
    pub role: String,
    /// Its domain.
    pub domain: String,
    /// What it can do.
    pub capabilities: Vec<String>,
    /// What it is doing.
    pub status: AgentStatus,
    /// The task it holds, if any.
    pub current_task: Option<String>,
    /// Tasks it completed, in order.
    pub completed_tasks: Vec<String>,
    /// Tasks that failed while it held them, in order.
    pub failed_tasks: Vec<String>,
    /// Sum of the durations of its completed tasks, in ms.
    pub total_task_duration_ms: u64,
    /// `agent:failed` events seen.
    pub error_count: u64,
    /// When it was first spawned.
    pub spawned_at: Timestamp,
    /// When it last started.
    pub started_at: Option<Timestamp>,
    /// When it last stopped.
    pub stopped_at: Option<Timestamp>,
    /// Its last event.
    pub last_activity_at: Timestamp,
}

impl Agent {
    /// Tasks completed.
    pub fn completed_count(&self) -> usize {
        self.completed_tasks.len()
    }

    /// Tasks failed.
    pub fn failed_count(&self) -> usize {
        self.failed_tasks.len()
    }

    /// Mean duration of its completed tasks in ms, `None` before the first.
    pub fn average_task_duration_ms(&self) -> Option<f64> {
        let completed = self.completed_tasks.len();
        (completed > 0).then(|| self.total_task_duration_ms as f64 / completed as f64)
    }

    /// Failing while in error, degraded once it has failed, healthy otherwise.
    pub fn health(&self) -> AgentHealth {
        if self.status == AgentStatus::Error {
            AgentHealth::Failing
        } else if self.error_count > 0 || !self.failed_tasks.is_empty() {
            AgentHealth::Degraded
        } else {
            AgentHealth::Healthy
        }
    }
}

/// The serialized part of [`AgentState`]: everything but the indexes.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Saved {
    agents: Vec<Agent>,
    assignments: BTreeMap<String, String>,
    ignored_events: u64,
}

/// Every agent's current state (projection `swarm.agent-state`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "Saved")]
pub struct AgentState {
    agents: Vec<Agent>,
    /// Open assignments, task id to agent id, so `task:failed` finds its agent.
    assignments: BTreeMap<String, String>,
    ignored_events: u64,
    #[serde(skip)]
    slots: HashMap<String, usize>,
    #[serde(skip)]
    by_status: SlotIndex<AgentStatus>,
    #[serde(skip)]
    by_domain: SlotIndex<String>,
}

impl From<Saved> for AgentState {
    fn from(saved: Saved) -> Self {
        let mut state = AgentState {
            assignments: saved.assignments,
            ignored_events: saved.ignored_events,
            ..AgentState::default()
        };
        for agent in saved.agents {
            state.push(agent);
        }
        state
    }
}

impl Projection for AgentState {
    const NAME: &'static str = "swarm.agent-state";

    fn apply(&mut self, event: &RecordedEvent) {
        let kind = match EventKind::from_event_type(event.event_type.as_str()) {
            Some(kind)
                if kind.aggregate_type() == "agent"
                    || kind == EventKind::TaskStarted
                    || kind == EventKind::TaskCompleted
                    || kind == EventKind::TaskFailed =>
            {
                kind
            }
            _ => return,
        };
        if kind == EventKind::TaskCompleted {
            // The assignment is over: without this, every task that ends by task:completed alone
            // would stay assigned in the saved state forever. Only the task id matters here; the
            // whole payload would also build its result.
            match event.payload.decode::<TaskRef>() {
                Ok(task) => drop(self.assignments.remove(&task.task_id)),
                Err(_) => self.ignored_events += 1,
            }
            return;
        }
        match DomainEvent::decode_as(kind, event) {
            Ok(decoded) => {
                if !self.fold(&decoded, event.timestamp) {
                    self.ignored_events += 1;
                }
            }
            Err(_) => self.ignored_events += 1,
        }
    }
}

/// The one field of a task event that ends an assignment.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskRef {
    task_id: String,
}

impl AgentState {
    /// The agent `id`.
    pub fn get(&self, id: &str) -> Option<&Agent> {
        self.slots.get(id).map(|&slot| &self.agents[slot])
    }

    /// Every agent, in the order they were first spawned.
    pub fn all(&self) -> impl ExactSizeIterator<Item = &Agent> + '_ {
        self.agents.iter()
    }

    /// How many agents exist.
    pub fn len(&self) -> usize {
        self.agents.len()
    }

    /// Whether no agent exists.
    pub fn is_empty(&self) -> bool {
        self.agents.is_empty()
    }

    /// The agents with `status`, in spawn order.
    pub fn by_status(&self, status: AgentStatus) -> Vec<&Agent> {
        self.by_status
            .get(&status)
            .map(|slot| &self.agents[slot])
            .collect()
    }

    /// The agents of `domain`, in spawn order.
    pub fn by_domain(&self, domain: &str) -> Vec<&Agent> {
        self.by_domain
            .get(domain)
            .map(|slot| &self.agents[slot])
            .collect()
    }

    /// How many agents have `status`.
    pub fn count_by_status(&self, status: AgentStatus) -> usize {
        self.by_status.count(&status)
    }

    /// How many agents are active.
    pub fn active_count(&self) -> usize {
        self.count_by_status(AgentStatus::Active)
    }

    /// The mean duration of every completed task of every agent, in ms.
    pub fn average_task_duration_ms(&self) -> Option<f64> {
        let (total, count) = self
            .agents
            .iter()
            .fold((0u64, 0usize), |(total, count), agent| {
                (
                    total + agent.total_task_duration_ms,
                    count + agent.completed_tasks.len(),
                )
            });
        (count > 0).then(|| total as f64 / count as f64)
    }

    /// Events this projection could not use: undecodable payloads, unknown agents, unknown
    /// statuses.
    pub fn ignored_events(&self) -> u64 {
        self.ignored_events
    }

    fn push(&mut self, agent: Agent) {
        let slot = self.agents.len();
        self.slots.insert(agent.id.clone(), slot);
        self.by_status.insert(agent.status, slot);
        self.by_domain.insert(agent.domain.clone(), slot);
        self.agents.push(agent);
    }

    fn set_status(&mut self, slot: usize, status: AgentStatus) {
        let old = self.agents[slot].status;
        self.by_status.moved(&old, status, slot);
        self.agents[slot].status = status;
    }

    /// Applies one decoded event; false when it referred to an agent that does not exist or
    /// carried a status this projection does not know.
    fn fold(&mut self, event: &DomainEvent, at: Timestamp) -> bool {
        match event {
            DomainEvent::AgentSpawned(spawned) => {
                self.spawn(spawned, at);
                true
            }
            DomainEvent::AgentStarted(started) => {
                self.touch(&started.agent_id, at, |state, slot| {
                    state.set_status(slot, AgentStatus::Active);
                    state.agents[slot].started_at = Some(at);
                })
            }
            DomainEvent::AgentStopped(stopped) => {
                self.touch(&stopped.agent_id, at, |state, slot| {
                    state.set_status(slot, AgentStatus::Completed);
                    state.agents[slot].stopped_at = Some(at);
                })
            }
            DomainEvent::AgentFailed(failed) => self.touch(&failed.agent_id, at, |state, slot| {
                state.set_status(slot, AgentStatus::Error);
                state.agents[slot].error_count += 1;
                if let Some(task) = state.agents[slot].current_task.take() {
                    state.assignments.remove(&task);
                    state.agents[slot].failed_tasks.push(task);
                }
            }),
            DomainEvent::AgentStatusChanged(changed) => {
                let Some(status) = AgentStatus::parse(&changed.new_status) else {
                    return false;
                };
                self.touch(&changed.agent_id, at, |state, slot| {
                    state.set_status(slot, status)
                })
            }
            DomainEvent::AgentTaskAssigned(assigned) => {
                self.touch(&assigned.agent_id, at, |state, slot| {
                    state.set_status(slot, AgentStatus::Active);
                    state.agents[slot].current_task = Some(assigned.task_id.clone());
                    state
                        .assignments
                        .insert(assigned.task_id.clone(), assigned.agent_id.clone());
                })
            }
            DomainEvent::AgentTaskCompleted(completed) => {
                self.touch(&completed.agent_id, at, |state, slot| {
                    state.assignments.remove(&completed.task_id);
                    let agent = &mut state.agents[slot];
                    agent.completed_tasks.push(completed.task_id.clone());
                    agent.total_task_duration_ms += completed.duration;
                    if agent.current_task.as_deref() == Some(completed.task_id.as_str()) {
                        agent.current_task = None;
                    }
                    if agent.current_task.is_none() {
                        state.set_status(slot, AgentStatus::Idle);
                    }
                })
            }
            DomainEvent::TaskStarted(started) => {
                // Only an agent we know can hold an assignment; the task event is still valid.
                if self.slots.contains_key(&started.agent_id) {
                    self.assignments
                        .insert(started.task_id.clone(), started.agent_id.clone());
                }
                true
            }
            DomainEvent::TaskFailed(failed) => {
                let Some(agent_id) = self.assignments.remove(&failed.task_id) else {
                    return true;
                };
                if let Some(&slot) = self.slots.get(&agent_id) {
                    let agent = &mut self.agents[slot];
                    if agent.current_task.as_deref() == Some(failed.task_id.as_str()) {
                        agent.current_task = None;
                    }
                    agent.failed_tasks.push(failed.task_id.clone());
                }
                true
            }
            _ => true,
        }
    }

    fn spawn(&mut self, spawned: &crate::events::agent::AgentSpawned, at: Timestamp) {
        match self.slots.get(&spawned.agent_id).copied() {
            Some(slot) => {
                let old_domain = self.agents[slot].domain.clone();
                self.by_domain
                    .moved(&old_domain, spawned.domain.clone(), slot);
                self.set_status(slot, AgentStatus::Idle);
                let agent = &mut self.agents[slot];
                agent.role.clone_from(&spawned.role);
                agent.domain.clone_from(&spawned.domain);
                agent.capabilities.clone_from(&spawned.capabilities);
                agent.last_activity_at = at;
            }
            None => self.push(Agent {
                id: spawned.agent_id.clone(),
                role: spawned.role.clone(),
                domain: spawned.domain.clone(),
                capabilities: spawned.capabilities.clone(),
                status: AgentStatus::Idle,
                current_task: None,
                completed_tasks: Vec::new(),
                failed_tasks: Vec::new(),
                total_task_duration_ms: 0,
                error_count: 0,
                spawned_at: at,
                started_at: None,
                stopped_at: None,
                last_activity_at: at,
            }),
        }
    }

    /// Runs `change` on agent `id` and records the activity; false if the agent is unknown.
    fn touch(&mut self, id: &str, at: Timestamp, change: impl FnOnce(&mut Self, usize)) -> bool {
        let Some(&slot) = self.slots.get(id) else {
            return false;
        };
        change(self, slot);
        self.agents[slot].last_activity_at = at;
        true
    }
}
