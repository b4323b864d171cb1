//! History tools: read one stream, query the log, the latest events, the streams, store
//! counts, an event's trace, a projection entry with its events, and raw appends.

use annal_core::{
    AggregateType, Direction, EventId, EventType, ExpectedVersion, Filter, NewEvent,
    ReadStreamOptions, StreamId, TraceLimits, Version, collect,
};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{appended, stream_id};
use crate::AnnalMcp;
use crate::answer::{Answer, ToolError, finish, ok};
use crate::view::{self, SHORTENED_NOTE};

/// `events_read` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventsRead {
    /// The stream (aggregate id), e.g. `task-42`.
    stream: String,
    /// The first version to return (inclusive); forward reads start at 1, backward reads at
    /// the newest.
    from: Option<u64>,
    /// At most this many events (default 20, at most 500).
    limit: Option<u64>,
    /// `forward` (oldest first, the default) or `backward` (newest first).
    direction: Option<DirectionArg>,
    /// Whole payloads and metadata instead of shortened ones.
    #[serde(default)]
    full: bool,
}

/// A read direction.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DirectionArg {
    /// Oldest first.
    Forward,
    /// Newest first.
    Backward,
}

impl From<DirectionArg> for Direction {
    fn from(value: DirectionArg) -> Self {
        match value {
            DirectionArg::Forward => Direction::Forward,
            DirectionArg::Backward => Direction::Backward,
        }
    }
}

/// `events_query` arguments: every field of annal's query filter. Fields combine with AND,
/// values inside one list with OR.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventsQuery {
    /// Any of these event types, e.g. `["task:failed"]`.
    #[serde(default)]
    types: Vec<String>,
    /// Any of these streams.
    #[serde(default)]
    streams: Vec<String>,
    /// Any of these aggregate types (`task`, `agent`, `memory`, `swarm`, ...).
    #[serde(default)]
    aggregate_types: Vec<String>,
    /// Exactly this source (who emitted the event).
    source: Option<String>,
    /// Exactly this correlation id.
    correlation_id: Option<String>,
    /// Exactly this causation id: the events this event or command caused.
    causation_id: Option<String>,
    /// Events at or after this time, in milliseconds since the epoch.
    since: Option<i64>,
    /// Events before this time, in milliseconds since the epoch.
    until: Option<i64>,
    /// `forward` (oldest first, the default) or `backward` (newest first).
    direction: Option<DirectionArg>,
    /// At most this many events per page (default 20, at most 500).
    limit: Option<u64>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Whole payloads and metadata instead of shortened ones.
    #[serde(default)]
    full: bool,
}

/// `events_recent` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventsRecent {
    /// How many of the newest events (default 10, at most 500).
    count: Option<u64>,
    /// Only events of these types.
    #[serde(default)]
    types: Vec<String>,
}

/// `streams_list` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StreamsList {
    /// Only streams whose id starts with this, e.g. `task-`.
    prefix: Option<String>,
    /// At most this many streams (default 50, at most 500).
    limit: Option<u64>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// `store_stats` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoreStats {
    /// How many of the largest streams to list (default 10).
    top: Option<usize>,
}

/// `events_trace` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventsTrace {
    /// The id of the event to explain (events_query and task_status show ids).
    event_id: String,
    /// At most this many events in each list: causes, effects, correlated (default 50).
    limit: Option<usize>,
    /// Whole payloads instead of shortened ones.
    #[serde(default)]
    full: bool,
}

/// `projection_get` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProjectionGet {
    /// `agent`, `task` or `memory`.
    kind: ProjectionKind,
    /// The agent id, task id, or memory id (or a memory key, with `namespace`).
    id: String,
    /// For memory: the namespace of the key given as `id`.
    namespace: Option<String>,
    /// At most this many of the newest events behind the entry (default 20).
    events: Option<u64>,
}

/// Which projection to read.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProjectionKind {
    /// An agent (AgentState).
    Agent,
    /// A task (TaskHistory).
    Task,
    /// A memory entry (MemoryIndex).
    Memory,
}

/// `events_append` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EventsAppend {
    /// The stream to append to.
    stream: String,
    /// `any` (default), `no-stream`, `exists`, or the stream's current version as a number.
    expected_version: Option<Value>,
    /// The events, appended as one atomic batch.
    events: Vec<AppendEvent>,
}

/// One event to append.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppendEvent {
    /// What happened, as `domain:verb`, e.g. `task:noted`.
    #[serde(rename = "type")]
    event_type: String,
    /// The event's data: a JSON object.
    payload: Value,
    /// The idempotency key; generated when absent.
    id: Option<String>,
    /// Who emitted it.
    source: Option<String>,
    /// Free-form context: a JSON object.
    metadata: Option<Value>,
    /// The id of the event or command that caused it.
    causation_id: Option<String>,
    /// The run or conversation it belongs to.
    correlation_id: Option<String>,
}

#[tool_router(router = history_tools, vis = "pub(crate)")]
impl AnnalMcp {
    /// Read the events of one stream, oldest first by default.
    #[tool(annotations(read_only_hint = true))]
    async fn events_read(&self, Parameters(args): Parameters<EventsRead>) -> CallToolResult {
        finish(self.read_stream_answer(args).await)
    }

    /// Query events by type, stream, aggregate type, source, correlation id, causation id and
    /// time, a page at a time (pass nextCursor back for the next page).
    #[tool(annotations(read_only_hint = true))]
    async fn events_query(&self, Parameters(args): Parameters<EventsQuery>) -> CallToolResult {
        finish(self.query_answer(args).await)
    }

    /// The newest events of the whole store, newest first, optionally of some types only.
    #[tool(annotations(read_only_hint = true))]
    async fn events_recent(&self, Parameters(args): Parameters<EventsRecent>) -> CallToolResult {
        let count = self.config().limit(Some(args.count.unwrap_or(10)));
        let query = EventsQuery {
            types: args.types,
            direction: Some(DirectionArg::Backward),
            limit: Some(count),
            ..EventsQuery::default()
        };
        finish(self.query_answer(query).await)
    }

    /// The streams, by id prefix, with their versions and event counts.
    #[tool(annotations(read_only_hint = true))]
    async fn streams_list(&self, Parameters(args): Parameters<StreamsList>) -> CallToolResult {
        finish(self.streams_answer(args).await)
    }

    /// Counts over the store: events, event types, aggregate types, streams, time span.
    #[tool(annotations(read_only_hint = true))]
    async fn store_stats(&self, Parameters(args): Parameters<StoreStats>) -> CallToolResult {
        let answer = async {
            let stats = self.store().stats(args.top.unwrap_or(10)).await?;
            let summary = format!(
                "{} events in {} streams, positions {}..{}",
                stats.total_events,
                stats.stream_count,
                stats.first_position.map_or(0, |p| p.0),
                stats.last_position.map_or(0, |p| p.0)
            );
            ok(summary, json!(stats))
        };
        finish(answer.await)
    }

    /// Why an event happened and what it led to: its causes up the causation chain, its
    /// effects down it, and every event sharing its correlation id, in position order. Ask it
    /// "why did task-42 fail?" with the id of the task:failed event.
    #[tool(annotations(read_only_hint = true))]
    async fn events_trace(&self, Parameters(args): Parameters<EventsTrace>) -> CallToolResult {
        finish(self.trace_answer(args).await)
    }

    /// One agent, task or memory entry as its projection sees it, with the events that built
    /// it.
    #[tool(annotations(read_only_hint = true))]
    async fn projection_get(&self, Parameters(args): Parameters<ProjectionGet>) -> CallToolResult {
        finish(self.projection_answer(args).await)
    }

    /// Append raw events to a stream as one atomic batch, if the stream is at the expected
    /// version. Prefer the swarm tools for agents, tasks and memory: they append typed events.
    #[tool(annotations(destructive_hint = false))]
    async fn events_append(&self, Parameters(args): Parameters<EventsAppend>) -> CallToolResult {
        finish(self.append_answer(args).await)
    }
}

impl AnnalMcp {
    async fn read_stream_answer(&self, args: EventsRead) -> Answer {
        let stream = stream_id("stream", &args.stream)?;
        let limit = self.config().limit(args.limit);
        let direction = args.direction.map_or(Direction::Forward, Direction::from);
        let options = ReadStreamOptions {
            from: args.from.map(Version),
            direction,
            limit: Some(limit),
        };
        let version = self.store().stream_version(&stream).await?;
        if version.0 == 0 {
            return Err(no_such_stream(&stream));
        }
        let events = collect(self.store().read_stream(&stream, options).await?).await?;
        let views = view::events(&events, args.full, self.config().payload_bytes_max);
        let mut value = json!({"stream": stream.as_str(), "version": version.0, "events": views});
        note_if_shortened(&mut value);
        let summary = format!(
            "{} events of {} (at version {})",
            events.len(),
            stream.as_str(),
            version.0
        );
        ok(summary, value)
    }

    async fn query_answer(&self, args: EventsQuery) -> Answer {
        let limit = self.config().limit(args.limit);
        let offset = match &args.cursor {
            Some(cursor) => cursor.parse::<u64>().map_err(|_| {
                ToolError::invalid(
                    format!("cursor {cursor:?} is not one this server gave"),
                    "pass the nextCursor of the previous page unchanged, or leave it out",
                )
            })?,
            None => 0,
        };
        let filter = Filter {
            event_types: names("types", &args.types, |v| EventType::new(v))?,
            aggregate_ids: names("streams", &args.streams, |v| StreamId::new(v))?,
            aggregate_types: names("aggregateTypes", &args.aggregate_types, |v| {
                AggregateType::new(v)
            })?,
            source: args.source,
            correlation_id: args.correlation_id,
            causation_id: args.causation_id,
            timestamp_from: args.since,
            timestamp_to: args.until,
            limit: Some(limit + 1),
            offset,
            direction: args.direction.map_or(Direction::Forward, Direction::from),
        };
        filter
            .validate()
            .map_err(|error| ToolError::invalid(error.to_string(), "since must be before until"))?;
        let mut events = collect(self.store().query(&filter).await?).await?;
        let more = events.len() as u64 > limit;
        events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let views = view::events(&events, args.full, self.config().payload_bytes_max);
        let next = more.then(|| (offset + limit).to_string());
        let mut value = json!({"events": views, "nextCursor": next});
        note_if_shortened(&mut value);
        let summary = match &next {
            Some(_) => format!("{} events; more follow (pass nextCursor)", events.len()),
            None => format!("{} events", events.len()),
        };
        ok(summary, value)
    }

    async fn streams_answer(&self, args: StreamsList) -> Answer {
        let limit = usize::try_from(self.config().limit(Some(args.limit.unwrap_or(50))))
            .unwrap_or(usize::MAX);
        let stats = self.store().stats(usize::MAX).await?;
        let prefix = args.prefix.unwrap_or_default();
        let mut streams: Vec<_> = stats
            .top_streams
            .into_iter()
            .filter(|s| s.stream.as_str().starts_with(&prefix))
            .filter(|s| args.cursor.as_deref().is_none_or(|c| s.stream.as_str() > c))
            .collect();
        streams.sort_by(|a, b| a.stream.as_str().cmp(b.stream.as_str()));
        let more = streams.len() > limit;
        streams.truncate(limit);
        let mut items = Vec::with_capacity(streams.len());
        for s in &streams {
            let version = self.store().stream_version(&s.stream).await?;
            items.push(
                json!({"stream": s.stream.as_str(), "version": version.0, "events": s.events}),
            );
        }
        let next = more
            .then(|| streams.last().map(|s| s.stream.as_str().to_owned()))
            .flatten();
        let summary = format!(
            "{} streams{}",
            items.len(),
            if more { "; more follow" } else { "" }
        );
        ok(summary, json!({"streams": items, "nextCursor": next}))
    }

    async fn trace_answer(&self, args: EventsTrace) -> Answer {
        let id = EventId::new(&args.event_id).map_err(|error| {
            ToolError::invalid(format!("eventId: {error}"), "pass an event id from a read")
        })?;
        let max = args.limit.unwrap_or(50);
        let limits = TraceLimits {
            causes_max: max,
            effects_max: max,
            correlated_max: max,
        };
        let trace = annal_core::trace(self.store(), &id, limits).await?;
        let bytes = self.config().payload_bytes_max;
        let mut value = json!({
            "event": view::event(&trace.event, true, bytes),
            "causes": view::events(&trace.causes, args.full, bytes),
            "missingCause": trace.missing_cause,
            "causesTruncated": trace.causes_truncated,
            "effects": view::events(&trace.effects, args.full, bytes),
            "effectsTruncated": trace.effects_truncated,
            "correlationId": trace.event.correlation_id,
            "correlated": view::events(&trace.correlated, args.full, bytes),
            "correlatedTruncated": trace.correlated_truncated,
        });
        note_if_shortened(&mut value);
        let summary = format!(
            "{}: {} causes, {} effects, {} correlated events",
            view::line(&trace.event),
            trace.causes.len(),
            trace.effects.len(),
            trace.correlated.len()
        );
        ok(summary, value)
    }

    async fn append_answer(&self, args: EventsAppend) -> Answer {
        let stream = stream_id("stream", &args.stream)?;
        let expected = expected_version(args.expected_version.as_ref())?;
        let events = args
            .events
            .into_iter()
            .map(new_event)
            .collect::<Result<Vec<_>, _>>()?;
        let result = self.store().append(&stream, expected, events).await?;
        let summary = format!(
            "appended to {} (now at version {})",
            stream.as_str(),
            result.stream_version.0
        );
        let mut value = appended(&result, &stream);
        value["firstPosition"] = json!(result.first_position.0);
        ok(summary, value)
    }

    async fn projection_answer(&self, args: ProjectionGet) -> Answer {
        match args.kind {
            ProjectionKind::Agent => self.agent_entry(&args.id, args.events).await,
            ProjectionKind::Task => self.task_entry(&args.id, args.events).await,
            ProjectionKind::Memory => {
                self.memory_entry(&args.id, args.namespace.as_deref(), args.events)
                    .await
            }
        }
    }
}

/// The error for a stream that never held an event.
pub(crate) fn no_such_stream(stream: &StreamId) -> ToolError {
    ToolError::new(
        "no_such_stream",
        format!("no such stream: {}", stream.as_str()),
        "streams_list lists them (filter with prefix)",
    )
}

/// Adds the shortened-payload note when any event in the answer was shortened.
fn note_if_shortened(value: &mut Value) {
    let shortened = ["events", "causes", "effects", "correlated"]
        .iter()
        .filter_map(|key| value.get(*key).and_then(Value::as_array))
        .any(|views| view::any_shortened(views));
    if shortened {
        value["note"] = json!(SHORTENED_NOTE);
    }
}

fn names<T, E: std::fmt::Display>(
    argument: &str,
    values: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, ToolError> {
    values
        .iter()
        .map(|value| {
            parse(value).map_err(|error| {
                ToolError::invalid(format!("{argument}: {error}"), "fix or remove the value")
            })
        })
        .collect()
}

fn expected_version(value: Option<&Value>) -> Result<ExpectedVersion, ToolError> {
    let refuse = |shown: &Value| {
        ToolError::invalid(
            format!("expectedVersion {shown} is not understood"),
            "use any, no-stream, exists, or a version number (streams_list shows versions)",
        )
    };
    match value {
        None => Ok(ExpectedVersion::Any),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|v| ExpectedVersion::Exact(Version(v)))
            .ok_or_else(|| refuse(&Value::Number(n.clone()))),
        Some(Value::String(s)) => match s.as_str() {
            "any" => Ok(ExpectedVersion::Any),
            "no-stream" | "no_stream" => Ok(ExpectedVersion::NoStream),
            "exists" => Ok(ExpectedVersion::StreamExists),
            other => other
                .parse::<u64>()
                .map(|v| ExpectedVersion::Exact(Version(v)))
                .map_err(|_| refuse(&Value::String(s.clone()))),
        },
        Some(other) => Err(refuse(other)),
    }
}

fn new_event(event: AppendEvent) -> Result<NewEvent, ToolError> {
    let event_type = EventType::new(&event.event_type).map_err(|error| {
        ToolError::invalid(format!("type: {error}"), "types look like domain:verb")
    })?;
    let mut new = NewEvent::new(event_type, event.payload);
    if let Some(id) = event.id {
        new = new.with_id(EventId::new(&id).map_err(|error| {
            ToolError::invalid(
                format!("id: {error}"),
                "leave ids out to have them generated",
            )
        })?);
    }
    new.source = event.source.unwrap_or_else(|| "mcp".into());
    new.metadata = event.metadata;
    new.causation_id = event.causation_id;
    new.correlation_id = event.correlation_id;
    Ok(new)
}
