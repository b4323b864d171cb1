// Reads of the whole log, which fetch several ranges of positions at once: they must step over
// removed events however long the gap, start inside a gap, and, while appends go on, return a
// gap-free run of positions that holds everything committed before the read began.

use std::sync::Arc;

use annal_core::{ExpectedVersion, Position, Store, collect};
use annal_sqlite::SqliteStore;

use crate::support::{event, stream};

async fn append_batch(store: &dyn Store, name: &str, events: u64) {
    let batch = (0..events).map(event).collect();
    store
        .append(&stream(name), ExpectedVersion::Any, batch)
        .await
        .unwrap();
}

async fn positions_from(store: &dyn Store, from: u64) -> Vec<u64> {
    collect(store.read_all(Position(from)).await.unwrap())
        .await
        .unwrap()
        .iter()
        .map(|event| event.position.0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_the_log_step_over_removed_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("gaps.db")).unwrap();
    // Positions 1-600, a 5,000-event stream at 601-5600 (ten ranges and more), then 5601-6200.
    append_batch(&store, "before", 600).await;
    append_batch(&store, "removed", 5_000).await;
    append_batch(&store, "after", 600).await;
    store
        .delete_stream(&stream("removed"), ExpectedVersion::Any)
        .await
        .unwrap();
    let expected: Vec<u64> = (1..=600).chain(5_601..=6_200).collect();
    assert_eq!(positions_from(&store, 0).await, expected);
    assert_eq!(
        positions_from(&store, 3_000).await,
        (5_601..=6_200).collect::<Vec<_>>(),
        "a read that starts inside the gap"
    );
    assert_eq!(
        positions_from(&store, 6_200).await,
        vec![6_200],
        "the last event alone"
    );
    assert!(positions_from(&store, 6_201).await.is_empty());
    // Removing the end of the log too leaves a read that ends inside the removed range.
    store
        .delete_stream(&stream("after"), ExpectedVersion::Any)
        .await
        .unwrap();
    assert_eq!(
        positions_from(&store, 0).await,
        (1..=600).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_read_during_appends_is_a_gap_free_prefix_with_everything_committed_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("live.db")).unwrap());
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for n in 0..300u64 {
                // Batches of varied sizes, so commits end at every offset inside a range.
                append_batch(store.as_ref(), &format!("s{}", n % 7), 1 + n % 97).await;
            }
        })
    };
    let mut reads = 0;
    loop {
        let finished = writer.is_finished();
        let head = store.head().await.unwrap().0;
        let positions = positions_from(store.as_ref(), 1).await;
        let expected: Vec<u64> = (1..=positions.len() as u64).collect();
        assert_eq!(
            positions, expected,
            "a gap-free run from the first position"
        );
        assert!(
            positions.len() as u64 >= head,
            "read {} events, {head} were committed before the read",
            positions.len()
        );
        reads += 1;
        if finished {
            break;
        }
    }
    writer.await.unwrap();
    assert!(reads > 1, "some reads overlapped the appends");
    let total: u64 = (0..300u64).map(|n| 1 + n % 97).sum();
    assert_eq!(positions_from(store.as_ref(), 1).await.len() as u64, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_read_from_beyond_every_storable_position_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("far.db")).unwrap();
    append_batch(&store, "some", 3).await;
    // Positions are SQLite integers, so none lies above i64::MAX; the ranges after a start near
    // the top of u64 must neither wrap around to the start of the log nor overflow.
    for from in [
        i64::MAX as u64,
        i64::MAX as u64 + 1,
        u64::MAX - 1_000,
        u64::MAX - 1,
        u64::MAX,
    ] {
        assert!(positions_from(&store, from).await.is_empty(), "from {from}");
    }
    assert_eq!(positions_from(&store, 0).await, vec![1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtered_scan_in_ranges_returns_what_the_filter_keeps_of_the_whole_log() {
    use annal_core::{EventType, Filter, NewEvent};
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("scan.db")).unwrap();
    let typed = |name: &str, n: u64, at: i64| {
        NewEvent::new(EventType::new(name).unwrap(), json!({ "n": n })).with_timestamp(at)
    };
    // 9,000 events of three types with rising timestamps, then a removed stream in the middle.
    for (round, name) in ["keep", "gone", "keep"].iter().enumerate() {
        let batch = (0..3_000u64)
            .map(|n| {
                let kind = ["task:done", "task:made", "agent:seen"][(n % 3) as usize];
                typed(kind, n, (round as i64) * 10_000 + n as i64)
            })
            .collect();
        store
            .append(
                &stream(&format!("{name}-{round}")),
                ExpectedVersion::Any,
                batch,
            )
            .await
            .unwrap();
    }
    store
        .delete_stream(&stream("gone-1"), ExpectedVersion::Any)
        .await
        .unwrap();
    let filters = [
        Filter {
            event_types: vec![EventType::new("task:done").unwrap()],
            ..Filter::all()
        },
        Filter {
            event_types: vec![
                EventType::new("task:done").unwrap(),
                EventType::new("agent:seen").unwrap(),
            ],
            timestamp_from: Some(1_500),
            timestamp_to: Some(21_000),
            ..Filter::all()
        },
        // Counted: read page by page, not in ranges; the same answer either way.
        Filter {
            event_types: vec![EventType::new("task:made").unwrap()],
            limit: Some(700),
            offset: 300,
            ..Filter::all()
        },
    ];
    let all = collect(store.read_all(Position::START).await.unwrap())
        .await
        .unwrap();
    for filter in filters {
        let expected: Vec<u64> = all
            .iter()
            .filter(|event| filter.matches(event))
            .map(|event| event.position.0)
            .skip(filter.offset as usize)
            .take(filter.limit.map_or(usize::MAX, |limit| limit as usize))
            .collect();
        let found: Vec<u64> = collect(store.query(&filter).await.unwrap())
            .await
            .unwrap()
            .iter()
            .map(|event| event.position.0)
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(found, expected, "{filter:?}");
    }
}
