//! Task tools with the orchestrator's names and fields: `task_create`, `task_status`,
//! `task_list`, `task_update`, `task_complete`, `task_assign`, `task_cancel`.
//!
//! Every write on a task appends to the task's stream expecting the version read just before
//! (or the caller's `expectedVersion`), so two agents cannot both complete one task: the second
//! append finds the stream moved and gets `wrong_expected_version` with the actual version.
//! Each event is caused by the task's previous event and carries the task's correlation id,
//! which is what `events_trace` follows.
//!
//! annal-swarm has no event for a cancellation or for progress; these tools record them as
//! `task:cancelled` and `task:progress` in the task's stream, and the answers read them back
//! from there (the TaskHistory projection does not fold them).

use std::collections::HashMap;

use annal_core::{
    AppendError, EventId, EventType, ExpectedVersion, Filter, NewEvent, RecordedEvent, StreamId,
    Version, collect,
};
use annal_swarm::events::{EventDraft, agent, task};
use annal_swarm::projections::{Task, TaskStatus};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{Envelope, appended, last_event, new_id, now_ms, recent_events, stream_id};
use crate::AnnalMcp;
use crate::answer::{Answer, ToolError, finish, ok};
use crate::view;

/// `task_create` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskCreate {
    /// Task type (feature, bugfix, research, refactor, ...).
    #[serde(rename = "type")]
    task_type: String,
    /// What the task is.
    description: String,
    /// low, normal (default), high or critical.
    priority: Option<String>,
    /// Agent ids to assign it to.
    #[serde(default)]
    assign_to: Vec<String>,
    /// Tags kept with the task.
    #[serde(default)]
    tags: Vec<String>,
    /// A short title (default: the description's first line).
    title: Option<String>,
    /// Ids of tasks this one waits for.
    #[serde(default)]
    dependencies: Vec<String>,
    /// The run this task belongs to (default: the task id); its events carry it.
    correlation_id: Option<String>,
}

/// `task_status` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskId {
    /// The task id.
    task_id: String,
}

/// `task_list` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskList {
    /// Only these statuses, comma-separated (pending, assigned, in_progress, blocked,
    /// completed, failed, cancelled, queued).
    status: Option<String>,
    /// Only this task type.
    #[serde(rename = "type")]
    task_type: Option<String>,
    /// Only tasks assigned to this agent.
    assigned_to: Option<String>,
    /// Only this priority.
    priority: Option<String>,
    /// At most this many tasks (default 50).
    limit: Option<u64>,
}

/// `task_update` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskUpdate {
    /// The task id.
    task_id: String,
    /// The new status: in_progress, completed, failed, cancelled, queued, pending or blocked.
    status: Option<String>,
    /// Progress percentage, 0 to 100 (recorded as task:progress).
    progress: Option<f64>,
    /// Agent ids to assign (as task_assign).
    assign_to: Option<Vec<String>>,
    /// Why the task failed (with status failed) or was cancelled.
    error: Option<String>,
    /// The tasks it waits for (with status blocked).
    #[serde(default)]
    blocked_by: Vec<String>,
    /// The result (with status completed).
    result: Option<Value>,
    /// The task stream's version this update expects (task_status shows it).
    expected_version: Option<u64>,
}

/// `task_complete` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskComplete {
    /// The task id.
    task_id: String,
    /// The task's result data.
    result: Option<Value>,
    /// The task stream's version this completion expects (task_status shows it); with it,
    /// of two agents completing the same task, exactly one succeeds.
    expected_version: Option<u64>,
}

/// `task_assign` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskAssign {
    /// The task id.
    task_id: String,
    /// The agents to assign it to.
    #[serde(default)]
    agent_ids: Vec<String>,
    /// One agent to assign it to (same as agentIds with one id).
    agent_id: Option<String>,
    /// Remove assignments instead: not recorded by annal's swarm events, so refused.
    #[serde(default)]
    unassign: bool,
}

/// `task_cancel` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TaskCancel {
    /// The task id.
    task_id: String,
    /// Why it is cancelled.
    reason: Option<String>,
    /// The task stream's version this cancellation expects.
    expected_version: Option<u64>,
}

#[tool_router(router = task_tools, vis = "pub(crate)")]
impl AnnalMcp {
    /// Create a task (appends task:created, then agent:task-assigned for each of assignTo).
    #[tool(annotations(destructive_hint = false))]
    async fn task_create(&self, Parameters(args): Parameters<TaskCreate>) -> CallToolResult {
        finish(self.task_create_answer(args).await)
    }

    /// A task's status with its history: the events that made it so, and when.
    #[tool(annotations(read_only_hint = true))]
    async fn task_status(&self, Parameters(args): Parameters<TaskId>) -> CallToolResult {
        finish(self.task_entry(&args.task_id, Some(20)).await)
    }

    /// List tasks, newest first, filtered by status, type, agent and priority.
    #[tool(annotations(read_only_hint = true))]
    async fn task_list(&self, Parameters(args): Parameters<TaskList>) -> CallToolResult {
        finish(self.task_list_answer(args).await)
    }

    /// Change a task's status (in_progress, completed, failed, cancelled, queued, blocked),
    /// progress or assignment; each change is an event in the task's stream.
    #[tool(annotations(destructive_hint = false))]
    async fn task_update(&self, Parameters(args): Parameters<TaskUpdate>) -> CallToolResult {
        finish(self.task_update_answer(args).await)
    }

    /// Mark a task completed (appends task:completed expecting the task's current version).
    #[tool(annotations(destructive_hint = false))]
    async fn task_complete(&self, Parameters(args): Parameters<TaskComplete>) -> CallToolResult {
        let change = Change::Complete(args.result.unwrap_or_else(|| json!({})));
        finish(
            self.task_change(&args.task_id, change, args.expected_version)
                .await,
        )
    }

    /// Assign a task to agents (appends agent:task-assigned to each agent's stream).
    #[tool(annotations(destructive_hint = false))]
    async fn task_assign(&self, Parameters(args): Parameters<TaskAssign>) -> CallToolResult {
        let mut agents = args.agent_ids;
        agents.extend(args.agent_id);
        if args.unassign {
            return finish(Err(ToolError::invalid(
                "unassign is not recorded by annal's swarm events",
                "assign the task to another agent, or task_cancel it",
            )));
        }
        finish(self.task_assign_answer(&args.task_id, agents).await)
    }

    /// Cancel a task (appends task:cancelled; a cancelled task takes no further changes).
    #[tool(annotations(destructive_hint = true))]
    async fn task_cancel(&self, Parameters(args): Parameters<TaskCancel>) -> CallToolResult {
        let change = Change::Cancel(args.reason.unwrap_or_else(|| "cancelled by request".into()));
        finish(
            self.task_change(&args.task_id, change, args.expected_version)
                .await,
        )
    }
}

/// A status change of one task.
enum Change {
    Start(Option<String>),
    Complete(Value),
    Fail(String),
    Cancel(String),
    Queue,
    Block(Vec<String>),
    Progress(f64),
}

impl Change {
    fn parse(status: &str, args: &TaskUpdate) -> Result<Change, ToolError> {
        Ok(match status.replace('-', "_").as_str() {
            "in_progress" | "running" | "started" => {
                Change::Start(args.assign_to.as_ref().and_then(|a| a.first().cloned()))
            }
            "completed" => Change::Complete(args.result.clone().unwrap_or_else(|| json!({}))),
            "failed" => Change::Fail(
                args.error
                    .clone()
                    .unwrap_or_else(|| "failed (no reason given)".into()),
            ),
            "cancelled" => Change::Cancel(
                args.error
                    .clone()
                    .unwrap_or_else(|| "cancelled by request".into()),
            ),
            "queued" | "pending" => Change::Queue,
            "blocked" => Change::Block(args.blocked_by.clone()),
            other => {
                return Err(ToolError::invalid(
                    format!("status {other:?} is not one annal records"),
                    "use in_progress, completed, failed, cancelled, queued, pending or blocked",
                ));
            }
        })
    }
}

/// What the tools say about a task, from the projection and the task's own stream.
struct TaskFacts {
    task: Task,
    cancelled: Option<RecordedEvent>,
    progress: Option<f64>,
    assigned: Vec<String>,
}

impl TaskFacts {
    fn status(&self) -> &'static str {
        if self.cancelled.is_some() {
            return "cancelled";
        }
        match self.task.status {
            TaskStatus::Pending if !self.assigned.is_empty() => "assigned",
            TaskStatus::Pending => "pending",
            TaskStatus::Queued => "queued",
            TaskStatus::Assigned => "assigned",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Blocked => "blocked",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    fn is_final(&self) -> bool {
        matches!(self.status(), "completed" | "failed" | "cancelled")
    }

    fn view(&self, version: Version) -> Value {
        let t = &self.task;
        let progress = match self.status() {
            "completed" => Some(100.0),
            _ => self.progress,
        };
        json!({
            "taskId": t.id,
            "id": t.id,
            "type": t.task_type,
            "title": t.title,
            "description": t.description,
            "status": self.status(),
            "priority": t.priority,
            "progress": progress.unwrap_or(0.0),
            "assignedTo": self.assigned,
            "dependencies": t.dependencies,
            "blockedBy": t.blocked_by,
            "createdAt": view::time(t.created_at),
            "startedAt": t.started_at.map(view::time),
            "completedAt": t.completed_at.map(view::time),
            "failedAt": t.failed_at.map(view::time),
            "cancelledAt": self.cancelled.as_ref().map(|e| view::time(e.timestamp)),
            "durationMs": t.duration_ms,
            "result": t.result,
            "error": t.error,
            "failureCount": t.failure_count,
            "version": version.0,
        })
    }
}

impl AnnalMcp {
    async fn task_facts(&self, task_id: &str) -> Result<TaskFacts, ToolError> {
        let task = {
            let folded = self.inner.tasks.caught_up(self.store()).await?;
            folded.state.get(task_id).cloned()
        };
        let task = task.ok_or_else(|| no_such_task(task_id))?;
        let assigned = self.assignees(&task).await?;
        let stream = stream_id("taskId", task_id)?;
        let filter = Filter {
            aggregate_ids: vec![stream],
            event_types: vec![
                EventType::new("task:cancelled")?,
                EventType::new("task:progress")?,
            ],
            ..Filter::all()
        };
        let marks = collect(self.store().query(&filter).await?).await?;
        let cancelled = marks
            .iter()
            .find(|e| e.event_type.as_str() == "task:cancelled")
            .cloned();
        let progress = marks
            .iter()
            .rev()
            .find(|e| e.event_type.as_str() == "task:progress")
            .and_then(|e| e.payload.to_value().get("progress").and_then(Value::as_f64));
        Ok(TaskFacts {
            task,
            cancelled,
            progress,
            assigned,
        })
    }

    /// The task's agent: the one that started it, else those that hold it as current task.
    async fn assignees(&self, task: &Task) -> Result<Vec<String>, ToolError> {
        if let Some(agent) = &task.assigned_agent {
            return Ok(vec![agent.clone()]);
        }
        let folded = self.inner.agents.caught_up(self.store()).await?;
        Ok(folded
            .state
            .all()
            .filter(|a| a.current_task.as_deref() == Some(task.id.as_str()))
            .map(|a| a.id.clone())
            .collect())
    }

    /// `task_status` and `projection_get` for a task.
    pub(crate) async fn task_entry(&self, task_id: &str, events: Option<u64>) -> Answer {
        let facts = self.task_facts(task_id).await?;
        let stream = stream_id("taskId", task_id)?;
        let version = self.store().stream_version(&stream).await?;
        let history = recent_events(self.store(), &stream, events.unwrap_or(20)).await?;
        let mut value = facts.view(version);
        value["history"] = json!(view::events(
            &history,
            false,
            self.config().payload_bytes_max
        ));
        let summary = match (&facts.task.error, facts.status()) {
            (Some(error), "failed") => format!("{task_id} failed: {error}"),
            (_, status) => format!("{task_id} is {status}"),
        };
        ok(summary, value)
    }

    async fn task_create_answer(&self, args: TaskCreate) -> Answer {
        let task_id = new_id("task");
        let stream = stream_id("taskId", &task_id)?;
        let now = now_ms();
        let title = args.title.unwrap_or_else(|| {
            args.description
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        let priority = args.priority.unwrap_or_else(|| "normal".into());
        let draft = task::created(
            &stream,
            args.task_type,
            title,
            args.description,
            priority,
            args.dependencies,
            now,
        );
        let draft = super::common::with_payload_fields(draft, json!({"tags": args.tags}));
        let envelope = Envelope {
            correlation_id: Some(args.correlation_id.unwrap_or_else(|| task_id.clone())),
            ..Envelope::default()
        };
        let draft = envelope.apply(draft).with_id(EventId::generate());
        draft
            .append_expecting(self.store(), ExpectedVersion::NoStream)
            .await?;
        if !args.assign_to.is_empty() {
            self.assign(&task_id, &args.assign_to).await?;
        }
        self.task_entry(&task_id, Some(20)).await
    }

    async fn task_list_answer(&self, args: TaskList) -> Answer {
        let limit = usize::try_from(self.config().limit(Some(args.limit.unwrap_or(50))))
            .unwrap_or(usize::MAX);
        let wanted: Option<Vec<String>> = args
            .status
            .as_ref()
            .map(|s| s.split(',').map(|v| v.trim().replace('-', "_")).collect());
        let mut tasks: Vec<Task> = {
            let folded = self.inner.tasks.caught_up(self.store()).await?;
            folded.state.all().cloned().collect()
        };
        tasks.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let marks = self.task_marks().await?;
        let mut items = Vec::new();
        for task in tasks {
            if args
                .task_type
                .as_deref()
                .is_some_and(|t| task.task_type != t)
                || args.priority.as_deref().is_some_and(|p| task.priority != p)
            {
                continue;
            }
            let assigned = self.assignees(&task).await?;
            let facts = TaskFacts {
                cancelled: marks.cancelled.get(&task.id).cloned(),
                progress: marks.progress.get(&task.id).copied(),
                task,
                assigned,
            };
            if args
                .assigned_to
                .as_ref()
                .is_some_and(|a| !facts.assigned.contains(a))
                || wanted
                    .as_ref()
                    .is_some_and(|w| !w.iter().any(|s| s == facts.status()))
            {
                continue;
            }
            items.push(facts.view(Version(0)));
            if items.len() == limit {
                break;
            }
        }
        for item in &mut items {
            if let Some(object) = item.as_object_mut() {
                object.remove("version");
                object.remove("result");
            }
        }
        ok(
            format!("{} tasks", items.len()),
            json!({"tasks": items, "total": items.len()}),
        )
    }

    /// Cancellations and latest progress of every task, from one query.
    async fn task_marks(&self) -> Result<Marks, ToolError> {
        let filter = Filter {
            event_types: vec![
                EventType::new("task:cancelled")?,
                EventType::new("task:progress")?,
            ],
            ..Filter::all()
        };
        let mut marks = Marks::default();
        for event in collect(self.store().query(&filter).await?).await? {
            let id = event.aggregate_id.as_str().to_owned();
            if event.event_type.as_str() == "task:cancelled" {
                marks.cancelled.entry(id).or_insert(event);
            } else if let Some(p) = event
                .payload
                .to_value()
                .get("progress")
                .and_then(Value::as_f64)
            {
                marks.progress.insert(id, p);
            }
        }
        Ok(marks)
    }

    async fn task_update_answer(&self, args: TaskUpdate) -> Answer {
        let status = args
            .status
            .as_deref()
            .map(|s| Change::parse(s, &args))
            .transpose()?;
        if status.is_none() && args.progress.is_none() && args.assign_to.is_none() {
            return Err(ToolError::invalid(
                "nothing to update",
                "pass status, progress or assignTo",
            ));
        }
        let mut expected = args.expected_version;
        if let Some(agents) = &args.assign_to {
            self.check_expected(&args.task_id, expected.take()).await?;
            self.assign(&args.task_id, agents).await?;
        }
        if let Some(change) = status {
            self.task_change(&args.task_id, change, expected.take())
                .await?;
        }
        if let Some(progress) = args.progress {
            if !(0.0..=100.0).contains(&progress) {
                return Err(ToolError::invalid(
                    format!("progress {progress} is outside 0..100"),
                    "give a percentage from 0 to 100",
                ));
            }
            self.task_change(&args.task_id, Change::Progress(progress), expected.take())
                .await?;
        }
        self.task_entry(&args.task_id, Some(20)).await
    }

    /// Refuses at once when the caller's expected version is not the task's version.
    async fn check_expected(
        &self,
        task_id: &str,
        asked: Option<u64>,
    ) -> Result<Version, ToolError> {
        let stream = stream_id("taskId", task_id)?;
        let version = self.store().stream_version(&stream).await?;
        match asked {
            Some(asked) if asked != version.0 => Err(AppendError::WrongExpectedVersion {
                stream,
                expected: ExpectedVersion::Exact(Version(asked)),
                actual: version,
            }
            .into()),
            _ => Ok(version),
        }
    }

    /// Appends one status change to a task's stream, expecting the version its checks read.
    async fn task_change(&self, task_id: &str, change: Change, asked: Option<u64>) -> Answer {
        // The facts first, then the version: a task another caller finished after this caller
        // read it is then this caller's wrong expected version, not "already finished".
        let facts = self.task_facts(task_id).await?;
        let version = self.check_expected(task_id, asked).await?;
        if facts.is_final() && !matches!(change, Change::Progress(_)) {
            return Err(ToolError::new(
                "task_finished",
                format!("{task_id} is already {}", facts.status()),
                "task_status shows how it ended; create a new task to do the work again",
            )
            .with_details(json!({"status": facts.status(), "version": version.0})));
        }
        let stream = stream_id("taskId", task_id)?;
        let now = now_ms();
        let draft = match &change {
            Change::Start(agent) => {
                let agent = agent
                    .clone()
                    .or_else(|| facts.assigned.first().cloned())
                    .ok_or_else(|| {
                        ToolError::invalid(
                            format!("{task_id} has no agent to start it"),
                            "task_assign it first, or pass assignTo with the status",
                        )
                    })?;
                task::started(&stream, &stream_id("assignTo", &agent)?, now)
            }
            Change::Complete(result) => {
                let duration = facts
                    .task
                    .started_at
                    .map_or(0, |s| u64::try_from(now - s).unwrap_or(0));
                task::completed(&stream, result.clone(), duration, now)
            }
            Change::Fail(error) => {
                task::failed(&stream, error, None, facts.task.failure_count, now)
            }
            Change::Cancel(reason) => marker(
                &stream,
                "task:cancelled",
                json!({"taskId": task_id, "reason": reason, "cancelledAt": now}),
            )?,
            Change::Queue => task::queued(&stream, facts.task.priority.clone(), now),
            Change::Block(by) => task::blocked(&stream, by.clone(), now),
            Change::Progress(p) => marker(
                &stream,
                "task:progress",
                json!({"taskId": task_id, "progress": p, "at": now}),
            )?,
        };
        let previous = last_event(self.store(), &stream).await?;
        let envelope = Envelope::after(previous.as_ref(), &Envelope::default());
        let event_id = EventId::generate();
        let draft = envelope.apply(draft).with_id(event_id.clone());
        let result = draft
            .append_expecting(self.store(), ExpectedVersion::Exact(version))
            .await?;
        if let Change::Complete(result_value) = &change {
            self.tell_agents_completed(&facts, &stream, result_value, &event_id, &envelope, now)
                .await?;
        }
        let mut value = appended(&result, &stream);
        value["taskId"] = json!(task_id);
        value["eventId"] = json!(event_id.as_str());
        ok(
            format!("{task_id}: recorded (version {})", result.stream_version.0),
            value,
        )
    }

    /// After a completion, the agents that held the task record it (AgentState counts it).
    async fn tell_agents_completed(
        &self,
        facts: &TaskFacts,
        stream: &StreamId,
        result: &Value,
        cause: &EventId,
        envelope: &Envelope,
        now: i64,
    ) -> Result<(), ToolError> {
        let duration = facts
            .task
            .started_at
            .map_or(0, |s| u64::try_from(now - s).unwrap_or(0));
        for agent_id in &facts.assigned {
            let agent_stream = stream_id("agentId", agent_id)?;
            let follow = Envelope {
                causation_id: Some(cause.as_str().to_owned()),
                ..envelope.clone()
            };
            let draft = agent::task_completed(&agent_stream, stream, result.clone(), duration, now);
            follow.apply(draft).append(self.store()).await?;
        }
        Ok(())
    }

    async fn task_assign_answer(&self, task_id: &str, agents: Vec<String>) -> Answer {
        if agents.is_empty() {
            return Err(ToolError::invalid(
                "no agent given",
                "pass agentIds (or agentId)",
            ));
        }
        self.assign(task_id, &agents).await?;
        self.task_entry(task_id, Some(20)).await
    }

    /// Appends agent:task-assigned to each agent's stream, caused by the task's last event.
    async fn assign(&self, task_id: &str, agents: &[String]) -> Result<(), ToolError> {
        let facts = self.task_facts(task_id).await?;
        if facts.is_final() {
            return Err(ToolError::new(
                "task_finished",
                format!("{task_id} is already {}", facts.status()),
                "create a new task to do the work again",
            ));
        }
        let stream = stream_id("taskId", task_id)?;
        let previous = last_event(self.store(), &stream).await?;
        let envelope = Envelope::after(previous.as_ref(), &Envelope::default());
        for agent_id in agents {
            let known = {
                let folded = self.inner.agents.caught_up(self.store()).await?;
                folded.state.get(agent_id).is_some()
            };
            if !known {
                return Err(super::agents::no_such_agent(agent_id));
            }
            let agent_stream = stream_id("agentIds", agent_id)?;
            let version = self.store().stream_version(&agent_stream).await?;
            let draft = envelope.apply(agent::task_assigned(&agent_stream, &stream, now_ms()));
            draft
                .append_expecting(self.store(), ExpectedVersion::Exact(version))
                .await?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Marks {
    cancelled: HashMap<String, RecordedEvent>,
    progress: HashMap<String, f64>,
}

/// An event of a type annal-swarm does not define, in a task's stream.
fn marker(stream: &StreamId, event_type: &str, payload: Value) -> Result<EventDraft, ToolError> {
    let event = NewEvent::new(EventType::new(event_type)?, payload).with_timestamp(now_ms());
    Ok(EventDraft {
        stream: stream.clone(),
        event,
    })
}

fn no_such_task(task_id: &str) -> ToolError {
    ToolError::new(
        "no_such_task",
        format!("no such task: {task_id}"),
        "task_list lists tasks; task_create creates one",
    )
}
