//! AgentState projection: given events, when more happen, then the queries answer.
//!
//! Goal: cover every query (get, all, by status, by domain, active count, completed and failed
//! tasks, average duration, last activity, health) and the seed's defects (failedTasks never
//! filled, a re-spawn wiping history, unknown statuses stored as given). Method: seed cases are
//! ported one for one (named `seed_*`); the rest are annal's own.

use annal_swarm::events::{agent, task};
use annal_swarm::projections::{AgentHealth, AgentState, AgentStatus};
use serde_json::json;

use crate::support::{given, id, t};

#[tokio::test]
async fn seed_spawned_then_started_is_an_active_coder() {
    let a1 = id("agent-1");
    let agents: AgentState = given(vec![agent::spawned(&a1, "coder", "core", vec![], t(0))])
        .await
        .when(vec![agent::started(&a1, t(10))])
        .await
        .then()
        .await;
    let agent = agents.get("agent-1").unwrap();
    assert_eq!(agent.role, "coder");
    assert_eq!(agent.status, AgentStatus::Active);
    assert_eq!(agent.started_at, Some(t(10)));
    assert_eq!(agent.last_activity_at, t(10));
}

#[tokio::test]
async fn seed_task_assigned_sets_the_current_task() {
    let a1 = id("agent-1");
    let agents: AgentState = given(vec![agent::spawned(&a1, "coder", "core", vec![], t(0))])
        .await
        .when(vec![agent::task_assigned(&a1, &id("task-1"), t(5))])
        .await
        .then()
        .await;
    let agent = agents.get("agent-1").unwrap();
    assert_eq!(agent.current_task.as_deref(), Some("task-1"));
    assert_eq!(agent.status, AgentStatus::Active);
}

#[tokio::test]
async fn seed_task_completed_is_recorded_and_counted() {
    let (a1, t1) = (id("agent-1"), id("task-1"));
    let agents: AgentState = given(vec![
        agent::spawned(&a1, "coder", "core", vec![], t(0)),
        agent::task_assigned(&a1, &t1, t(1)),
    ])
    .await
    .when(vec![agent::task_completed(
        &a1,
        &t1,
        json!({"ok": true}),
        500,
        t(2),
    )])
    .await
    .then()
    .await;
    let agent = agents.get("agent-1").unwrap();
    assert_eq!(agent.completed_tasks, ["task-1"]);
    assert_eq!(agent.completed_count(), 1);
    assert_eq!(agent.current_task, None);
    assert_eq!(agent.status, AgentStatus::Idle);
    assert_eq!(agent.average_task_duration_ms(), Some(500.0));
}

#[tokio::test]
async fn seed_two_spawned_one_started_gives_one_active_one_idle() {
    let (a1, a2) = (id("agent-1"), id("agent-2"));
    let agents: AgentState = given(vec![
        agent::spawned(&a1, "coder", "core", vec![], t(0)),
        agent::spawned(&a2, "tester", "quality", vec![], t(1)),
    ])
    .await
    .when(vec![agent::started(&a1, t(2))])
    .await
    .then()
    .await;
    assert_eq!(agents.active_count(), 1);
    assert_eq!(agents.by_status(AgentStatus::Idle).len(), 1);
    assert_eq!(agents.by_status(AgentStatus::Idle)[0].id, "agent-2");
    let ids: Vec<&str> = agents.all().map(|agent| agent.id.as_str()).collect();
    assert_eq!(ids, ["agent-1", "agent-2"], "spawn order");
}

#[tokio::test]
async fn queries_by_domain_and_status_follow_every_transition() {
    let (a1, a2, a3) = (id("agent-1"), id("agent-2"), id("agent-3"));
    let agents: AgentState = given(vec![
        agent::spawned(&a1, "coder", "security", vec!["audit".into()], t(0)),
        agent::spawned(&a2, "coder", "core", vec![], t(1)),
        agent::spawned(&a3, "coder", "security", vec![], t(2)),
    ])
    .await
    .when(vec![
        agent::started(&a1, t(3)),
        agent::status_changed(&a2, "idle", "blocked", t(4)),
        agent::stopped(&a3, "done", t(5)),
    ])
    .await
    .then()
    .await;
    let security: Vec<&str> = agents
        .by_domain("security")
        .iter()
        .map(|agent| agent.id.as_str())
        .collect();
    assert_eq!(security, ["agent-1", "agent-3"]);
    assert_eq!(agents.by_domain("core").len(), 1);
    assert!(agents.by_domain("deployment").is_empty());
    assert_eq!(agents.by_status(AgentStatus::Blocked)[0].id, "agent-2");
    assert_eq!(agents.by_status(AgentStatus::Completed)[0].id, "agent-3");
    assert_eq!(agents.get("agent-3").unwrap().stopped_at, Some(t(5)));
    assert_eq!(agents.get("agent-1").unwrap().capabilities, ["audit"]);
    let total: usize = AgentStatus::ALL
        .iter()
        .map(|s| agents.count_by_status(*s))
        .sum();
    assert_eq!(total, 3, "every agent is in exactly one status index");
}

#[tokio::test]
async fn agent_failed_moves_the_current_task_to_failed_tasks() {
    // Seed defect: failedTasks was never filled and agent:failed kept the current task.
    let (a1, t1) = (id("agent-1"), id("task-1"));
    let agents: AgentState = given(vec![
        agent::spawned(&a1, "coder", "core", vec![], t(0)),
        agent::task_assigned(&a1, &t1, t(1)),
    ])
    .await
    .when(vec![agent::failed(&a1, "boom", None, t(2))])
    .await
    .then()
    .await;
    let agent = agents.get("agent-1").unwrap();
    assert_eq!(agent.failed_tasks, ["task-1"]);
    assert_eq!(agent.current_task, None);
    assert_eq!(agent.error_count, 1);
    assert_eq!(agent.status, AgentStatus::Error);
    assert_eq!(agent.health(), AgentHealth::Failing);
}

#[tokio::test]
async fn task_failed_is_charged_to_the_agent_that_started_it_once() {
    let (a1, t1, t2) = (id("agent-1"), id("task-1"), id("task-2"));
    let agents: AgentState = given(vec![
        agent::spawned(&a1, "coder", "core", vec![], t(0)),
        task::created(&t1, "impl", "One", "", "high", vec![], t(1)),
        task::created(&t2, "impl", "Two", "", "low", vec![], t(2)),
        task::started(&t1, &a1, t(3)),
        agent::task_assigned(&a1, &t2, t(4)),
    ])
    .await
    .when(vec![
        task::failed(&t1, "oops", None, 0, t(5)),
        // Both sides report the failure of task-2; it counts once.
        agent::failed(&a1, "boom", None, t(6)),
        task::failed(&t2, "oops", None, 0, t(7)),
        agent::started(&a1, t(8)),
    ])
    .await
    .then()
    .await;
    let agent = agents.get("agent-1").unwrap();
    assert_eq!(agent.failed_tasks, ["task-1", "task-2"]);
    assert_eq!(agent.failed_count(), 2);
    assert_eq!(agent.status, AgentStatus::Active);
    assert_eq!(agent.health(), AgentHealth::Degraded);
}

#[tokio::test]
async fn a_completed_task_ends_its_assignment() {
    let (a1, t1) = (id("agent-1"), id("task-1"));
    let agents: AgentState = given(vec![
        agent::spawned(&a1, "coder", "core", vec![], t(0)),
        task::created(&t1, "impl", "One", "", "high", vec![], t(1)),
        task::started(&t1, &a1, t(2)),
    ])
    .await
    .when(vec![
        task::completed(&t1, json!({"ok": true}), 10, t(3)),
        // A late failure report for a finished task is no failure of the agent.
        task::failed(&t1, "late", None, 0, t(4)),
    ])
    .await
    .then()
    .await;
    let agent = agents.get("agent-1").unwrap();
    assert!(agent.failed_tasks.is_empty(), "{:?}", agent.failed_tasks);
    let saved = serde_json::to_value(&agents).unwrap();
    assert_eq!(saved["assignments"], json!({}), "nothing stays assigned");
}

#[tokio::test]
async fn average_duration_counts_zero_durations() {
    let (a1, t1, t2) = (id("agent-1"), id("task-1"), id("task-2"));
    let agents: AgentState = given(vec![agent::spawned(&a1, "coder", "core", vec![], t(0))])
        .await
        .when(vec![
            agent::task_completed(&a1, &t1, json!(null), 0, t(1)),
            agent::task_completed(&a1, &t2, json!(null), 3000, t(2)),
        ])
        .await
        .then()
        .await;
    assert_eq!(
        agents.get("agent-1").unwrap().average_task_duration_ms(),
        Some(1500.0)
    );
    assert_eq!(agents.average_task_duration_ms(), Some(1500.0));
    assert_eq!(
        agents.get("agent-1").unwrap().health(),
        AgentHealth::Healthy
    );
}

#[tokio::test]
async fn a_second_spawn_updates_the_description_and_keeps_the_history() {
    // Seed defect: a repeated agent:spawned silently reset every counter.
    let (a1, t1) = (id("agent-1"), id("task-1"));
    let agents: AgentState = given(vec![
        agent::spawned(&a1, "coder", "core", vec![], t(0)),
        agent::task_completed(&a1, &t1, json!(null), 100, t(1)),
    ])
    .await
    .when(vec![agent::spawned(
        &a1,
        "reviewer",
        "quality",
        vec!["review".into()],
        t(2),
    )])
    .await
    .then()
    .await;
    let agent = agents.get("agent-1").unwrap();
    assert_eq!(
        (agent.role.as_str(), agent.domain.as_str()),
        ("reviewer", "quality")
    );
    assert_eq!(agent.completed_count(), 1);
    assert_eq!(agent.spawned_at, t(0));
    assert!(agents.by_domain("core").is_empty());
    assert_eq!(agents.by_domain("quality").len(), 1);
    assert_eq!(agents.len(), 1);
}

#[tokio::test]
async fn events_for_unknown_agents_and_unknown_statuses_are_counted_not_applied() {
    let (a1, ghost) = (id("agent-1"), id("agent-ghost"));
    let agents: AgentState = given(vec![agent::spawned(&a1, "coder", "core", vec![], t(0))])
        .await
        .when(vec![
            agent::started(&ghost, t(1)),
            agent::status_changed(&a1, "idle", "dancing", t(2)),
        ])
        .await
        .then()
        .await;
    assert_eq!(agents.ignored_events(), 2);
    assert!(agents.get("agent-ghost").is_none());
    assert_eq!(agents.get("agent-1").unwrap().status, AgentStatus::Idle);
}
