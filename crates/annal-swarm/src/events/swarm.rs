//! Swarm coordination events (aggregate type `swarm`, stream = the swarm id): six payloads and
//! their constructors.
//!
//! Every constructor takes the swarm id. The seed wrote every swarm to the one stream `swarm`,
//! so two swarms in one store shared a version sequence.

use annal_core::{StreamId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::draft::{EventDraft, Payload};

macro_rules! payload {
    ($ty:ident, $event_type:literal) => {
        impl Payload for $ty {
            const EVENT_TYPE: &'static str = $event_type;
            const AGGREGATE_TYPE: &'static str = "swarm";
        }
    };
}

/// `swarm:initialized`: a swarm started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmInitialized {
    /// Its topology (`hierarchical-mesh`, ...).
    pub topology: String,
    /// The most agents it may run.
    pub max_agents: u32,
    /// Its configuration (any JSON object).
    #[serde(default)]
    pub config: Value,
    /// When.
    pub initialized_at: Timestamp,
}
payload!(SwarmInitialized, "swarm:initialized");

/// `swarm:scaled`: the number of agents changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmScaled {
    /// Agents before.
    pub previous_agent_count: u32,
    /// Agents after.
    pub new_agent_count: u32,
    /// When.
    pub scaled_at: Timestamp,
    /// Why.
    pub reason: String,
}
payload!(SwarmScaled, "swarm:scaled");

/// `swarm:terminated`: the swarm shut down.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmTerminated {
    /// Why.
    pub reason: String,
    /// When.
    pub terminated_at: Timestamp,
    /// Final figures (any JSON object).
    #[serde(default)]
    pub metrics: Value,
}
payload!(SwarmTerminated, "swarm:terminated");

/// `swarm:phase-changed`: the swarm moved to another execution phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmPhaseChanged {
    /// The phase before.
    pub previous_phase: String,
    /// The phase after.
    pub new_phase: String,
    /// When.
    pub changed_at: Timestamp,
}
payload!(SwarmPhaseChanged, "swarm:phase-changed");

/// `swarm:milestone-reached`: the swarm reached a milestone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmMilestoneReached {
    /// The milestone's id.
    pub milestone_id: String,
    /// Its name.
    pub name: String,
    /// When.
    pub reached_at: Timestamp,
}
payload!(SwarmMilestoneReached, "swarm:milestone-reached");

/// `swarm:error`: a swarm-level error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwarmError {
    /// The error message.
    pub error: String,
    /// The stack trace, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// What the swarm was doing (any JSON object).
    #[serde(default)]
    pub context: Value,
    /// When.
    pub error_at: Timestamp,
}
payload!(SwarmError, "swarm:error");

/// `swarm:initialized` for `swarm_id`.
pub fn initialized(
    swarm_id: &StreamId,
    topology: impl Into<String>,
    max_agents: u32,
    config: Value,
    at: Timestamp,
) -> EventDraft {
    let payload = SwarmInitialized {
        topology: topology.into(),
        max_agents,
        config,
        initialized_at: at,
    };
    EventDraft::new(swarm_id.clone(), &payload, at)
}

/// `swarm:scaled` for `swarm_id`.
pub fn scaled(
    swarm_id: &StreamId,
    previous_agent_count: u32,
    new_agent_count: u32,
    reason: impl Into<String>,
    at: Timestamp,
) -> EventDraft {
    let payload = SwarmScaled {
        previous_agent_count,
        new_agent_count,
        scaled_at: at,
        reason: reason.into(),
    };
    EventDraft::new(swarm_id.clone(), &payload, at)
}

/// `swarm:terminated` for `swarm_id`.
pub fn terminated(
    swarm_id: &StreamId,
    reason: impl Into<String>,
    metrics: Value,
    at: Timestamp,
) -> EventDraft {
    let payload = SwarmTerminated {
        reason: reason.into(),
        terminated_at: at,
        metrics,
    };
    EventDraft::new(swarm_id.clone(), &payload, at)
}

/// `swarm:phase-changed` for `swarm_id` (the seed had no constructor for it).
pub fn phase_changed(
    swarm_id: &StreamId,
    previous_phase: impl Into<String>,
    new_phase: impl Into<String>,
    at: Timestamp,
) -> EventDraft {
    let payload = SwarmPhaseChanged {
        previous_phase: previous_phase.into(),
        new_phase: new_phase.into(),
        changed_at: at,
    };
    EventDraft::new(swarm_id.clone(), &payload, at)
}

/// `swarm:milestone-reached` for `swarm_id` (the seed had no constructor for it).
pub fn milestone_reached(
    swarm_id: &StreamId,
    milestone_id: impl Into<String>,
    name: impl Into<String>,
    at: Timestamp,
) -> EventDraft {
    let payload = SwarmMilestoneReached {
        milestone_id: milestone_id.into(),
        name: name.into(),
        reached_at: at,
    };
    EventDraft::new(swarm_id.clone(), &payload, at)
}

/// `swarm:error` for `swarm_id` (the seed had no constructor for it).
pub fn error(
    swarm_id: &StreamId,
    message: impl Into<String>,
    stack: Option<String>,
    context: Value,
    at: Timestamp,
) -> EventDraft {
    let payload = SwarmError {
        error: message.into(),
        stack,
        context,
        error_at: at,
    };
    EventDraft::new(swarm_id.clone(), &payload, at)
}
