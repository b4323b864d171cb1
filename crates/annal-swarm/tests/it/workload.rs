//! The wl1 workload: a byte-exact rebuild, and the projections checked against a plain fold.
//!
//! Goal: the generator in `annal_swarm::workload` reproduces docs/workload.md exactly (byte
//! counts and sha256 of both NDJSON files, type counts), and over N = 100,000 events the three
//! projections reach the same figures as an independent fold written here. Method: hash the
//! generated lines; append the events to a MemoryStore, build each projection with the real
//! runner, and compare with a fold over the generated events that re-states the projection rules
//! with plain maps. The N = 100,000 hashes are not checked here: hashing 89 MB in an
//! unoptimized build takes longer than the whole suite should.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use annal_core::{
    ExpectedVersion, MemoryStore, Projection, ProjectionGroup, ProjectionRunner, Store,
};
use annal_swarm::events::DomainEvent;
use annal_swarm::projections::{
    AgentState, AgentStatus, MemoryIndex, MemoryStatus, TaskHistory, TaskStatus,
};
use annal_swarm::workload::{Wl1Event, domain_events, run_event_line, run_events};
use sha2::{Digest, Sha256};

struct Checksums {
    payload_bytes: u64,
    domain_bytes: u64,
    domain_sha: String,
    run_bytes: u64,
    run_sha: String,
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn checksums(n: u64) -> Checksums {
    let (mut payload_bytes, mut domain_bytes, mut run_bytes) = (0u64, 0u64, 0u64);
    let (mut domain, mut runs) = (Sha256::new(), Sha256::new());
    for event in domain_events(n) {
        let line = event.ndjson_line();
        payload_bytes += event.payload_json.len() as u64;
        domain_bytes += line.len() as u64 + 1;
        domain.update(line.as_bytes());
        domain.update(b"\n");
    }
    for event in run_events(n) {
        let line = run_event_line(&event);
        run_bytes += line.len() as u64 + 1;
        runs.update(line.as_bytes());
        runs.update(b"\n");
    }
    Checksums {
        payload_bytes,
        domain_bytes,
        domain_sha: hex(&domain.finalize()),
        run_bytes,
        run_sha: hex(&runs.finalize()),
    }
}

#[track_caller]
fn check(n: u64, expected: (u64, u64, &str, u64, &str)) {
    let got = checksums(n);
    assert_eq!(got.payload_bytes, expected.0, "payload bytes at N={n}");
    assert_eq!(got.domain_bytes, expected.1, "domain NDJSON bytes at N={n}");
    assert_eq!(got.domain_sha, expected.2, "domain NDJSON sha256 at N={n}");
    assert_eq!(got.run_bytes, expected.3, "RunEvent NDJSON bytes at N={n}");
    assert_eq!(got.run_sha, expected.4, "RunEvent NDJSON sha256 at N={n}");
}

#[test]
fn wl1_matches_the_published_checksums_at_1000_and_10000() {
    check(
        1_000,
        (
            300_050,
            454_680,
            "f5936c23a55eb481460b66f539523c06ee717842d8e008950600f4fb1534167d",
            430_885,
            "6857d47c2acef610140c1a64182225e6c6d02506b35a6556692bba6aaf226f4c",
        ),
    );
    check(
        10_000,
        (
            2_999_915,
            4_571_905,
            "1cf9ebe876fd061403b1aafb4df443deb344e073ee73c3d8e5f523ec06101752",
            4_318_957,
            "b22571eb4e59f84629e5dfb20c877d9364da45370e265b0ebf8d9f5f560c1e55",
        ),
    );
}

// The largest size the benchmarks run; sha2 is built optimized even in test profiles (see the
// workspace Cargo.toml), so hashing ~89 MB takes well under a second.
#[test]
fn wl1_matches_the_published_checksums_at_100000() {
    check(
        100_000,
        (
            29_999_945,
            45_815_935,
            "f135a6c7388544f4e72f69eebd0c976b9aca1226df62d29dfc8795139406d59c",
            43_289_695,
            "6a6198a728d92418f7713d5f58eaf164f7209bb5a0e83ccb7e695243255b8b35",
        ),
    );
}

#[test]
fn wl1_type_counts_at_10000() {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for event in domain_events(10_000) {
        *counts.entry(event.event_type).or_default() += 1;
    }
    let expected = [
        ("agent:spawned", 400),
        ("agent:started", 800),
        ("agent:task-assigned", 800),
        ("agent:task-completed", 800),
        ("agent:status-changed", 400),
        ("agent:failed", 400),
        ("agent:stopped", 400),
        ("task:created", 400),
        ("task:queued", 800),
        ("task:started", 800),
        ("task:blocked", 800),
        ("task:completed", 800),
        ("task:failed", 400),
        ("memory:stored", 150),
        ("memory:retrieved", 750),
        ("memory:expired", 300),
        ("memory:deleted", 300),
        ("swarm:initialized", 50),
        ("swarm:scaled", 100),
        ("swarm:phase-changed", 100),
        ("swarm:milestone-reached", 100),
        ("swarm:error", 100),
        ("swarm:terminated", 50),
    ];
    assert_eq!(counts, expected.into_iter().collect::<BTreeMap<_, _>>());
}

// ---- the independent fold ----

#[derive(Default)]
struct FoldAgent {
    status: &'static str,
    current: Option<String>,
    completed: u64,
    failed: u64,
    duration: u64,
    errors: u64,
}

#[derive(Default)]
struct FoldTask {
    status: &'static str,
    priority: String,
    agent: Option<String>,
    duration: Option<u64>,
}

#[derive(Default)]
struct FoldMemory {
    status: &'static str,
    namespace: String,
    size: u64,
    accesses: u64,
}

#[derive(Default)]
struct Fold {
    agents: HashMap<String, FoldAgent>,
    assignments: HashMap<String, String>,
    tasks: HashMap<String, FoldTask>,
    memories: HashMap<String, FoldMemory>,
}

impl Fold {
    fn apply(&mut self, event: DomainEvent) {
        match event {
            DomainEvent::AgentSpawned(e) => {
                self.agents.entry(e.agent_id).or_default().status = "idle";
            }
            DomainEvent::AgentStarted(e) => self.agent(&e.agent_id).status = "active",
            DomainEvent::AgentStopped(e) => self.agent(&e.agent_id).status = "completed",
            DomainEvent::AgentStatusChanged(e) => {
                self.agent(&e.agent_id).status = if e.new_status == "idle" { "idle" } else { "?" };
            }
            DomainEvent::AgentFailed(e) => {
                let agent = self.agents.get_mut(&e.agent_id).unwrap();
                agent.status = "error";
                agent.errors += 1;
                if let Some(task) = agent.current.take() {
                    agent.failed += 1;
                    self.assignments.remove(&task);
                }
            }
            DomainEvent::AgentTaskAssigned(e) => {
                let agent = self.agents.get_mut(&e.agent_id).unwrap();
                agent.status = "active";
                agent.current = Some(e.task_id.clone());
                self.assignments.insert(e.task_id, e.agent_id);
            }
            DomainEvent::AgentTaskCompleted(e) => {
                self.assignments.remove(&e.task_id);
                let agent = self.agents.get_mut(&e.agent_id).unwrap();
                agent.completed += 1;
                agent.duration += e.duration;
                if agent.current.as_ref() == Some(&e.task_id) {
                    agent.current = None;
                }
                if agent.current.is_none() {
                    agent.status = "idle";
                }
            }
            DomainEvent::TaskCreated(e) => {
                let task = self.tasks.entry(e.task_id).or_default();
                task.status = "pending";
                task.priority = e.priority;
            }
            DomainEvent::TaskQueued(e) => self.tasks.get_mut(&e.task_id).unwrap().status = "queued",
            DomainEvent::TaskStarted(e) => {
                if self.agents.contains_key(&e.agent_id) {
                    self.assignments
                        .insert(e.task_id.clone(), e.agent_id.clone());
                }
                let task = self.tasks.get_mut(&e.task_id).unwrap();
                task.status = "in-progress";
                task.agent = Some(e.agent_id);
            }
            DomainEvent::TaskBlocked(e) => {
                self.tasks.get_mut(&e.task_id).unwrap().status = "blocked";
            }
            DomainEvent::TaskCompleted(e) => {
                // The assignment ends with the task.
                self.assignments.remove(&e.task_id);
                let task = self.tasks.get_mut(&e.task_id).unwrap();
                task.status = "completed";
                task.duration = Some(e.duration);
            }
            DomainEvent::TaskFailed(e) => {
                self.tasks.get_mut(&e.task_id).unwrap().status = "failed";
                if let Some(agent_id) = self.assignments.remove(&e.task_id) {
                    let agent = self.agents.get_mut(&agent_id).unwrap();
                    if agent.current.as_ref() == Some(&e.task_id) {
                        agent.current = None;
                    }
                    agent.failed += 1;
                }
            }
            DomainEvent::MemoryStored(e) => {
                let memory = self.memories.entry(e.memory_id).or_default();
                memory.status = "active";
                memory.namespace = e.namespace;
                memory.size = e.size;
            }
            DomainEvent::MemoryRetrieved(e) => {
                let memory = self.memories.get_mut(&e.memory_id).unwrap();
                if memory.status == "active" {
                    memory.accesses += 1;
                }
            }
            DomainEvent::MemoryDeleted(e) => {
                self.memories.get_mut(&e.memory_id).unwrap().status = "deleted";
            }
            DomainEvent::MemoryExpired(e) => {
                self.memories.get_mut(&e.memory_id).unwrap().status = "expired";
            }
            _ => {}
        }
    }

    fn agent(&mut self, id: &str) -> &mut FoldAgent {
        self.agents.get_mut(id).unwrap()
    }
}

async fn build<P: Projection + Clone>(store: &Arc<dyn Store>) -> P {
    let mut runner = ProjectionRunner::<P>::load(Arc::clone(store))
        .await
        .unwrap();
    runner.catch_up().await.unwrap();
    runner.state().clone()
}

/// The three projections caught up together in one read, each checked against its own
/// catch-up: a group must leave every member exactly as a lone runner would.
async fn build_together(store: &Arc<dyn Store>) -> (AgentState, TaskHistory, MemoryIndex) {
    let mut agents = ProjectionRunner::<AgentState>::load(Arc::clone(store))
        .await
        .unwrap();
    let mut tasks = ProjectionRunner::<TaskHistory>::load(Arc::clone(store))
        .await
        .unwrap();
    let mut memories = ProjectionRunner::<MemoryIndex>::load(Arc::clone(store))
        .await
        .unwrap();
    let read = ProjectionGroup::new()
        .with(&mut agents)
        .with(&mut tasks)
        .with(&mut memories)
        .catch_up()
        .await
        .unwrap();
    assert_eq!(read, store.head().await.unwrap().0);
    let together = (
        agents.state().clone(),
        tasks.state().clone(),
        memories.state().clone(),
    );
    fn json<T: serde::Serialize>(state: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(state)
    }
    assert_eq!(
        json(&together.0).unwrap(),
        json(&build::<AgentState>(store).await).unwrap()
    );
    assert_eq!(
        json(&together.1).unwrap(),
        json(&build::<TaskHistory>(store).await).unwrap()
    );
    assert_eq!(
        json(&together.2).unwrap(),
        json(&build::<MemoryIndex>(store).await).unwrap()
    );
    together
}

#[tokio::test]
async fn projections_over_100000_wl1_events_match_a_plain_fold() {
    const N: u64 = 100_000;
    let events: Vec<Wl1Event> = domain_events(N).collect();
    let mut fold = Fold::default();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    for event in &events {
        let new_event = event.to_new_event();
        fold.apply(DomainEvent::decode_payload(event.event_type, &new_event.payload).unwrap());
        store
            .append(&event.stream(), ExpectedVersion::Any, vec![new_event])
            .await
            .unwrap();
    }
    assert_eq!(store.head().await.unwrap().0, N);

    let (agents, tasks, memories) = build_together(&store).await;
    assert_eq!(agents.len(), 400);
    assert_eq!(agents.ignored_events(), 0);
    for status in AgentStatus::ALL {
        let expected = fold
            .agents
            .values()
            .filter(|a| a.status == status.as_str())
            .count();
        assert_eq!(
            agents.count_by_status(status),
            expected,
            "agents {status:?}"
        );
    }
    let sum = |f: fn(&FoldAgent) -> u64| fold.agents.values().map(f).sum::<u64>();
    let completed: usize = agents.all().map(|a| a.completed_count()).sum();
    let failed: usize = agents.all().map(|a| a.failed_count()).sum();
    assert_eq!(completed as u64, sum(|a| a.completed));
    assert_eq!(
        completed, 6_800,
        "agent:task-completed events at N = 100,000"
    );
    assert_eq!(failed as u64, sum(|a| a.failed));
    assert!(failed > 0, "the workload fails tasks that agents hold");
    assert_eq!(
        agents.all().map(|a| a.error_count).sum::<u64>(),
        sum(|a| a.errors)
    );
    assert_eq!(
        agents.all().map(|a| a.total_task_duration_ms).sum::<u64>(),
        sum(|a| a.duration)
    );
    for agent in agents.all() {
        let expected = &fold.agents[&agent.id];
        assert_eq!(agent.current_task, expected.current, "{}", agent.id);
        assert_eq!(agent.failed_count() as u64, expected.failed, "{}", agent.id);
    }

    assert_eq!(tasks.len(), 400);
    assert_eq!(tasks.ignored_events(), 0);
    let statuses = [
        (TaskStatus::Pending, "pending"),
        (TaskStatus::Queued, "queued"),
        (TaskStatus::InProgress, "in-progress"),
        (TaskStatus::Blocked, "blocked"),
        (TaskStatus::Completed, "completed"),
        (TaskStatus::Failed, "failed"),
    ];
    for (status, name) in statuses {
        let expected = fold.tasks.values().filter(|t| t.status == name).count();
        assert_eq!(tasks.count_by_status(status), expected, "tasks {name}");
    }
    let durations: Vec<u64> = fold
        .tasks
        .values()
        .filter(|t| t.status == "completed")
        .filter_map(|t| t.duration)
        .collect();
    let expected_average = (!durations.is_empty())
        .then(|| durations.iter().sum::<u64>() as f64 / durations.len() as f64);
    assert_eq!(tasks.average_duration_ms(), expected_average);
    for priority in ["critical", "high", "medium", "low"] {
        let expected = fold
            .tasks
            .values()
            .filter(|t| t.priority == priority)
            .count();
        assert_eq!(
            tasks.by_priority(priority).len(),
            expected,
            "priority {priority}"
        );
    }
    let agent_7 = fold
        .tasks
        .values()
        .filter(|t| t.agent.as_deref() == Some("agent-7"))
        .count();
    assert_eq!(tasks.by_agent("agent-7").len(), agent_7);

    assert_eq!(memories.all().len(), 150);
    assert_eq!(memories.ignored_events() as usize, {
        // Retrievals of removed entries are ignored by both; count them from the fold's view.
        let retrievals = events
            .iter()
            .filter(|e| e.event_type == "memory:retrieved")
            .count();
        let counted: u64 = fold.memories.values().map(|m| m.accesses).sum();
        retrievals - counted as usize
    });
    for (status, name) in [
        (MemoryStatus::Active, "active"),
        (MemoryStatus::Deleted, "deleted"),
        (MemoryStatus::Expired, "expired"),
    ] {
        let expected = fold.memories.values().filter(|m| m.status == name).count();
        assert_eq!(
            memories.count_by_status(status),
            expected,
            "memories {name}"
        );
    }
    let mut sizes: BTreeMap<&str, u64> = BTreeMap::new();
    for memory in fold.memories.values().filter(|m| m.status == "active") {
        *sizes.entry(memory.namespace.as_str()).or_default() += memory.size;
    }
    assert_eq!(memories.total_size_by_namespace(), sizes);
    let accesses: u64 = memories.all().map(|m| m.access_count).sum();
    assert_eq!(
        accesses,
        fold.memories.values().map(|m| m.accesses).sum::<u64>()
    );
    let top = memories.most_accessed(5);
    let most = fold
        .memories
        .values()
        .filter(|m| m.status == "active")
        .map(|m| m.accesses)
        .max();
    assert_eq!(top.first().map(|m| m.access_count), most);
}
