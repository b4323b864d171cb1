//! TaskHistory projection: given events, when more happen, then the queries answer.
//!
//! Goal: cover every query (get, all, by status, by agent, by priority, average duration,
//! success and failure rates, blocked tasks with their blockers, unmet dependencies) and the
//! seed's defects (a 0 duration read as missing, no rates, no priority query). Method: seed
//! cases are ported one for one (named `seed_*`); the rest are annal's own.

use annal_swarm::events::task;
use annal_swarm::projections::{TaskHistory, TaskStatus};
use serde_json::json;

use crate::support::{given, id, t};

#[tokio::test]
async fn seed_created_started_completed_has_title_status_and_agent() {
    let t1 = id("task-1");
    let tasks: TaskHistory = given(vec![task::created(
        &t1,
        "implementation",
        "Build it",
        "desc",
        "high",
        vec![],
        t(0),
    )])
    .await
    .when(vec![
        task::started(&t1, &id("agent-1"), t(10)),
        task::completed(&t1, json!({"ok": true}), 990, t(1000)),
    ])
    .await
    .then()
    .await;
    let entry = tasks.get("task-1").unwrap();
    assert_eq!(entry.title, "Build it");
    assert_eq!(entry.status, TaskStatus::Completed);
    assert_eq!(entry.assigned_agent.as_deref(), Some("agent-1"));
    assert_eq!(entry.started_at, Some(t(10)));
    assert_eq!(entry.completed_at, Some(t(1000)));
    assert_eq!(entry.duration_ms, Some(990));
    assert_eq!(entry.result, Some(json!({"ok": true})));
}

#[tokio::test]
async fn seed_average_of_5000_and_3000_is_4000() {
    let (t1, t2) = (id("task-1"), id("task-2"));
    let tasks: TaskHistory = given(vec![
        task::created(&t1, "impl", "One", "", "high", vec![], t(0)),
        task::created(&t2, "impl", "Two", "", "high", vec![], t(1)),
    ])
    .await
    .when(vec![
        task::completed(&t1, json!(null), 5000, t(2)),
        task::completed(&t2, json!(null), 3000, t(3)),
    ])
    .await
    .then()
    .await;
    assert_eq!(tasks.average_duration_ms(), Some(4000.0));
    assert_eq!(tasks.completed_count(), 2);
}

#[tokio::test]
async fn a_zero_duration_is_a_duration() {
    // Seed defect: `duration || fallback` treated 0 as missing.
    let (t1, t2) = (id("task-1"), id("task-2"));
    let tasks: TaskHistory = given(vec![
        task::created(&t1, "impl", "One", "", "high", vec![], t(0)),
        task::created(&t2, "impl", "Two", "", "high", vec![], t(1)),
    ])
    .await
    .when(vec![
        task::completed(&t1, json!(null), 0, t(2)),
        task::completed(&t2, json!(null), 1000, t(3)),
    ])
    .await
    .then()
    .await;
    assert_eq!(tasks.get("task-1").unwrap().duration_ms, Some(0));
    assert_eq!(tasks.average_duration_ms(), Some(500.0));
}

#[tokio::test]
async fn nothing_finished_means_no_average_and_no_rates() {
    let tasks: TaskHistory = given(vec![task::created(
        &id("task-1"),
        "impl",
        "One",
        "",
        "low",
        vec![],
        t(0),
    )])
    .await
    .then()
    .await;
    // The seed answered 0, which reads like a measurement.
    assert_eq!(tasks.average_duration_ms(), None);
    assert_eq!(tasks.success_rate(), None);
    assert_eq!(tasks.failure_rate(), None);
    assert_eq!(tasks.get("task-1").unwrap().status, TaskStatus::Pending);
}

#[tokio::test]
async fn failures_are_recorded_and_rates_follow() {
    let (t1, t2, t3, t4) = (id("task-1"), id("task-2"), id("task-3"), id("task-4"));
    let tasks: TaskHistory = given(vec![
        task::created(&t1, "impl", "One", "", "high", vec![], t(0)),
        task::created(&t2, "impl", "Two", "", "high", vec![], t(1)),
        task::created(&t3, "impl", "Three", "", "low", vec![], t(2)),
        task::created(&t4, "impl", "Four", "", "low", vec![], t(3)),
    ])
    .await
    .when(vec![
        task::completed(&t1, json!(null), 10, t(4)),
        task::completed(&t2, json!(null), 10, t(5)),
        task::completed(&t3, json!(null), 10, t(6)),
        task::failed(&t4, "first", None, 0, t(7)),
        task::failed(&t4, "second", Some("stack".into()), 1, t(8)),
    ])
    .await
    .then()
    .await;
    let failed = tasks.get("task-4").unwrap();
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("second"));
    assert_eq!(failed.retry_count, 1);
    assert_eq!(failed.failure_count, 2);
    assert_eq!(failed.failed_at, Some(t(8)));
    assert_eq!(tasks.failed_count(), 1);
    assert_eq!(tasks.success_rate(), Some(0.75));
    assert_eq!(tasks.failure_rate(), Some(0.25));
}

#[tokio::test]
async fn queries_by_status_agent_and_priority() {
    let (t1, t2, t3) = (id("task-1"), id("task-2"), id("task-3"));
    let (a1, a2) = (id("agent-1"), id("agent-2"));
    let tasks: TaskHistory = given(vec![
        task::created(&t1, "impl", "One", "", "critical", vec![], t(0)),
        task::created(&t2, "impl", "Two", "", "low", vec![], t(1)),
        task::created(&t3, "impl", "Three", "", "critical", vec![], t(2)),
    ])
    .await
    .when(vec![
        task::queued(&t2, "low", t(3)),
        task::started(&t1, &a1, t(4)),
        task::started(&t3, &a2, t(5)),
        // Re-started by another agent: the agent index follows.
        task::started(&t3, &a1, t(6)),
    ])
    .await
    .then()
    .await;
    let names = |list: Vec<&annal_swarm::projections::Task>| {
        list.iter().map(|task| task.id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(tasks.by_status(TaskStatus::InProgress)),
        ["task-1", "task-3"]
    );
    assert_eq!(names(tasks.by_status(TaskStatus::Queued)), ["task-2"]);
    assert_eq!(tasks.get("task-2").unwrap().queued_at, Some(t(3)));
    assert_eq!(names(tasks.by_agent("agent-1")), ["task-1", "task-3"]);
    assert!(tasks.by_agent("agent-2").is_empty());
    assert_eq!(names(tasks.by_priority("critical")), ["task-1", "task-3"]);
    assert_eq!(names(tasks.by_priority("low")), ["task-2"]);
    assert_eq!(tasks.all().len(), 3);
}

#[tokio::test]
async fn blocked_tasks_name_their_blockers_and_unmet_dependencies() {
    let (t1, t2, t3) = (id("task-1"), id("task-2"), id("task-3"));
    let deps = vec!["task-1".to_owned(), "task-2".to_owned()];
    let tasks: TaskHistory = given(vec![
        task::created(&t1, "impl", "One", "", "high", vec![], t(0)),
        task::created(&t2, "impl", "Two", "", "high", vec![], t(1)),
        task::created(&t3, "impl", "Three", "", "high", deps, t(2)),
    ])
    .await
    .when(vec![
        task::completed(&t1, json!(null), 1, t(3)),
        task::blocked(&t3, vec!["task-2".into()], t(4)),
    ])
    .await
    .then()
    .await;
    let blocked = tasks.blocked();
    assert_eq!(blocked.len(), 1);
    assert_eq!(blocked[0].task.id, "task-3");
    assert_eq!(blocked[0].blocked_by, ["task-2"]);
    assert_eq!(blocked[0].unmet_dependencies, ["task-2"]);
    assert_eq!(
        tasks.get("task-3").unwrap().dependencies,
        ["task-1", "task-2"]
    );
}

#[tokio::test]
async fn a_task_that_moves_on_is_no_longer_blocked() {
    let (t1, t2) = (id("task-1"), id("task-2"));
    let tasks: TaskHistory = given(vec![
        task::created(&t1, "impl", "One", "", "high", vec![], t(0)),
        task::created(&t2, "impl", "Two", "", "high", vec![], t(1)),
        task::blocked(&t2, vec!["task-1".into()], t(2)),
    ])
    .await
    .when(vec![task::started(&t2, &id("agent-1"), t(3))])
    .await
    .then()
    .await;
    assert!(tasks.blocked().is_empty());
    assert!(tasks.get("task-2").unwrap().blocked_by.is_empty());
}

#[tokio::test]
async fn a_second_create_keeps_the_history_and_events_for_unknown_tasks_are_counted() {
    let t1 = id("task-1");
    let tasks: TaskHistory = given(vec![
        task::created(&t1, "impl", "One", "", "high", vec![], t(0)),
        task::completed(&t1, json!(null), 7, t(1)),
    ])
    .await
    .when(vec![
        task::created(&t1, "impl", "One, renamed", "", "low", vec![], t(2)),
        task::started(&id("task-ghost"), &id("agent-1"), t(3)),
    ])
    .await
    .then()
    .await;
    let entry = tasks.get("task-1").unwrap();
    assert_eq!(entry.title, "One, renamed");
    assert_eq!(entry.status, TaskStatus::Completed);
    assert_eq!(entry.duration_ms, Some(7));
    assert!(tasks.by_priority("high").is_empty());
    assert_eq!(tasks.by_priority("low").len(), 1);
    assert_eq!(tasks.ignored_events(), 1);
}

// Regression (review finding): a `null` result came back from a saved state as no result.
#[tokio::test]
async fn a_null_result_survives_a_save_and_restore() {
    let t1 = id("task-1");
    let t2 = id("task-2");
    let history: TaskHistory = given(vec![
        task::created(&t1, "impl", "a", "", "high", vec![], t(0)),
        task::completed(&t1, json!(null), 10, t(1)),
        task::created(&t2, "impl", "b", "", "high", vec![], t(0)),
    ])
    .await
    .then()
    .await;
    let restored: TaskHistory =
        serde_json::from_value(serde_json::to_value(&history).unwrap()).unwrap();
    assert_eq!(history.get("task-1").unwrap().result, Some(json!(null)));
    assert_eq!(restored.get("task-1").unwrap().result, Some(json!(null)));
    assert_eq!(restored.get("task-2").unwrap().result, None);
}
