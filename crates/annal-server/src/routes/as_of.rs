//! `GET /v1/projections/as-of`: the agent state, task history and memory index as they were at
//! a position (or at a time): time travel.
//!
//! Invariant: given a position, the answer folds exactly the events at positions
//! `1..=position` (or, given a time, every event stamped at or before it), so asking twice for
//! one position answers the same state whatever was appended since; the cost is one read of the
//! log up to that position. Given neither, the answer follows the head: the server's own
//! projection runners (those of `/v1/projections/*`) are caught up instead, which costs only
//! what was committed since their last request. The lists are paged and the timeline bounded.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

use annal_core::{
    Direction, EventType, Filter, Position, Projection, ProjectionRunner, RecordedEvent, Store,
};
use annal_swarm::projections::{AgentState, Memory, MemoryIndex, TaskHistory};
use axum::Json;
use axum::extract::State;
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::{Mutex, MutexGuard};

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
    /// Fold exactly the events up to this position (inclusive); without it (and without
    /// `time`), the answer follows the head.
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
    /// Skip this many agents, tasks and memory entries (default 0).
    pub(crate) offset: Option<usize>,
    /// At most this many agents, tasks and memory entries (default 100, at most 1,000).
    pub(crate) limit: Option<usize>,
    /// How many most-read memory entries to list (default 10, at most 1,000).
    pub(crate) top: Option<usize>,
}

/// The three projections folded from the first event, and the marks of the events folded.
#[derive(Default)]
struct Folded {
    agents: AgentState,
    tasks: TaskHistory,
    memory: MemoryIndex,
    marks: VecDeque<TimelineMark>,
}

impl Folded {
    fn apply(&mut self, event: &RecordedEvent) {
        self.agents.apply(event);
        self.tasks.apply(event);
        self.memory.apply(event);
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
    description = "The agent state, task history and memory index as they were at a position (or time), folded from the log: time travel (scope: read, all streams). Agents, tasks and memory entries are paged with offset/limit; the timeline holds task bars, memory writes and errors of the agents listed.",
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
    let page = Paging {
        offset: params.offset.unwrap_or(0),
        limit: bounded("limit", params.limit, 100)?,
        top: bounded("top", params.top, 10)?,
    };
    let store = state.store.as_ref();
    let head = store.head().await?;
    // Without a position or time the answer follows the head; an explicit position is exact.
    if params.time.is_none() && params.position.is_none() {
        return at_the_head(&state, &params, &page).await.map(Json);
    }
    let until = params.position.map_or(head, Position).min(head);
    let mut folded = Folded::default();
    let mut last: Option<(Position, i64)> = None;
    let mut events = store.read_all(Position::START).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        if event.position > until {
            break;
        }
        if params.time.is_none_or(|time| event.timestamp <= time) {
            folded.apply(&event);
            last = Some((event.position, event.timestamp));
        }
    }
    let (position, timestamp) = last.map_or((0, None), |(p, t)| (p.0, Some(t)));
    let views = Views {
        agents: &folded.agents,
        tasks: &folded.tasks,
        memory: &folded.memory,
        marks: folded.marks.into_iter().collect(),
        position,
        timestamp,
    };
    Ok(Json(views.answer(head.0, &params, &page)))
}

/// At the head: the server's own projection runners (kept between requests, as
/// `/v1/projections/*` keep them), caught up with what was committed since their last request.
/// Each is then at the head it read, so `position` is the lowest of their checkpoints.
async fn at_the_head(
    state: &AppState,
    params: &AsOfParams,
    page: &Paging,
) -> Result<SwarmAsOf, ApiError> {
    let store = &state.store;
    let head = store.head().await?;
    let agents = hot(&state.projections.agents, store, head).await?;
    let tasks = hot(&state.projections.tasks, store, head).await?;
    let memory = hot(&state.projections.memory, store, head).await?;
    let (Some(agents), Some(tasks), Some(memory)) = (&*agents, &*tasks, &*memory) else {
        return Err(ApiError::internal(&"a swarm projection did not load"));
    };
    let position = agents
        .checkpoint()
        .min(tasks.checkpoint())
        .min(memory.checkpoint());
    let timestamp = timestamp_at(store.as_ref(), position).await?;
    let marks = newest_marks(store.as_ref(), position).await?;
    let (agents, tasks, memory) = (agents.state(), tasks.state(), memory.state());
    let views = Views {
        agents: &agents,
        tasks: &tasks,
        memory: &memory,
        marks,
        position: position.0,
        timestamp,
    };
    Ok(views.answer(head.0, params, page))
}

/// The server's runner in `slot`, loaded if needed and caught up when it is behind `head` (a
/// runner at the head is left alone: catching up saves its state even when nothing changed).
async fn hot<'a, P: Projection>(
    slot: &'a Mutex<Option<ProjectionRunner<P>>>,
    store: &Arc<dyn Store>,
    head: Position,
) -> Result<MutexGuard<'a, Option<ProjectionRunner<P>>>, ApiError> {
    let mut guard = slot.lock().await;
    if guard.is_none() {
        *guard = Some(ProjectionRunner::<P>::load(Arc::clone(store)).await?);
    }
    if let Some(runner) = guard.as_mut()
        && runner.checkpoint() < head
    {
        runner.catch_up().await?;
    }
    Ok(guard)
}

/// The timestamp of the event at `position`, if one is readable there.
async fn timestamp_at(store: &dyn Store, position: Position) -> Result<Option<i64>, ApiError> {
    if position == Position::START {
        return Ok(None);
    }
    match store.read_all(position).await?.next().await {
        Some(event) => Ok(Some(event?)
            .filter(|e| e.position == position)
            .map(|e| e.timestamp)),
        None => Ok(None),
    }
}

/// How the lists are cut.
struct Paging {
    offset: usize,
    limit: usize,
    top: usize,
}

/// The projections' states at one position, and what the answer is built from.
struct Views<'a> {
    agents: &'a AgentState,
    tasks: &'a TaskHistory,
    memory: &'a MemoryIndex,
    marks: Vec<TimelineMark>,
    position: u64,
    timestamp: Option<i64>,
}

impl Views<'_> {
    fn answer(self, head: u64, params: &AsOfParams, page: &Paging) -> SwarmAsOf {
        let listed: HashSet<&str> = (self.agents.all().skip(page.offset).take(page.limit))
            .map(|agent| agent.id.as_str())
            .collect();
        SwarmAsOf {
            position: self.position,
            head: head.max(self.position),
            timestamp: self.timestamp,
            agent_total: self.agents.len() as u64,
            agents: self
                .agents
                .all()
                .skip(page.offset)
                .take(page.limit)
                .map(AgentView::from)
                .collect(),
            active_count: self.agents.active_count() as u64,
            tasks: task_page(self.tasks, params, page.offset, page.limit),
            memory: memory_page(self.memory, params, page.offset, page.limit, page.top),
            timeline: timeline(self.tasks, self.marks, &listed),
        }
    }
}

/// The newest memory-write and error marks at or before `until`, oldest first.
async fn newest_marks(store: &dyn Store, until: Position) -> Result<Vec<TimelineMark>, ApiError> {
    let types = ["memory:stored", "agent:failed"].map(EventType::new);
    let event_types = types
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ApiError::internal(&error))?;
    let filter = Filter {
        event_types,
        direction: Direction::Backward,
        limit: Some(TIMELINE_MAX as u64),
        ..Filter::all()
    };
    let mut marks = Vec::new();
    let mut events = store.query(&filter).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        if event.position <= until {
            marks.extend(mark(&event));
        }
    }
    marks.reverse();
    Ok(marks)
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
    let mut by_status = BTreeMap::new();
    let mut matching = Vec::new();
    for task in tasks.all() {
        let status = super::as_of_view::name(&task.status);
        let agent = task.assigned_agent.as_deref();
        let wanted = params.task.as_ref().is_none_or(|id| &task.id == id)
            && params.task_status.as_ref().is_none_or(|s| &status == s)
            && params
                .task_agent
                .as_deref()
                .is_none_or(|a| agent == Some(a))
            && (params.task_priority.as_ref()).is_none_or(|p| &task.priority == p);
        *by_status.entry(status).or_insert(0u64) += 1;
        if wanted {
            matching.push(task);
        }
    }
    TaskPage {
        total: matching.len() as u64,
        items: (matching.into_iter().skip(offset).take(limit))
            .map(TaskView::from)
            .collect(),
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
    let matching: Vec<&Memory> = index
        .all()
        .filter(|m| params.namespace.as_ref().is_none_or(|n| &m.namespace == n))
        .collect();
    MemoryPage {
        total: matching.len() as u64,
        items: (matching.into_iter().skip(offset).take(limit))
            .map(MemoryView::from)
            .collect(),
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

/// Task bars (from the task history) and the memory and error marks, oldest first; the newest
/// [`TIMELINE_MAX`] are kept.
fn timeline(
    tasks: &TaskHistory,
    marks: Vec<TimelineMark>,
    agents: &HashSet<&str>,
) -> Vec<TimelineMark> {
    let bars = tasks.all().filter_map(|task| {
        let agent = task.assigned_agent.clone()?;
        if !agents.contains(agent.as_str()) {
            return None;
        }
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
    let marks = marks
        .into_iter()
        .filter(|mark| agents.contains(mark.agent.as_str()));
    let mut marks: Vec<TimelineMark> = bars.chain(marks).collect();
    marks.sort_by_key(|mark| mark.start);
    let excess = marks.len().saturating_sub(TIMELINE_MAX);
    marks.drain(..excess);
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory_write(start: i64) -> TimelineMark {
        TimelineMark {
            agent: "agent-1".into(),
            kind: "memory".into(),
            start,
            end: None,
            label: format!("mem-{start}"),
            status: None,
        }
    }

    /// The timeline keeps the newest marks of the listed agents, oldest first, at most
    /// `TIMELINE_MAX` of them.
    #[test]
    fn the_timeline_keeps_the_newest_marks_of_the_listed_agents() {
        let mut marks: Vec<TimelineMark> = (0..5000).rev().map(memory_write).collect();
        marks.push(TimelineMark {
            agent: "agent-2".into(),
            ..memory_write(9999)
        });
        let listed = HashSet::from(["agent-1"]);
        let kept = timeline(&TaskHistory::default(), marks, &listed);
        assert_eq!(kept.len(), TIMELINE_MAX);
        let starts: Vec<i64> = kept.iter().map(|mark| mark.start).collect();
        let newest: Vec<i64> = (5000 - TIMELINE_MAX as i64..5000).collect();
        assert_eq!(starts, newest);
    }
}
