//! `GET /v1/projections/as-of`: the agent state, task history and memory index as they were at
//! a position (or at a time), folded from the log on each request: time travel.
//!
//! Invariant: the answer folds exactly the events at positions `1..=position` (or, by time,
//! every event stamped at or before `time` up to the head), so asking twice for one position
//! answers the same state whatever was appended since. The cost is one read of the log up to
//! that position; the lists it answers are paged and the timeline is bounded.

use std::collections::{BTreeMap, VecDeque};

use annal_core::{Position, Projection, RecordedEvent};
use annal_swarm::projections::{AgentState, MemoryIndex, TaskHistory};
use axum::Json;
use axum::extract::State;
use futures::StreamExt;
use serde::Deserialize;

use super::as_of_view::{
    AgentView, MemoryPage, MemoryView, SwarmAsOf, TaskPage, TaskView, TimelineMark,
};
use crate::auth::{Caller, Scope};
use crate::params::Params;
use crate::problem::ApiError;
use crate::state::AppState;

/// Most items one list answers.
const LIMIT_MAX: usize = 1000;
/// Most marks the timeline answers (the newest are kept).
const TIMELINE_MAX: usize = 4000;

/// Query parameters of `GET /v1/projections/as-of`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AsOfParams {
    /// Fold the events up to this position (inclusive); default the head.
    pub(crate) position: Option<u64>,
    /// Instead of a position: fold the events stamped at or before this time (ms since epoch).
    pub(crate) time: Option<i64>,
    /// Only this task.
    pub(crate) task: Option<String>,
    /// Only tasks with this status.
    pub(crate) task_status: Option<String>,
    /// Only tasks assigned to this agent.
    pub(crate) task_agent: Option<String>,
    /// Only tasks of this priority.
    pub(crate) task_priority: Option<String>,
    /// Only memory entries of this namespace.
    pub(crate) namespace: Option<String>,
    /// Skip this many tasks and this many memory entries (default 0).
    pub(crate) offset: Option<usize>,
    /// At most this many tasks and this many memory entries (default 100, at most 1,000).
    pub(crate) limit: Option<usize>,
    /// How many most-read memory entries to list (default 10, at most 1,000).
    pub(crate) top: Option<usize>,
}

/// The three projections and the timeline, folded together in one pass.
#[derive(Default)]
struct Folded {
    agents: AgentState,
    tasks: TaskHistory,
    memory: MemoryIndex,
    marks: VecDeque<TimelineMark>,
    position: u64,
    timestamp: Option<i64>,
    events: u64,
}

impl Folded {
    fn apply(&mut self, event: &RecordedEvent) {
        self.agents.apply(event);
        self.tasks.apply(event);
        self.memory.apply(event);
        self.position = event.position.0;
        self.timestamp = Some(event.timestamp);
        self.events += 1;
        if let Some(mark) = mark(event) {
            if self.marks.len() == TIMELINE_MAX {
                self.marks.pop_front();
            }
            self.marks.push_back(mark);
        }
    }
}

/// The timeline mark an event makes: a memory write or an error, on its agent's row.
fn mark(event: &RecordedEvent) -> Option<TimelineMark> {
    let (agent, kind, label) = match event.event_type.as_str() {
        "memory:stored" => (
            event.source.clone(),
            "memory",
            event.aggregate_id.to_string(),
        ),
        "agent:failed" => {
            #[derive(Deserialize)]
            struct Failed {
                error: Option<String>,
            }
            let failed = event.payload.decode::<Failed>().ok();
            let label = failed
                .and_then(|f| f.error)
                .unwrap_or_else(|| "failed".into());
            (event.aggregate_id.to_string(), "error", label)
        }
        _ => return None,
    };
    Some(TimelineMark {
        agent,
        kind: kind.to_string(),
        start: event.timestamp,
        end: None,
        label,
        status: None,
    })
}

/// Agents, tasks and memory as of a position: time travel.
#[utoipa::path(
    get,
    path = "/v1/projections/as-of", operation_id = "getProjectionsAsOf",
    tag = "projections",
    description = "The agent state, task history and memory index as they were at a position (or time), folded from the log: time travel (scope: read, all streams). Tasks and memory entries are paged with offset/limit; the timeline holds task bars, memory writes and errors per agent.",
    params(AsOfParams),
    responses((status = 200, description = "The projections as of the position", body = SwarmAsOf), (status = 400, description = "Bad parameter", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 401, description = "No or unknown token", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"), (status = 403, description = "The token lacks the scope or stream", body = crate::openapi::ProblemDoc, content_type = "application/problem+json"))
)]
pub(crate) async fn as_of(
    State(state): State<AppState>,
    caller: Caller,
    Params(params): Params<AsOfParams>,
) -> Result<Json<SwarmAsOf>, ApiError> {
    caller.require_all_streams(Scope::Read)?;
    if params.position.is_some() && params.time.is_some() {
        return Err(ApiError::invalid_parameter(
            "time",
            "give position or time, not both",
        ));
    }
    let limit = bounded("limit", params.limit, 100)?;
    let top = bounded("top", params.top, 10)?;
    let head = state.store.head().await?;
    let until = params.position.map_or(head, Position).min(head);
    let mut folded = Folded::default();
    let mut events = state.store.read_all(Position::START).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        if event.position > until {
            break;
        }
        if params.time.is_none_or(|time| event.timestamp <= time) {
            folded.apply(&event);
        }
    }
    let offset = params.offset.unwrap_or(0);
    Ok(Json(SwarmAsOf {
        position: folded.position,
        head: head.0,
        timestamp: folded.timestamp,
        events: folded.events,
        agents: folded.agents.all().map(AgentView::from).collect(),
        active_count: folded.agents.active_count() as u64,
        tasks: task_page(&folded.tasks, &params, offset, limit),
        memory: memory_page(&folded.memory, &params, offset, limit, top),
        timeline: timeline(&folded),
    }))
}

fn bounded(parameter: &str, value: Option<usize>, default: usize) -> Result<usize, ApiError> {
    match value {
        Some(value) if value > LIMIT_MAX => Err(ApiError::invalid_parameter(
            parameter,
            format!("{parameter} is {value}, the maximum is {LIMIT_MAX}"),
        )),
        value => Ok(value.unwrap_or(default)),
    }
}

fn task_page(tasks: &TaskHistory, params: &AsOfParams, offset: usize, limit: usize) -> TaskPage {
    let views: Vec<TaskView> = tasks.all().map(TaskView::from).collect();
    let mut by_status = BTreeMap::new();
    for task in &views {
        *by_status.entry(task.status.clone()).or_insert(0u64) += 1;
    }
    let matching: Vec<TaskView> = views
        .into_iter()
        .filter(|t| params.task.as_ref().is_none_or(|id| &t.id == id))
        .filter(|t| params.task_status.as_ref().is_none_or(|s| &t.status == s))
        .filter(|t| {
            let agent = params.task_agent.as_deref();
            agent.is_none_or(|a| t.assigned_agent.as_deref() == Some(a))
        })
        .filter(|t| {
            params
                .task_priority
                .as_ref()
                .is_none_or(|p| &t.priority == p)
        })
        .collect();
    TaskPage {
        total: matching.len() as u64,
        items: matching.into_iter().skip(offset).take(limit).collect(),
        by_status,
        average_duration_ms: tasks.average_duration_ms(),
        success_rate: tasks.success_rate(),
        failure_rate: tasks.failure_rate(),
    }
}

fn memory_page(
    index: &MemoryIndex,
    params: &AsOfParams,
    offset: usize,
    limit: usize,
    top: usize,
) -> MemoryPage {
    let mut count_by_namespace = BTreeMap::new();
    for memory in index.all() {
        *count_by_namespace
            .entry(memory.namespace.clone())
            .or_insert(0u64) += 1;
    }
    let matching: Vec<MemoryView> = index
        .all()
        .filter(|m| params.namespace.as_ref().is_none_or(|n| &m.namespace == n))
        .map(MemoryView::from)
        .collect();
    MemoryPage {
        total: matching.len() as u64,
        items: matching.into_iter().skip(offset).take(limit).collect(),
        size_by_namespace: index
            .total_size_by_namespace()
            .into_iter()
            .map(|(namespace, size)| (namespace.to_string(), size))
            .collect(),
        count_by_namespace,
        most_accessed: index
            .most_accessed(top)
            .into_iter()
            .map(MemoryView::from)
            .collect(),
    }
}

/// Task bars (from the task history) and the folded memory and error marks, oldest first.
fn timeline(folded: &Folded) -> Vec<TimelineMark> {
    let bars = folded.tasks.all().filter_map(|task| {
        let agent = task.assigned_agent.clone()?;
        let start = task
            .started_at
            .or(task.queued_at)
            .unwrap_or(task.created_at);
        Some(TimelineMark {
            agent,
            kind: "task".to_string(),
            start,
            end: task.completed_at.or(task.failed_at),
            label: task.id.clone(),
            status: Some(super::as_of_view::name(&task.status)),
        })
    });
    let mut marks: Vec<TimelineMark> = bars.chain(folded.marks.iter().cloned()).collect();
    marks.sort_by_key(|mark| mark.start);
    let excess = marks.len().saturating_sub(TIMELINE_MAX);
    marks.drain(..excess);
    marks
}
