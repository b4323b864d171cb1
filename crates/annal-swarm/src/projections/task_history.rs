//! [`TaskHistory`]: every task's status, assignment, timing and outcome, with indexes by status,
//! agent and priority.
//!
//! Differences from the seed, on purpose:
//! - a duration of 0 is a real duration, not "missing";
//! - a second `task:created` updates the description fields but keeps the history;
//! - failures are counted (`failure_count`) besides the caller's `retryCount`;
//! - `blocked_by` holds the blockers while the task is blocked and is cleared when it moves on,
//!   so it never names stale blockers;
//! - success and failure rates, priority queries and unmet dependencies exist (the seed summary
//!   promised them; the code had none).

use std::collections::HashMap;

use annal_core::{Projection, RecordedEvent, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::slot_index::SlotIndex;
use crate::events::{DomainEvent, EventKind};

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskStatus {
    /// Created, not yet queued or started.
    Pending,
    /// Waiting in a queue.
    Queued,
    /// Given to an agent, not yet started.
    Assigned,
    /// Being worked on.
    InProgress,
    /// Waiting for other tasks.
    Blocked,
    /// Succeeded.
    Completed,
    /// Failed.
    Failed,
    /// Abandoned.
    Cancelled,
}

/// One task as the events describe it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task id.
    pub id: String,
    /// Its kind (payload `taskType`).
    pub task_type: String,
    /// Its title.
    pub title: String,
    /// What is to be done.
    pub description: String,
    /// Its priority as given.
    pub priority: String,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// The agent that started it.
    pub assigned_agent: Option<String>,
    /// Tasks that must complete first.
    pub dependencies: Vec<String>,
    /// What blocks it while it is blocked.
    pub blocked_by: Vec<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last queued.
    pub queued_at: Option<Timestamp>,
    /// When it last started.
    pub started_at: Option<Timestamp>,
    /// When it completed.
    pub completed_at: Option<Timestamp>,
    /// When it last failed.
    pub failed_at: Option<Timestamp>,
    /// How long it took, in ms, once completed.
    pub duration_ms: Option<u64>,
    /// What it produced, once completed.
    // A JSON `null` result is a result (`Some(Null)`), distinct from none at all: kept apart
    // through a save and restore by omitting `None` and reading a present `null` as `Some`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result: Option<Value>,
    /// Its last error.
    pub error: Option<String>,
    /// The retry count its last failure reported.
    pub retry_count: u32,
    /// Failures seen.
    pub failure_count: u32,
}

/// A blocked task and what it waits for.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockedTask<'a> {
    /// The task.
    pub task: &'a Task,
    /// The tasks named by its `task:blocked` event.
    pub blocked_by: &'a [String],
    /// Its dependencies that have not completed.
    pub unmet_dependencies: Vec<&'a str>,
}

/// The serialized part of [`TaskHistory`].
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Saved {
    tasks: Vec<Task>,
    ignored_events: u64,
}

/// Every task's history (projection `swarm.task-history`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "Saved")]
pub struct TaskHistory {
    tasks: Vec<Task>,
    ignored_events: u64,
    #[serde(skip)]
    slots: HashMap<String, usize>,
    #[serde(skip)]
    by_status: SlotIndex<TaskStatus>,
    #[serde(skip)]
    by_agent: SlotIndex<String>,
    #[serde(skip)]
    by_priority: SlotIndex<String>,
}

impl From<Saved> for TaskHistory {
    fn from(saved: Saved) -> Self {
        let mut state = TaskHistory {
            ignored_events: saved.ignored_events,
            ..TaskHistory::default()
        };
        for task in saved.tasks {
            state.push(task);
        }
        state
    }
}

impl Projection for TaskHistory {
    const NAME: &'static str = "swarm.task-history";

    fn apply(&mut self, event: &RecordedEvent) {
        let kind = match EventKind::from_event_type(event.event_type.as_str()) {
            Some(kind) if kind.aggregate_type() == "task" => kind,
            _ => return,
        };
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

impl TaskHistory {
    /// The task `id`.
    pub fn get(&self, id: &str) -> Option<&Task> {
        self.slots.get(id).map(|&slot| &self.tasks[slot])
    }

    /// Every task, in creation order.
    pub fn all(&self) -> impl ExactSizeIterator<Item = &Task> + '_ {
        self.tasks.iter()
    }

    /// How many tasks exist.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether no task exists.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The tasks with `status`, in creation order.
    pub fn by_status(&self, status: TaskStatus) -> Vec<&Task> {
        self.by_status
            .get(&status)
            .map(|slot| &self.tasks[slot])
            .collect()
    }

    /// How many tasks have `status`.
    pub fn count_by_status(&self, status: TaskStatus) -> usize {
        self.by_status.count(&status)
    }

    /// The tasks last started by `agent_id`, in creation order.
    pub fn by_agent(&self, agent_id: &str) -> Vec<&Task> {
        self.by_agent
            .get(agent_id)
            .map(|slot| &self.tasks[slot])
            .collect()
    }

    /// The tasks with `priority`, in creation order.
    pub fn by_priority(&self, priority: &str) -> Vec<&Task> {
        self.by_priority
            .get(priority)
            .map(|slot| &self.tasks[slot])
            .collect()
    }

    /// Tasks completed.
    pub fn completed_count(&self) -> usize {
        self.count_by_status(TaskStatus::Completed)
    }

    /// Tasks whose last outcome is a failure.
    pub fn failed_count(&self) -> usize {
        self.count_by_status(TaskStatus::Failed)
    }

    /// Mean duration of completed tasks in ms; `None` when none has completed (the seed
    /// answered 0, which reads like a measurement).
    pub fn average_duration_ms(&self) -> Option<f64> {
        let (total, count) = self
            .by_status
            .get(&TaskStatus::Completed)
            .filter_map(|slot| self.tasks[slot].duration_ms)
            .fold((0u64, 0u64), |(total, count), duration| {
                (total + duration, count + 1)
            });
        (count > 0).then(|| total as f64 / count as f64)
    }

    /// Completed tasks over finished (completed or failed) tasks; `None` before any finished.
    pub fn success_rate(&self) -> Option<f64> {
        let finished = self.completed_count() + self.failed_count();
        (finished > 0).then(|| self.completed_count() as f64 / finished as f64)
    }

    /// Failed tasks over finished tasks; `None` before any finished.
    pub fn failure_rate(&self) -> Option<f64> {
        self.success_rate().map(|rate| 1.0 - rate)
    }

    /// The blocked tasks, with their blockers and unmet dependencies, in creation order.
    pub fn blocked(&self) -> Vec<BlockedTask<'_>> {
        self.by_status
            .get(&TaskStatus::Blocked)
            .map(|slot| {
                let task = &self.tasks[slot];
                BlockedTask {
                    task,
                    blocked_by: &task.blocked_by,
                    unmet_dependencies: self.unmet_dependencies(&task.id),
                }
            })
            .collect()
    }

    /// The dependencies of task `id` that have not completed (unknown ones included).
    pub fn unmet_dependencies(&self, id: &str) -> Vec<&str> {
        let Some(task) = self.get(id) else {
            return Vec::new();
        };
        task.dependencies
            .iter()
            .filter(|dependency| {
                self.get(dependency)
                    .is_none_or(|dep| dep.status != TaskStatus::Completed)
            })
            .map(String::as_str)
            .collect()
    }

    /// Events this projection could not use: undecodable payloads and unknown tasks.
    pub fn ignored_events(&self) -> u64 {
        self.ignored_events
    }

    fn push(&mut self, task: Task) {
        let slot = self.tasks.len();
        self.slots.insert(task.id.clone(), slot);
        self.by_status.insert(task.status, slot);
        self.by_priority.insert(task.priority.clone(), slot);
        if let Some(agent) = &task.assigned_agent {
            self.by_agent.insert(agent.clone(), slot);
        }
        self.tasks.push(task);
    }

    fn set_status(&mut self, slot: usize, status: TaskStatus) {
        let old = self.tasks[slot].status;
        self.by_status.moved(&old, status, slot);
        let task = &mut self.tasks[slot];
        task.status = status;
        if status != TaskStatus::Blocked {
            task.blocked_by.clear();
        }
    }

    /// Applies one decoded event; false when it referred to a task that does not exist.
    fn fold(&mut self, event: &DomainEvent, at: Timestamp) -> bool {
        match event {
            DomainEvent::TaskCreated(created) => {
                self.create(created, at);
                true
            }
            DomainEvent::TaskQueued(queued) => self.touch(&queued.task_id, |state, slot| {
                state.set_status(slot, TaskStatus::Queued);
                state.tasks[slot].queued_at = Some(at);
            }),
            DomainEvent::TaskStarted(started) => self.touch(&started.task_id, |state, slot| {
                state.set_status(slot, TaskStatus::InProgress);
                if let Some(old) = state.tasks[slot].assigned_agent.take() {
                    state.by_agent.remove(&old, slot);
                }
                state.by_agent.insert(started.agent_id.clone(), slot);
                let task = &mut state.tasks[slot];
                task.assigned_agent = Some(started.agent_id.clone());
                task.started_at = Some(at);
            }),
            DomainEvent::TaskCompleted(completed) => {
                self.touch(&completed.task_id, |state, slot| {
                    state.set_status(slot, TaskStatus::Completed);
                    let task = &mut state.tasks[slot];
                    task.completed_at = Some(at);
                    task.duration_ms = Some(completed.duration);
                    task.result = Some(completed.result.clone());
                })
            }
            DomainEvent::TaskFailed(failed) => self.touch(&failed.task_id, |state, slot| {
                state.set_status(slot, TaskStatus::Failed);
                let task = &mut state.tasks[slot];
                task.failed_at = Some(at);
                task.error = Some(failed.error.clone());
                task.retry_count = failed.retry_count;
                task.failure_count += 1;
            }),
            DomainEvent::TaskBlocked(blocked) => self.touch(&blocked.task_id, |state, slot| {
                state.set_status(slot, TaskStatus::Blocked);
                state.tasks[slot].blocked_by.clone_from(&blocked.blocked_by);
            }),
            _ => true,
        }
    }

    fn create(&mut self, created: &crate::events::task::TaskCreated, at: Timestamp) {
        match self.slots.get(&created.task_id).copied() {
            Some(slot) => {
                let old_priority = self.tasks[slot].priority.clone();
                self.by_priority
                    .moved(&old_priority, created.priority.clone(), slot);
                let task = &mut self.tasks[slot];
                task.task_type.clone_from(&created.task_type);
                task.title.clone_from(&created.title);
                task.description.clone_from(&created.description);
                task.priority.clone_from(&created.priority);
                task.dependencies.clone_from(&created.dependencies);
            }
            None => self.push(Task {
                id: created.task_id.clone(),
                task_type: created.task_type.clone(),
                title: created.title.clone(),
                description: created.description.clone(),
                priority: created.priority.clone(),
                status: TaskStatus::Pending,
                assigned_agent: None,
                dependencies: created.dependencies.clone(),
                blocked_by: Vec::new(),
                created_at: at,
                queued_at: None,
                started_at: None,
                completed_at: None,
                failed_at: None,
                duration_ms: None,
                result: None,
                error: None,
                retry_count: 0,
                failure_count: 0,
            }),
        }
    }

    fn touch(&mut self, id: &str, change: impl FnOnce(&mut Self, usize)) -> bool {
        let Some(&slot) = self.slots.get(id) else {
            return false;
        };
        change(self, slot);
        true
    }
}

/// Reads a field that is present as `Some`, even when its value is `null`.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}
