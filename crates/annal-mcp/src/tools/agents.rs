//! Agent tools with the orchestrator's names and fields: `agent_spawn`, `agent_status`,
//! `agent_list`, `agent_terminate`, `agent_health`. Writes append annal-swarm's agent events
//! with expected versions; reads answer from the AgentState projection with the agent's
//! recent events.

use annal_core::ExpectedVersion;
use annal_swarm::events::agent;
use annal_swarm::projections::{Agent, AgentStatus};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{
    Envelope, appended, new_id, now_ms, recent_events, stream_id, with_payload_fields,
};
use crate::AnnalMcp;
use crate::answer::{Answer, ToolError, finish, ok};
use crate::view;

/// `agent_spawn` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentSpawn {
    /// The kind of agent (coder, reviewer, tester, ...): its role.
    agent_type: String,
    /// A chosen agent id (default: a fresh `agent-<ms>-<random>`).
    agent_id: Option<String>,
    /// The swarm it joins; its events carry it as correlation id.
    swarm_id: Option<String>,
    /// Agent configuration, kept with the spawn event.
    config: Option<Value>,
    /// The agent's domain (default `general`).
    domain: Option<String>,
    /// The model alias (haiku, sonnet, opus, ...), kept with the spawn event; annal routes
    /// nothing.
    model: Option<String>,
    /// The task it is spawned for, kept with the spawn event.
    task: Option<String>,
    /// What it can do.
    #[serde(default)]
    capabilities: Vec<String>,
}

/// `agent_status` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentId {
    /// The agent id.
    agent_id: String,
}

/// `agent_list` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentList {
    /// Only this status: idle, active, blocked, completed (terminated) or error.
    status: Option<String>,
    /// Only this domain.
    domain: Option<String>,
    /// At most this many agents (default 50).
    limit: Option<u64>,
}

/// `agent_terminate` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentTerminate {
    /// The agent id.
    agent_id: String,
    /// Terminate even while it holds a task.
    #[serde(default)]
    force: bool,
    /// Why (default `terminated by request`).
    reason: Option<String>,
}

/// `agent_health` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentHealthArgs {
    /// One agent; all agents when absent.
    agent_id: Option<String>,
}

#[tool_router(router = agent_tools, vis = "pub(crate)")]
impl AnnalMcp {
    /// Spawn (register) an agent: appends agent:spawned. annal records agents; it does not
    /// run them.
    #[tool(annotations(destructive_hint = false))]
    async fn agent_spawn(&self, Parameters(args): Parameters<AgentSpawn>) -> CallToolResult {
        finish(self.agent_spawn_answer(args).await)
    }

    /// An agent's state (status, current task, completed and failed tasks) with its recent
    /// events.
    #[tool(annotations(read_only_hint = true))]
    async fn agent_status(&self, Parameters(args): Parameters<AgentId>) -> CallToolResult {
        finish(self.agent_entry(&args.agent_id, Some(20)).await)
    }

    /// List agents, filtered by status and domain.
    #[tool(annotations(read_only_hint = true))]
    async fn agent_list(&self, Parameters(args): Parameters<AgentList>) -> CallToolResult {
        finish(self.agent_list_answer(args).await)
    }

    /// Terminate an agent: appends agent:stopped (its status becomes completed).
    #[tool(annotations(destructive_hint = true))]
    async fn agent_terminate(
        &self,
        Parameters(args): Parameters<AgentTerminate>,
    ) -> CallToolResult {
        finish(self.agent_terminate_answer(args).await)
    }

    /// Health verdicts (healthy, degraded, unhealthy) from each agent's status and failures.
    #[tool(annotations(read_only_hint = true))]
    async fn agent_health(&self, Parameters(args): Parameters<AgentHealthArgs>) -> CallToolResult {
        finish(self.agent_health_answer(args).await)
    }
}

impl AnnalMcp {
    async fn agent(&self, agent_id: &str) -> Result<Agent, ToolError> {
        let folded = self.inner.agents.caught_up(self.store()).await?;
        folded
            .state
            .get(agent_id)
            .cloned()
            .ok_or_else(|| no_such_agent(agent_id))
    }

    async fn agent_spawn_answer(&self, args: AgentSpawn) -> Answer {
        let agent_id = args.agent_id.unwrap_or_else(|| new_id("agent"));
        let stream = stream_id("agentId", &agent_id)?;
        if self.agent(&agent_id).await.is_ok() {
            return Err(ToolError::new(
                "already_exists",
                format!("agent {agent_id} already exists"),
                "agent_status shows it; leave agentId out to get a fresh id",
            ));
        }
        let now = now_ms();
        let domain = args.domain.unwrap_or_else(|| "general".into());
        let draft = agent::spawned(&stream, &args.agent_type, domain, args.capabilities, now);
        let draft = with_payload_fields(
            draft,
            json!({"model": args.model, "config": args.config, "swarmId": args.swarm_id, "task": args.task}),
        );
        let envelope = Envelope {
            correlation_id: args.swarm_id,
            ..Envelope::default()
        };
        let result = envelope
            .apply(draft)
            .append_expecting(self.store(), ExpectedVersion::NoStream)
            .await?;
        let mut value = appended(&result, &stream);
        value["success"] = json!(true);
        value["agentId"] = json!(agent_id);
        value["agentType"] = json!(args.agent_type);
        value["status"] = json!("spawned");
        value["createdAt"] = json!(view::time(now));
        ok(format!("spawned {agent_id} ({})", args.agent_type), value)
    }

    /// `agent_status` and `projection_get` for an agent.
    pub(crate) async fn agent_entry(&self, agent_id: &str, events: Option<u64>) -> Answer {
        let agent = self.agent(agent_id).await?;
        let stream = stream_id("agentId", agent_id)?;
        let history = recent_events(self.store(), &stream, events.unwrap_or(20)).await?;
        let mut value = agent_view(&agent);
        value["version"] = json!(self.store().stream_version(&stream).await?.0);
        value["history"] = json!(view::events(
            &history,
            false,
            self.config().payload_bytes_max
        ));
        let summary = format!("{agent_id} is {}", agent.status.as_str());
        ok(summary, value)
    }

    async fn agent_list_answer(&self, args: AgentList) -> Answer {
        let status = args
            .status
            .as_deref()
            .map(|s| {
                AgentStatus::parse(s).ok_or_else(|| {
                    ToolError::invalid(
                        format!("status {s:?} is not an agent status"),
                        "use idle, active, blocked, completed or error",
                    )
                })
            })
            .transpose()?;
        let limit = usize::try_from(self.config().limit(Some(args.limit.unwrap_or(50))))
            .unwrap_or(usize::MAX);
        let folded = self.inner.agents.caught_up(self.store()).await?;
        let agents: Vec<Value> = folded
            .state
            .all()
            .filter(|a| status.is_none_or(|s| a.status == s))
            .filter(|a| args.domain.as_deref().is_none_or(|d| a.domain == d))
            .take(limit)
            .map(agent_view)
            .collect();
        let summary = format!(
            "{} agents shown, {} active",
            agents.len(),
            folded.state.active_count()
        );
        ok(summary, json!({"agents": agents, "total": agents.len()}))
    }

    async fn agent_terminate_answer(&self, args: AgentTerminate) -> Answer {
        let agent = self.agent(&args.agent_id).await?;
        if agent.stopped_at.is_some() && agent.status == AgentStatus::Completed {
            return Err(ToolError::new(
                "already_terminated",
                format!(
                    "{} was terminated at {}",
                    agent.id,
                    view::time(agent.stopped_at.unwrap_or_default())
                ),
                "agent_list lists the agents still running",
            ));
        }
        if let (Some(task), false) = (&agent.current_task, args.force) {
            return Err(ToolError::new(
                "agent_busy",
                format!("{} holds task {task}", agent.id),
                "complete or cancel the task first, or pass force=true",
            ));
        }
        let stream = stream_id("agentId", &args.agent_id)?;
        let version = self.store().stream_version(&stream).await?;
        let reason = args
            .reason
            .unwrap_or_else(|| "terminated by request".into());
        let draft = Envelope::default().apply(agent::stopped(&stream, reason, now_ms()));
        let result = draft
            .append_expecting(self.store(), ExpectedVersion::Exact(version))
            .await?;
        let mut value = appended(&result, &stream);
        value["success"] = json!(true);
        value["agentId"] = json!(args.agent_id);
        value["status"] = json!("terminated");
        ok(format!("terminated {}", args.agent_id), value)
    }

    async fn agent_health_answer(&self, args: AgentHealthArgs) -> Answer {
        let agents: Vec<Agent> = match &args.agent_id {
            Some(id) => vec![self.agent(id).await?],
            None => {
                let folded = self.inner.agents.caught_up(self.store()).await?;
                folded.state.all().cloned().collect()
            }
        };
        let verdicts: Vec<Value> = agents
            .iter()
            .map(|a| {
                json!({
                    "agentId": a.id,
                    "health": a.health(),
                    "status": a.status.as_str(),
                    "errorCount": a.error_count,
                    "completedTasks": a.completed_count(),
                    "failedTasks": a.failed_count(),
                    "lastActivityAt": view::time(a.last_activity_at),
                })
            })
            .collect();
        ok(
            format!("{} agents checked", verdicts.len()),
            json!({"agents": verdicts}),
        )
    }
}

fn agent_view(a: &Agent) -> Value {
    json!({
        "agentId": a.id,
        "agentType": a.role,
        "domain": a.domain,
        "capabilities": a.capabilities,
        "status": a.status.as_str(),
        "health": a.health(),
        "currentTask": a.current_task,
        "completedTasks": a.completed_tasks,
        "failedTasks": a.failed_tasks,
        "averageTaskDurationMs": a.average_task_duration_ms(),
        "errorCount": a.error_count,
        "createdAt": view::time(a.spawned_at),
        "startedAt": a.started_at.map(view::time),
        "stoppedAt": a.stopped_at.map(view::time),
        "lastActivityAt": view::time(a.last_activity_at),
    })
}

/// The error for an agent id the projection does not know.
pub(crate) fn no_such_agent(agent_id: &str) -> ToolError {
    ToolError::new(
        "no_such_agent",
        format!("no such agent: {agent_id}"),
        "agent_list lists agents; agent_spawn registers one",
    )
}
