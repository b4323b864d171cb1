//! MemoryIndex projection: given events, when more happen, then the queries answer.
//!
//! Goal: cover every query (by id, by namespace and key, active entries, per-namespace entries
//! and sizes, most accessed, deletions and expirations) and the seed's defects (access counts
//! overwritten by the payload, deleted and expired indistinguishable). Method: seed cases are
//! ported one for one (named `seed_*`); the rest are annal's own.

use annal_swarm::events::memory;
use annal_swarm::projections::{MemoryIndex, MemoryStatus};

use crate::support::{given, id, t};

#[tokio::test]
async fn seed_stored_then_retrieved_once_has_one_access() {
    let m1 = id("mem-1");
    let index: MemoryIndex = given(vec![memory::stored(
        &m1,
        "default",
        "greeting",
        "semantic",
        64,
        t(0),
    )])
    .await
    .when(vec![memory::retrieved(&m1, "default", "greeting", 1, t(5))])
    .await
    .then()
    .await;
    let entry = index.get("mem-1").unwrap();
    assert_eq!(entry.namespace, "default");
    assert_eq!(entry.access_count, 1);
    assert_eq!(entry.last_accessed_at, t(5));
    assert_eq!(index.by_key("default", "greeting").unwrap().id, "mem-1");
}

#[tokio::test]
async fn access_counts_accumulate_instead_of_copying_the_payload() {
    // Seed defect: each memory:retrieved overwrote the count with the payload's accessCount,
    // so a reader that restarted its own counter made the total go down.
    let m1 = id("mem-1");
    let index: MemoryIndex = given(vec![memory::stored(&m1, "ns", "k", "semantic", 1, t(0))])
        .await
        .when(vec![
            memory::retrieved(&m1, "ns", "k", 5, t(1)),
            memory::retrieved(&m1, "ns", "k", 1, t(2)),
            memory::retrieved(&m1, "ns", "k", 1, t(3)),
        ])
        .await
        .then()
        .await;
    assert_eq!(index.get("mem-1").unwrap().access_count, 3);
}

#[tokio::test]
async fn seed_stored_then_deleted_is_deleted_and_not_active() {
    let m1 = id("mem-1");
    let index: MemoryIndex = given(vec![memory::stored(&m1, "ns", "k", "semantic", 10, t(0))])
        .await
        .when(vec![memory::deleted(&m1, "ns", "k", t(1))])
        .await
        .then()
        .await;
    let entry = index.get("mem-1").unwrap();
    assert_eq!(entry.status, MemoryStatus::Deleted);
    assert_eq!(entry.deleted_at, Some(t(1)));
    assert!(index.active().is_empty());
    assert_eq!(index.total_size("ns"), 0);
}

#[tokio::test]
async fn seed_sizes_add_up_per_namespace() {
    let index: MemoryIndex = given(vec![
        memory::stored(&id("mem-1"), "ns1", "a", "semantic", 1024, t(0)),
        memory::stored(&id("mem-2"), "ns1", "b", "semantic", 2048, t(1)),
        memory::stored(&id("mem-3"), "ns2", "c", "semantic", 512, t(2)),
    ])
    .await
    .then()
    .await;
    assert_eq!(index.total_size("ns1"), 3072);
    assert_eq!(index.total_size("ns2"), 512);
    assert_eq!(index.total_size("ns3"), 0);
    let sizes: Vec<(&str, u64)> = index.total_size_by_namespace().into_iter().collect();
    assert_eq!(sizes, [("ns1", 3072), ("ns2", 512)]);
    assert_eq!(index.namespaces(), ["ns1", "ns2"]);
    assert_eq!(index.by_namespace("ns1").len(), 2);
}

#[tokio::test]
async fn deletions_and_expirations_are_told_apart() {
    let (m1, m2, m3) = (id("mem-1"), id("mem-2"), id("mem-3"));
    let index: MemoryIndex = given(vec![
        memory::stored(&m1, "ns", "a", "semantic", 100, t(0)),
        memory::stored(&m2, "ns", "b", "semantic", 200, t(1)),
        memory::stored(&m3, "ns", "c", "semantic", 300, t(2)),
    ])
    .await
    .when(vec![
        memory::deleted(&m1, "ns", "a", t(3)),
        memory::expired(&m2, "ns", "b", t(2), t(4)),
        // Reading a removed entry does not count as an access.
        memory::retrieved(&m2, "ns", "b", 1, t(5)),
    ])
    .await
    .then()
    .await;
    assert_eq!(
        index
            .deleted()
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
        ["mem-1"]
    );
    let expired = index.expired();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, "mem-2");
    assert_eq!(
        (expired[0].expired_at, expired[0].expires_at),
        (Some(t(4)), Some(t(2)))
    );
    assert_eq!(expired[0].deleted_at, None);
    assert_eq!(expired[0].access_count, 0);
    assert_eq!(index.count_by_status(MemoryStatus::Active), 1);
    assert_eq!(index.total_size("ns"), 300);
    assert_eq!(index.ignored_events(), 1);
}

#[tokio::test]
async fn most_accessed_sorts_by_count_and_keeps_ties_in_store_order() {
    let (m1, m2, m3, m4) = (id("mem-1"), id("mem-2"), id("mem-3"), id("mem-4"));
    let index: MemoryIndex = given(vec![
        memory::stored(&m1, "ns", "a", "semantic", 1, t(0)),
        memory::stored(&m2, "ns", "b", "semantic", 1, t(1)),
        memory::stored(&m3, "ns", "c", "semantic", 1, t(2)),
        memory::stored(&m4, "ns", "d", "semantic", 1, t(3)),
    ])
    .await
    .when(vec![
        memory::retrieved(&m3, "ns", "c", 1, t(4)),
        memory::retrieved(&m3, "ns", "c", 2, t(5)),
        memory::retrieved(&m2, "ns", "b", 1, t(6)),
        memory::retrieved(&m4, "ns", "d", 1, t(7)),
        memory::retrieved(&m1, "ns", "a", 1, t(8)),
        memory::retrieved(&m1, "ns", "a", 2, t(9)),
        memory::retrieved(&m1, "ns", "a", 3, t(10)),
        memory::deleted(&m1, "ns", "a", t(11)),
    ])
    .await
    .then()
    .await;
    let top: Vec<(&str, u64)> = index
        .most_accessed(3)
        .iter()
        .map(|m| (m.id.as_str(), m.access_count))
        .collect();
    assert_eq!(top, [("mem-3", 2), ("mem-2", 1), ("mem-4", 1)]);
    assert_eq!(
        index.most_accessed(10).len(),
        3,
        "deleted entries are not ranked"
    );
}

#[tokio::test]
async fn storing_again_revives_an_entry_and_keeps_its_accesses() {
    let m1 = id("mem-1");
    let index: MemoryIndex = given(vec![
        memory::stored(&m1, "ns", "a", "semantic", 100, t(0)),
        memory::retrieved(&m1, "ns", "a", 1, t(1)),
        memory::deleted(&m1, "ns", "a", t(2)),
    ])
    .await
    .when(vec![memory::stored(
        &m1,
        "other",
        "a",
        "episodic",
        50,
        t(3),
    )])
    .await
    .then()
    .await;
    let entry = index.get("mem-1").unwrap();
    assert_eq!(entry.status, MemoryStatus::Active);
    assert_eq!(entry.deleted_at, None);
    assert_eq!((entry.memory_type.as_str(), entry.size), ("episodic", 50));
    assert_eq!(entry.access_count, 1);
    assert_eq!(index.total_size("ns"), 0);
    assert_eq!(index.total_size("other"), 50);
    assert!(index.by_key("ns", "a").is_none());
    assert_eq!(index.by_key("other", "a").unwrap().id, "mem-1");
}

/// Saves `index` as the runner would and restores it.
fn restored(index: &MemoryIndex) -> MemoryIndex {
    serde_json::from_value(serde_json::to_value(index).unwrap()).unwrap()
}

// Regression (review finding): restoring rebuilt the key map in entry order, so when two
// memories had shared a key the restored projection named a different holder than the live one.
#[tokio::test]
async fn a_restored_index_names_the_same_key_holder_as_the_live_one() {
    let (a, b) = (id("mem-a"), id("mem-b"));
    let index: MemoryIndex = given(vec![
        memory::stored(&a, "ns", "k", "semantic", 1, t(0)),
        memory::stored(&b, "ns", "k", "semantic", 1, t(1)),
        memory::stored(&a, "ns", "k", "semantic", 1, t(2)),
    ])
    .await
    .then()
    .await;
    assert_eq!(index.by_key("ns", "k").unwrap().id, "mem-a");
    assert_eq!(restored(&index).by_key("ns", "k").unwrap().id, "mem-a");

    let moved: MemoryIndex = given(vec![
        memory::stored(&a, "ns", "k", "semantic", 1, t(0)),
        memory::stored(&b, "ns", "k", "semantic", 1, t(1)),
        memory::stored(&b, "ns", "k2", "semantic", 1, t(2)),
    ])
    .await
    .then()
    .await;
    let live = moved.by_key("ns", "k").map(|m| m.id.clone());
    assert_eq!(
        restored(&moved).by_key("ns", "k").map(|m| m.id.clone()),
        live
    );
    assert_eq!(restored(&moved).by_key("ns", "k2").unwrap().id, "mem-b");
}
