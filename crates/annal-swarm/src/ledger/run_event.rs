//! [`RunEvent`], the record of one agent task run, and how it maps onto an annal event.
//!
//! Field names and order follow the seed's JSON, so a `RunEvent` serialized here is the line the
//! seed ledger wrote. The whole run event is the payload; the envelope repeats its id (the
//! idempotency key), timestamp and session (as correlation id).

use annal_core::{EventId, NewEvent, RecordedEvent, StreamId};
use serde::{Deserialize, Serialize};

use super::error::LedgerError;
use crate::events::{DEFAULT_SOURCE, EventDraft, builtin_aggregate_type, builtin_type, to_json};

/// The event type of a recorded run.
pub const RUN_EVENT_TYPE: &str = "run:recorded";

/// The aggregate type of run streams.
pub const RUN_AGGREGATE_TYPE: &str = "run";

/// How bad a violation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Must never happen.
    Critical,
    /// Serious.
    High,
    /// Worth fixing.
    Medium,
    /// Minor.
    Low,
    /// Informational.
    Info,
}

/// What a task set out to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskIntent {
    /// Fix a bug.
    BugFix,
    /// Add a feature.
    Feature,
    /// Restructure code.
    Refactor,
    /// Security work.
    Security,
    /// Performance work.
    Performance,
    /// Write tests.
    Testing,
    /// Write docs.
    Docs,
    /// Deploy.
    Deployment,
    /// Design.
    Architecture,
    /// Investigate.
    Debug,
    /// Anything else.
    General,
}

/// A guidance rule broken during a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Violation {
    /// The rule.
    pub rule_id: String,
    /// What happened.
    pub description: String,
    /// How bad it is.
    pub severity: Severity,
    /// Where, when known (`file:line`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Whether the agent corrected it by itself.
    pub auto_corrected: bool,
}

/// Size of the change a run made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffSummary {
    /// Lines added.
    pub lines_added: u64,
    /// Lines removed.
    pub lines_removed: u64,
    /// Files changed.
    pub files_changed: u64,
}

/// Test outcome of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResults {
    /// Whether tests ran at all.
    pub ran: bool,
    /// Tests passed.
    pub passed: u64,
    /// Tests failed.
    pub failed: u64,
    /// Tests skipped.
    pub skipped: u64,
}

/// One agent task run, as the guidance control plane records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    /// Unique id; also the annal event id.
    pub event_id: String,
    /// The task the run worked on.
    pub task_id: String,
    /// Hash of the guidance in force.
    pub guidance_hash: String,
    /// Rules retrieved for the run.
    pub retrieved_rule_ids: Vec<String>,
    /// Tools (or commands) used.
    pub tools_used: Vec<String>,
    /// Files touched.
    pub files_touched: Vec<String>,
    /// Size of the change.
    pub diff_summary: DiffSummary,
    /// Test outcome.
    pub test_results: TestResults,
    /// Rules broken.
    pub violations: Vec<Violation>,
    /// Whether the outcome was accepted; `None` while undecided.
    pub outcome_accepted: Option<bool>,
    /// Lines that had to be redone.
    pub rework_lines: u64,
    /// What the task set out to do.
    pub intent: TaskIntent,
    /// When the run started (ms since the epoch).
    pub timestamp: i64,
    /// How long it took, in ms.
    pub duration_ms: u64,
    /// The session it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// The stream that holds the runs of `task_id`: `run-<taskId>`.
pub fn run_stream(task_id: &str) -> Result<StreamId, LedgerError> {
    let value = format!("run-{task_id}");
    StreamId::new(value.clone()).map_err(|source| LedgerError::InvalidId {
        what: "task id",
        value: task_id.to_owned(),
        source,
    })
}

impl RunEvent {
    /// The annal event for this run, with the run's id as the event id.
    pub fn to_draft(&self) -> Result<EventDraft, LedgerError> {
        let stream = run_stream(&self.task_id)?;
        let id = EventId::new(self.event_id.clone()).map_err(|source| LedgerError::InvalidId {
            what: "event id",
            value: self.event_id.clone(),
            source,
        })?;
        let mut event = NewEvent::new(builtin_type(RUN_EVENT_TYPE), to_json(self))
            .with_id(id)
            .with_aggregate_type(builtin_aggregate_type(RUN_AGGREGATE_TYPE))
            .with_timestamp(self.timestamp)
            .with_source(DEFAULT_SOURCE);
        if let Some(session) = &self.session_id {
            event = event.with_correlation_id(session.clone());
        }
        Ok(EventDraft { stream, event })
    }

    /// The run event stored in `event`, or `None` if `event` is not a `run:recorded` event.
    pub fn from_recorded(event: &RecordedEvent) -> Option<Result<RunEvent, LedgerError>> {
        if event.event_type.as_str() != RUN_EVENT_TYPE {
            return None;
        }
        Some(
            event
                .payload
                .decode::<RunEvent>()
                .map_err(|source| LedgerError::Decode {
                    event_id: event.id.clone(),
                    source,
                }),
        )
    }
}
