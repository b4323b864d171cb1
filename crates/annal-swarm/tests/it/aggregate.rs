//! Aggregate loading and the snapshot policy.
//!
//! Goal: an aggregate loaded from a snapshot plus later events equals one folded from scratch,
//! the snapshot's own event is not applied twice (the seed's resume example re-applied it), and
//! the policy recommends or saves a snapshot every N versions. Method: TaskHistory folded over a
//! single task stream serves as the aggregate state; MemoryStore as the backend.

use annal_core::{ExpectedVersion, Version};
use annal_swarm::aggregate::{SnapshotAdvice, SnapshotPolicy, append, load, save_snapshot};
use annal_swarm::events::{memory, task};
use annal_swarm::projections::{MemoryIndex, TaskHistory, TaskStatus};
use serde_json::json;

use crate::support::{append_all, id, store, t};

#[tokio::test]
async fn snapshot_plus_later_events_equals_a_full_fold_without_reapplying() {
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
    let loaded = load::<MemoryIndex>(&*store, &m1).await.unwrap();
    assert_eq!(
        (loaded.version, loaded.replayed, loaded.snapshot_version),
        (Version(3), 3, None)
    );
    assert!(save_snapshot(&*store, &m1, &loaded, t(3)).await.unwrap());

    append_all(&*store, vec![memory::retrieved(&m1, "ns", "k", 3, t(4))]).await;
    let resumed = load::<MemoryIndex>(&*store, &m1).await.unwrap();
    assert_eq!(resumed.snapshot_version, Some(Version(3)));
    assert_eq!(resumed.replayed, 1, "only the event after the snapshot");
    assert_eq!(resumed.version, Version(4));
    // Re-applying the snapshot's own retrieval would make this 4.
    assert_eq!(resumed.state.get("mem-1").unwrap().access_count, 3);
}

#[tokio::test]
async fn an_empty_stream_loads_as_the_default_and_has_nothing_to_snapshot() {
    let store = store();
    let ghost = id("task-ghost");
    let loaded = load::<TaskHistory>(&*store, &ghost).await.unwrap();
    assert!(loaded.state.is_empty());
    assert_eq!(loaded.version, Version::NONE);
    assert!(!save_snapshot(&*store, &ghost, &loaded, t(0)).await.unwrap());
}

#[tokio::test]
async fn the_policy_recommends_at_every_multiple_and_saving_stores_the_snapshot() {
    let store = store();
    let t1 = id("task-1");
    let recommend = SnapshotPolicy::every(3);
    let mut advice = Vec::new();
    let drafts = vec![
        task::created(&t1, "impl", "One", "", "high", vec![], t(0)),
        task::queued(&t1, "high", t(1)),
        task::started(&t1, &id("agent-1"), t(2)),
        task::blocked(&t1, vec!["task-0".into()], t(3)),
    ];
    for draft in drafts {
        let (_, said) = append::<TaskHistory>(
            &*store,
            &t1,
            ExpectedVersion::Any,
            vec![draft.event],
            recommend,
            t(9),
        )
        .await
        .unwrap();
        advice.push(said);
    }
    use SnapshotAdvice::{NotDue, Recommended};
    assert_eq!(advice, [NotDue, NotDue, Recommended(Version(3)), NotDue]);
    assert!(
        store.load_snapshot(&t1).await.unwrap().is_none(),
        "recommend does not save"
    );

    let saving = SnapshotPolicy::every(5).saving();
    let completed = task::completed(&t1, json!(null), 5, t(4));
    let (_, said) = append::<TaskHistory>(
        &*store,
        &t1,
        ExpectedVersion::Any,
        vec![completed.event],
        saving,
        t(9),
    )
    .await
    .unwrap();
    assert_eq!(said, SnapshotAdvice::Saved(Version(5)));
    let snapshot = store.load_snapshot(&t1).await.unwrap().unwrap();
    assert_eq!(snapshot.version, Version(5));
    assert_eq!(snapshot.aggregate_type.as_str(), "task");
    let loaded = load::<TaskHistory>(&*store, &t1).await.unwrap();
    assert_eq!(loaded.replayed, 0);
    assert_eq!(
        loaded.state.get("task-1").unwrap().status,
        TaskStatus::Completed
    );
}
