//! Swarm tools with the orchestrator's names and fields: `swarm_init` appends
//! swarm:initialized to a new swarm stream; `swarm_status` answers from that stream and the
//! agent and task projections.

use annal_core::{Direction, EventType, ExpectedVersion, Filter, RecordedEvent, collect};
use annal_swarm::events::swarm;
use annal_swarm::projections::{AgentStatus, TaskStatus};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{Envelope, appended, new_id, now_ms, recent_events, stream_id};
use crate::AnnalMcp;
use crate::answer::{Answer, ToolError, finish, ok};
use crate::view;

/// `swarm_init` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SwarmInit {
    /// hierarchical, mesh (default), ring, star, ...
    topology: Option<String>,
    /// The most agents it may hold (default 8).
    max_agents: Option<u32>,
    /// The coordination strategy, kept in the config.
    strategy: Option<String>,
    /// Further configuration, kept with the event.
    config: Option<Value>,
}

/// `swarm_status` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SwarmStatus {
    /// The swarm (default: the most recently initialized).
    swarm_id: Option<String>,
}

#[tool_router(router = swarm_tools, vis = "pub(crate)")]
impl AnnalMcp {
    /// Initialize a swarm: appends swarm:initialized to a new swarm stream.
    #[tool(annotations(destructive_hint = false))]
    async fn swarm_init(&self, Parameters(args): Parameters<SwarmInit>) -> CallToolResult {
        finish(self.swarm_init_answer(args).await)
    }

    /// A swarm's configuration and recent events, with agent and task counts by status.
    #[tool(annotations(read_only_hint = true))]
    async fn swarm_status(&self, Parameters(args): Parameters<SwarmStatus>) -> CallToolResult {
        finish(self.swarm_status_answer(args).await)
    }
}

impl AnnalMcp {
    async fn swarm_init_answer(&self, args: SwarmInit) -> Answer {
        let swarm_id = new_id("swarm");
        let stream = stream_id("swarmId", &swarm_id)?;
        let topology = args.topology.unwrap_or_else(|| "mesh".into());
        let max_agents = args.max_agents.unwrap_or(8);
        if max_agents == 0 {
            return Err(ToolError::invalid("maxAgents is 0", "give at least 1"));
        }
        let mut config = match args.config {
            Some(Value::Object(map)) => Value::Object(map),
            None => json!({}),
            Some(other) => {
                return Err(ToolError::invalid(
                    format!("config must be an object, not {other}"),
                    "pass a JSON object or leave config out",
                ));
            }
        };
        if let Some(strategy) = args.strategy {
            config["strategy"] = json!(strategy);
        }
        let now = now_ms();
        let draft = swarm::initialized(&stream, &topology, max_agents, config, now);
        let envelope = Envelope {
            correlation_id: Some(swarm_id.clone()),
            ..Envelope::default()
        };
        let result = envelope
            .apply(draft)
            .append_expecting(self.store(), ExpectedVersion::NoStream)
            .await?;
        let mut value = appended(&result, &stream);
        value["success"] = json!(true);
        value["swarmId"] = json!(swarm_id);
        value["topology"] = json!(topology);
        value["maxAgents"] = json!(max_agents);
        value["createdAt"] = json!(view::time(now));
        ok(format!("swarm {swarm_id} initialized ({topology})"), value)
    }

    async fn swarm_status_answer(&self, args: SwarmStatus) -> Answer {
        let initialized = match &args.swarm_id {
            Some(id) => {
                let stream = stream_id("swarmId", id)?;
                let events = recent_events(self.store(), &stream, 500).await?;
                events
                    .into_iter()
                    .find(|e| e.event_type.as_str() == "swarm:initialized")
            }
            None => self.latest_swarm().await?,
        };
        let initialized = initialized.ok_or_else(|| {
            ToolError::new(
                "no_such_swarm",
                "no swarm has been initialized here",
                "swarm_init creates one; events_query with aggregateTypes [\"swarm\"] lists swarm events",
            )
        })?;
        let stream = initialized.aggregate_id.clone();
        let history = recent_events(self.store(), &stream, 10).await?;
        let terminated = history
            .iter()
            .any(|e| e.event_type.as_str() == "swarm:terminated");
        let agents = {
            let folded = self.inner.agents.caught_up(self.store()).await?;
            AgentStatus::ALL
                .into_iter()
                .map(|s| {
                    (
                        s.as_str().to_owned(),
                        json!(folded.state.count_by_status(s)),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
        };
        let tasks = {
            let folded = self.inner.tasks.caught_up(self.store()).await?;
            json!({
                "total": folded.state.len(),
                "completed": folded.state.count_by_status(TaskStatus::Completed),
                "failed": folded.state.count_by_status(TaskStatus::Failed),
                "inProgress": folded.state.count_by_status(TaskStatus::InProgress),
                "pending": folded.state.count_by_status(TaskStatus::Pending),
            })
        };
        let payload = initialized.payload.to_value();
        let value = json!({
            "swarmId": stream.as_str(),
            "status": if terminated { "terminated" } else { "active" },
            "topology": payload.get("topology"),
            "maxAgents": payload.get("maxAgents"),
            "config": payload.get("config"),
            "createdAt": view::time(initialized.timestamp),
            "agents": agents,
            "tasks": tasks,
            "history": view::events(&history, false, self.config().payload_bytes_max),
        });
        ok(
            format!(
                "swarm {} is {}",
                stream.as_str(),
                value["status"].as_str().unwrap_or_default()
            ),
            value,
        )
    }

    async fn latest_swarm(&self) -> Result<Option<RecordedEvent>, ToolError> {
        let filter = Filter {
            event_types: vec![EventType::new("swarm:initialized")?],
            direction: Direction::Backward,
            limit: Some(1),
            ..Filter::all()
        };
        Ok(collect(self.store().query(&filter).await?).await?.pop())
    }
}
