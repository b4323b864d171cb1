//! Projections over time: live following, restart from the checkpoint, rebuild.
//!
//! Goal: show the seed's projection defects are gone: events appended after a projection
//! started are seen, a restart resumes from the saved checkpoint without applying an event twice,
//! and a rebuild starts from zero (the seed's reset left projections empty for good). Method:
//! the real ProjectionRunner and LiveProjection of annal-core over a shared MemoryStore.

use std::sync::Arc;
use std::time::Duration;

use annal_core::{Position, ProjectionName, ProjectionRunner};
use annal_swarm::events::{agent, memory, task};
use annal_swarm::projections::{AgentState, AgentStatus, MemoryIndex, TaskHistory, TaskStatus};
use serde_json::json;

use crate::support::{append_all, id, store, t};

#[tokio::test]
async fn a_live_projection_sees_events_appended_after_it_started() {
    let store = store();
    let a1 = id("agent-1");
    append_all(
        &*store,
        vec![agent::spawned(&a1, "coder", "core", vec![], t(0))],
    )
    .await;
    let runner = ProjectionRunner::<AgentState>::load(Arc::clone(&store))
        .await
        .unwrap();
    let mut live = runner.follow().await.unwrap();
    assert_eq!(
        live.state().get("agent-1").unwrap().status,
        AgentStatus::Idle
    );

    let a2 = id("agent-2");
    append_all(
        &*store,
        vec![
            agent::started(&a1, t(1)),
            agent::spawned(&a2, "tester", "quality", vec![], t(2)),
        ],
    )
    .await;
    let head = store.head().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), live.wait_for(head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.state().active_count(), 1);
    assert_eq!(live.state().len(), 2);
    assert_eq!(live.checkpoint(), head);

    let runner = live.stop().await.unwrap();
    assert_eq!(runner.checkpoint(), head);
}

#[tokio::test]
async fn a_restart_resumes_from_the_checkpoint_without_double_counting() {
    let store = store();
    let m1 = id("mem-1");
    append_all(
        &*store,
        vec![
            memory::stored(&m1, "ns", "k", "semantic", 10, t(0)),
            memory::retrieved(&m1, "ns", "k", 1, t(1)),
            memory::retrieved(&m1, "ns", "k", 2, t(2)),
        ],
    )
    .await;
    let mut first = ProjectionRunner::<MemoryIndex>::load(Arc::clone(&store))
        .await
        .unwrap();
    assert_eq!(first.catch_up().await.unwrap(), 3);
    drop(first);

    append_all(&*store, vec![memory::retrieved(&m1, "ns", "k", 3, t(3))]).await;
    let name = ProjectionName::new("swarm.memory-index").unwrap();
    let saved = store.load_projection(&name).await.unwrap().unwrap();
    assert_eq!(saved.checkpoint, Position(3));

    let mut second = ProjectionRunner::<MemoryIndex>::load(Arc::clone(&store))
        .await
        .unwrap();
    assert_eq!(second.checkpoint(), Position(3));
    assert_eq!(
        second.catch_up().await.unwrap(),
        1,
        "only the new event is applied"
    );
    let state = second.state();
    assert_eq!(state.get("mem-1").unwrap().access_count, 3);
    assert_eq!(
        state.total_size("ns"),
        10,
        "indexes are rebuilt from the saved entries"
    );
}

#[tokio::test]
async fn saved_state_restores_every_index() {
    let store = store();
    let (t1, t2, a1) = (id("task-1"), id("task-2"), id("agent-1"));
    append_all(
        &*store,
        vec![
            task::created(&t1, "impl", "One", "", "high", vec![], t(0)),
            task::created(&t2, "impl", "Two", "", "low", vec![], t(1)),
            task::started(&t1, &a1, t(2)),
            task::blocked(&t2, vec!["task-1".into()], t(3)),
            agent::spawned(&a1, "coder", "core", vec![], t(4)),
            agent::task_assigned(&a1, &t1, t(5)),
        ],
    )
    .await;
    let mut tasks = ProjectionRunner::<TaskHistory>::load(Arc::clone(&store))
        .await
        .unwrap();
    tasks.catch_up().await.unwrap();
    let mut agents = ProjectionRunner::<AgentState>::load(Arc::clone(&store))
        .await
        .unwrap();
    agents.catch_up().await.unwrap();
    drop((tasks, agents));

    let tasks = ProjectionRunner::<TaskHistory>::load(Arc::clone(&store))
        .await
        .unwrap();
    {
        let tasks = tasks.state();
        assert_eq!(tasks.by_agent("agent-1")[0].id, "task-1");
        assert_eq!(tasks.by_priority("low")[0].id, "task-2");
        assert_eq!(tasks.by_status(TaskStatus::Blocked)[0].id, "task-2");
        assert_eq!(tasks.blocked()[0].blocked_by, ["task-1"]);
    }
    let agents = ProjectionRunner::<AgentState>::load(Arc::clone(&store))
        .await
        .unwrap();
    assert_eq!(agents.state().by_domain("core").len(), 1);
    assert_eq!(agents.state().active_count(), 1);
}

#[tokio::test]
async fn a_rebuild_starts_from_zero_and_reaches_the_same_state() {
    // Seed defect: reset() then initialize() left the projection empty for good.
    let store = store();
    let (a1, t1) = (id("agent-1"), id("task-1"));
    append_all(
        &*store,
        vec![
            agent::spawned(&a1, "coder", "core", vec![], t(0)),
            agent::task_completed(&a1, &t1, json!(null), 42, t(1)),
        ],
    )
    .await;
    let mut runner = ProjectionRunner::<AgentState>::load(Arc::clone(&store))
        .await
        .unwrap();
    runner.catch_up().await.unwrap();
    let before = serde_json::to_value(&*runner.state()).unwrap();
    assert_eq!(runner.rebuild().await.unwrap(), 2);
    let after = serde_json::to_value(&*runner.state()).unwrap();
    assert_eq!(before, after);
    assert_eq!(runner.state().get("agent-1").unwrap().completed_count(), 1);
}
