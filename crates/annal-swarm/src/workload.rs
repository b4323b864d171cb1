//! The deterministic benchmark workload `wl1` (`docs/workload.md`), rebuilt from its
//! description so benchmarks, tests and the CLI feed every store the same events.
//!
//! Every field is a closed-form function of the event index `i`; there is no random number
//! generator. Payloads are the typed payload structs of [`crate::events`] plus a `note` padding
//! field, so a byte-identical rebuild (checked against the published sha256 values) also proves
//! that the payload field names and order match the seed's.

use annal_core::{
    AggregateType, AppendError, EventId, EventType, ExpectedVersion, NewEvent, Store, StreamId,
    Timestamp,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::events::{Payload, agent, memory, swarm, task};
use crate::ledger::{DiffSummary, RunEvent, Severity, TaskIntent, TestResults, Violation};

/// Timestamp of event 0, ms since the epoch.
pub const T0: Timestamp = 1_700_000_000_000;
/// Milliseconds between consecutive events.
pub const STEP_MS: Timestamp = 10;
/// Number of aggregates.
pub const AGGREGATES: u64 = 1000;
/// The prime multiplier that spreads consecutive events over the aggregates.
pub const MULTIPLIER: u64 = 7919;

const DOMAINS: [&str; 6] = [
    "security",
    "core",
    "integration",
    "quality",
    "performance",
    "deployment",
];
const PRIORITIES: [&str; 4] = ["critical", "high", "medium", "low"];
const INTENTS: [TaskIntent; 11] = [
    TaskIntent::BugFix,
    TaskIntent::Feature,
    TaskIntent::Refactor,
    TaskIntent::Security,
    TaskIntent::Performance,
    TaskIntent::Testing,
    TaskIntent::Docs,
    TaskIntent::Deployment,
    TaskIntent::Architecture,
    TaskIntent::Debug,
    TaskIntent::General,
];

/// One generated domain event, with its payload already serialized in the workload's key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wl1Event {
    /// The event index `i`.
    pub index: u64,
    /// The event type.
    pub event_type: &'static str,
    /// The aggregate id (the stream).
    pub aggregate_id: String,
    /// The aggregate type.
    pub aggregate_type: &'static str,
    /// `T0 + 10·i`.
    pub timestamp: Timestamp,
    /// The payload as compact JSON, exactly `200 + (37·i mod 201)` bytes.
    pub payload_json: String,
}

/// The aggregate index of event `i`.
pub fn aggregate_index(i: u64) -> u64 {
    (MULTIPLIER * i) % AGGREGATES
}

/// The timestamp of event `i`.
pub fn timestamp(i: u64) -> Timestamp {
    // The index is far below 2^59 for any workload that fits in memory.
    T0 + STEP_MS * i as Timestamp
}

/// The payload size target of event `i`, in bytes.
pub fn payload_bytes(i: u64) -> usize {
    200 + ((37 * i) % 201) as usize
}

/// Domain event `i` of the workload.
pub fn domain_event(i: u64) -> Wl1Event {
    let k = aggregate_index(i);
    let s = i / AGGREGATES;
    let at = timestamp(i);
    let (aggregate_type, aggregate_id) = match k {
        0..=399 => ("agent", format!("agent-{k}")),
        400..=799 => ("task", format!("task-{k}")),
        800..=949 => ("memory", format!("mem-{k}")),
        _ => ("swarm", format!("swarm-{k}")),
    };
    let (event_type, base) = payload(aggregate_type, &aggregate_id, i, k, s, at);
    Wl1Event {
        index: i,
        event_type,
        aggregate_id,
        aggregate_type,
        timestamp: at,
        payload_json: pad(base, payload_bytes(i)),
    }
}

/// Domain events `0..n`.
pub fn domain_events(n: u64) -> impl Iterator<Item = Wl1Event> {
    (0..n).map(domain_event)
}

fn typed<P: Payload>(payload: P) -> (&'static str, String) {
    (P::EVENT_TYPE, to_json_string(&payload))
}

fn to_json_string<T: Serialize>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(json) => json,
        Err(error) => panic!("a payload struct of string-keyed fields serializes: {error}"),
    }
}

/// The event type and unpadded payload JSON of event `i` on aggregate `id`.
fn payload(kind: &str, id: &str, i: u64, k: u64, s: u64, at: Timestamp) -> (&'static str, String) {
    let input = PayloadInput {
        id: id.to_owned(),
        i,
        k,
        s,
        at,
    };
    match kind {
        "agent" => agent_payload(input),
        "task" => task_payload(input),
        "memory" => memory_payload(input),
        _ => swarm_payload(input),
    }
}

/// What the payload of event `i` is built from: its aggregate `id` (index `k`), the event's
/// sequence `s` within that aggregate, and its timestamp.
struct PayloadInput {
    id: String,
    i: u64,
    k: u64,
    s: u64,
    at: Timestamp,
}

impl PayloadInput {
    /// The index of the event type in a domain's cycle of `cycle` types; `None` for the
    /// creation event.
    fn step(&self, cycle: u64) -> Option<u64> {
        self.s.checked_sub(1).map(|step| step % cycle)
    }

    /// The task an agent event refers to.
    fn task_ref(&self) -> String {
        format!("task-{}", 400 + self.i % 400)
    }

    /// The duration a completion reports.
    fn duration(&self) -> u64 {
        1000 + self.i % 5000
    }
}

/// An agent's events: spawned, then started, assigned, completed, status changed, failed and
/// stopped in turn.
fn agent_payload(input: PayloadInput) -> (&'static str, String) {
    let step = input.step(6);
    let task_ref = input.task_ref();
    let duration = input.duration();
    let ok = json!({"ok": true});
    let PayloadInput { id, k, at, .. } = input;
    match step {
        None => typed(agent::AgentSpawned {
            agent_id: id,
            role: "coder".into(),
            domain: DOMAINS[(k % 6) as usize].into(),
            capabilities: vec!["coding".into(), "testing".into()],
        }),
        Some(0) => typed(agent::AgentStarted {
            agent_id: id,
            started_at: at,
        }),
        Some(1) => typed(agent::AgentTaskAssigned {
            agent_id: id,
            task_id: task_ref,
            assigned_at: at,
        }),
        Some(2) => typed(agent::AgentTaskCompleted {
            agent_id: id,
            task_id: task_ref,
            result: ok,
            completed_at: at,
            duration,
        }),
        Some(3) => typed(agent::AgentStatusChanged {
            agent_id: id,
            previous_status: "active".into(),
            new_status: "idle".into(),
        }),
        Some(4) => typed(agent::AgentFailed {
            agent_id: id,
            error: "boom".into(),
            stack: None,
            failed_at: at,
        }),
        _ => typed(agent::AgentStopped {
            agent_id: id,
            reason: "done".into(),
            stopped_at: at,
        }),
    }
}

/// A task's events: created, then queued, started, blocked, completed and failed in turn.
fn task_payload(input: PayloadInput) -> (&'static str, String) {
    let step = input.step(5);
    let duration = input.duration();
    let ok = json!({"ok": true});
    let PayloadInput { id, k, s, at, .. } = input;
    match step {
        None => typed(task::TaskCreated {
            task_id: id,
            task_type: "implementation".into(),
            title: format!("Task {k}"),
            description: "generated".into(),
            priority: PRIORITIES[(k % 4) as usize].into(),
            dependencies: Vec::new(),
            created_at: at,
        }),
        Some(0) => typed(task::TaskQueued {
            task_id: id,
            priority: PRIORITIES[(k % 4) as usize].into(),
            queued_at: at,
        }),
        Some(1) => typed(task::TaskStarted {
            task_id: id,
            agent_id: format!("agent-{}", k % 400),
            started_at: at,
        }),
        Some(2) => typed(task::TaskBlocked {
            task_id: id,
            blocked_by: vec![format!("task-{}", 400 + (k + 1) % 400)],
            blocked_at: at,
        }),
        Some(3) => typed(task::TaskCompleted {
            task_id: id,
            result: ok,
            completed_at: at,
            duration,
        }),
        _ => typed(task::TaskFailed {
            task_id: id,
            error: "failed".into(),
            stack: None,
            failed_at: at,
            retry_count: (s % 3) as u32,
        }),
    }
}

/// A memory's events: stored, then retrieved twice, expired and deleted in turn.
fn memory_payload(input: PayloadInput) -> (&'static str, String) {
    let step = input.step(4);
    let PayloadInput { id, k, s, at, .. } = input;
    let namespace = format!("ns-{}", k % 10);
    let key = format!("key-{k}");
    match step {
        None => typed(memory::MemoryStored {
            memory_id: id,
            namespace,
            key,
            memory_type: "semantic".into(),
            size: 256 + k % 4096,
            stored_at: at,
        }),
        Some(0 | 1) => typed(memory::MemoryRetrieved {
            memory_id: id,
            namespace,
            key,
            retrieved_at: at,
            access_count: s,
        }),
        Some(2) => typed(memory::MemoryExpired {
            memory_id: id,
            namespace,
            key,
            expired_at: at,
            expires_at: at,
        }),
        _ => typed(memory::MemoryDeleted {
            memory_id: id,
            namespace,
            key,
            deleted_at: at,
        }),
    }
}

/// A swarm's events: initialized, then scaled, phase changed, milestone reached, error and
/// terminated in turn.
fn swarm_payload(input: PayloadInput) -> (&'static str, String) {
    let step = input.step(5);
    let PayloadInput { k, s, at, .. } = input;
    match step {
        None => typed(swarm::SwarmInitialized {
            topology: "hierarchical-mesh".into(),
            max_agents: 15,
            config: json!({"k": k}),
            initialized_at: at,
        }),
        Some(0) => typed(swarm::SwarmScaled {
            previous_agent_count: s as u32,
            new_agent_count: s as u32 + 1,
            scaled_at: at,
            reason: "load".into(),
        }),
        Some(1) => typed(swarm::SwarmPhaseChanged {
            previous_phase: "p1".into(),
            new_phase: "p2".into(),
            changed_at: at,
        }),
        Some(2) => typed(swarm::SwarmMilestoneReached {
            milestone_id: format!("m-{s}"),
            name: "milestone".into(),
            reached_at: at,
        }),
        Some(3) => typed(swarm::SwarmError {
            error: "err".into(),
            stack: None,
            context: json!({"s": s}),
            error_at: at,
        }),
        _ => typed(swarm::SwarmTerminated {
            reason: "shutdown".into(),
            terminated_at: at,
            metrics: json!({"s": s}),
        }),
    }
}

/// Appends `"note":"nnn…"` as the last key so the payload is exactly `target` bytes (or as
/// short as it gets, if the base is already longer).
fn pad(base: String, target: usize) -> String {
    const NOTE_KEY: &str = ",\"note\":\"";
    // Every base payload is a non-empty object, so it ends in `}` and the note follows a comma.
    let open = base.len() - 1;
    let empty_len = open + NOTE_KEY.len() + 2;
    let note_len = target.saturating_sub(empty_len);
    let mut padded = String::with_capacity(empty_len + note_len);
    padded.push_str(&base[..open]);
    padded.push_str(NOTE_KEY);
    padded.extend(std::iter::repeat_n('n', note_len));
    padded.push_str("\"}");
    padded
}

impl Wl1Event {
    /// The stream id.
    pub fn stream(&self) -> StreamId {
        valid(StreamId::new(self.aggregate_id.clone()))
    }

    /// The payload as a JSON value.
    pub fn payload(&self) -> Value {
        match serde_json::from_str(&self.payload_json) {
            Ok(value) => value,
            Err(error) => panic!("generated payload JSON parses: {error}"),
        }
    }

    /// The envelope line of the workload's NDJSON (without the newline): keys in the order the
    /// workload defines, version 0 because the store assigns versions.
    pub fn ndjson_line(&self) -> String {
        format!(
            "{{\"id\":\"evt-{}\",\"type\":\"{}\",\"aggregateId\":\"{}\",\"aggregateType\":\"{}\",\
             \"version\":0,\"timestamp\":{},\"source\":\"swarm\",\"payload\":{}}}",
            self.index,
            self.event_type,
            self.aggregate_id,
            self.aggregate_type,
            self.timestamp,
            self.payload_json
        )
    }

    /// The event to append, with id `evt-{i}`, the workload's timestamp and source `swarm`.
    pub fn to_new_event(&self) -> NewEvent {
        NewEvent::new(valid(EventType::new(self.event_type)), self.payload())
            .with_id(valid(EventId::new(format!("evt-{}", self.index))))
            .with_aggregate_type(valid(AggregateType::new(self.aggregate_type)))
            .with_timestamp(self.timestamp)
            .with_source("swarm")
    }
}

/// Generated names are short ASCII, always valid.
fn valid<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("generated workload names are valid: {error}"),
    }
}

/// Appends domain events `0..n` to `store` one at a time, in index order, as the seed baseline
/// did. Each event `i` lands at version `i / 1000 + 1` of its stream.
pub async fn append_domain_events(store: &dyn Store, n: u64) -> Result<(), AppendError> {
    for event in domain_events(n) {
        store
            .append(
                &event.stream(),
                ExpectedVersion::Any,
                vec![event.to_new_event()],
            )
            .await?;
    }
    Ok(())
}

/// Run event `i` of the workload.
pub fn run_event(i: u64) -> RunEvent {
    let k = aggregate_index(i);
    let tools: &[&str] = match i % 3 {
        0 => &["Read"],
        1 => &["Read", "Edit"],
        _ => &["Read", "Edit", "Bash"],
    };
    let violations = if i.is_multiple_of(5) {
        vec![Violation {
            rule_id: format!("R{:03}", i % 50),
            description: "violation".into(),
            severity: Severity::Medium,
            location: None,
            auto_corrected: i.is_multiple_of(10),
        }]
    } else {
        Vec::new()
    };
    RunEvent {
        event_id: format!("run-{i}"),
        task_id: format!("task-{k}"),
        guidance_hash: format!("gh-{}", i % 7),
        retrieved_rule_ids: vec![format!("R{:03}", i % 50), format!("R{:03}", (i + 17) % 50)],
        tools_used: tools.iter().map(|tool| (*tool).to_owned()).collect(),
        files_touched: vec![format!("src/mod{}/file{}.ts", k % 50, i % 20)],
        diff_summary: DiffSummary {
            lines_added: i % 200,
            lines_removed: i % 50,
            files_changed: 1 + i % 5,
        },
        test_results: TestResults {
            ran: !i.is_multiple_of(4),
            passed: i % 30,
            failed: u64::from(i.is_multiple_of(10)),
            skipped: i % 3,
        },
        violations,
        outcome_accepted: (!i.is_multiple_of(3)).then_some(i % 3 == 1),
        rework_lines: i % 25,
        intent: INTENTS[(i % 11) as usize],
        timestamp: timestamp(i),
        duration_ms: 1000 + (13 * i) % 5000,
        session_id: None,
    }
}

/// Run events `0..n`.
pub fn run_events(n: u64) -> impl Iterator<Item = RunEvent> {
    (0..n).map(run_event)
}

/// The NDJSON line of a run event (without the newline).
pub fn run_event_line(event: &RunEvent) -> String {
    to_json_string(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_match_the_workload_page() {
        let first = domain_event(0);
        assert_eq!(first.event_type, "agent:spawned");
        assert_eq!(first.aggregate_id, "agent-0");
        assert!(first.payload_json.contains("\"domain\":\"security\""));
        assert_eq!(first.payload_json.len(), 200);

        let sample = domain_event(4123);
        assert_eq!(sample.event_type, "agent:status-changed");
        assert_eq!(sample.aggregate_id, "agent-37");
        assert_eq!(sample.timestamp, 1_700_000_041_230);
        assert_eq!(sample.payload_json.len(), 393);

        let run = run_event(4123);
        assert_eq!(run.task_id, "task-37");
        assert_eq!(run.tools_used, ["Read", "Edit"]);
        assert_eq!(
            (run.diff_summary.lines_added, run.diff_summary.lines_removed),
            (123, 23)
        );
        assert_eq!(run.diff_summary.files_changed, 4);
        assert_eq!(
            (
                run.test_results.ran,
                run.test_results.passed,
                run.test_results.failed
            ),
            (true, 13, 0)
        );
        assert_eq!(run.test_results.skipped, 1);
        assert!(run.violations.is_empty());
        assert_eq!(run.outcome_accepted, Some(true));
        assert_eq!(run.rework_lines, 23);
        assert_eq!(run.intent, TaskIntent::Debug);
        assert_eq!(run.duration_ms, 4599);
    }

    #[test]
    fn generated_payloads_are_valid_json_of_the_target_size() {
        for i in [0, 1, 999, 1000, 4123, 54_321] {
            let event = domain_event(i);
            assert_eq!(event.payload_json.len(), payload_bytes(i), "event {i}");
            assert!(event.payload()["note"].is_string(), "event {i}");
        }
    }
}
