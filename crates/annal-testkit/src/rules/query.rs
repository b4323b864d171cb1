//! Queries: fields AND-ed, list values OR-ed, inclusive-from and exclusive-to time windows,
//! limit and offset, both directions, always in position order.

use std::sync::Arc;

use annal_core::{AggregateType, Direction, Filter, InvalidFilter, ReadError, Store};
use serde_json::json;

use crate::fixtures::{all, append, event, event_id, event_type, ids, stream};

async fn seed_events(store: &Arc<dyn Store>) {
    let at = |kind: &str, id: &str, ts: i64| {
        event(kind, json!({}))
            .with_id(event_id(id))
            .with_timestamp(ts)
            .with_source("swarm")
    };
    append(store, "agent-1", vec![at("agent:spawned", "e1", 100)]).await;
    append(
        store,
        "task-1",
        vec![at("task:created", "e2", 200).with_correlation_id("run-1")],
    )
    .await;
    append(
        store,
        "agent-2",
        vec![at("agent:spawned", "e3", 200).with_source("agent-9")],
    )
    .await;
    append(
        store,
        "task-1",
        vec![at("task:started", "e4", 300).with_causation_id("e2")],
    )
    .await;
    append(
        store,
        "mem-1",
        vec![at("memory:stored", "e5", 400).with_correlation_id("run-1")],
    )
    .await;
}

async fn run(store: &Arc<dyn Store>, filter: Filter) -> Vec<String> {
    ids(&all(store.query(&filter).await.unwrap()).await)
}

/// Event types, aggregate ids and aggregate types each select with OR inside the list.
pub async fn query_by_types_and_aggregates(store: Arc<dyn Store>) {
    seed_events(&store).await;
    let types = vec![event_type("agent:spawned"), event_type("memory:stored")];
    assert_eq!(
        run(
            &store,
            Filter {
                event_types: types,
                ..Filter::all()
            }
        )
        .await,
        ["e1", "e3", "e5"]
    );
    let ids = vec![stream("agent-1"), stream("task-1")];
    assert_eq!(
        run(
            &store,
            Filter {
                aggregate_ids: ids,
                ..Filter::all()
            }
        )
        .await,
        ["e1", "e2", "e4"]
    );
    let kinds = vec![AggregateType::new("task").unwrap()];
    assert_eq!(
        run(
            &store,
            Filter {
                aggregate_types: kinds,
                ..Filter::all()
            }
        )
        .await,
        ["e2", "e4"]
    );
}

/// Source, correlation id and causation id select exactly; fields combine with AND.
pub async fn query_by_source_correlation_causation(store: Arc<dyn Store>) {
    seed_events(&store).await;
    assert_eq!(
        run(
            &store,
            Filter {
                source: Some("agent-9".into()),
                ..Filter::all()
            }
        )
        .await,
        ["e3"]
    );
    let run_1 = Filter {
        correlation_id: Some("run-1".into()),
        ..Filter::all()
    };
    assert_eq!(run(&store, run_1.clone()).await, ["e2", "e5"]);
    let both = Filter {
        event_types: vec![event_type("memory:stored")],
        ..run_1
    };
    assert_eq!(run(&store, both).await, ["e5"]);
    assert_eq!(
        run(
            &store,
            Filter {
                causation_id: Some("e2".into()),
                ..Filter::all()
            }
        )
        .await,
        ["e4"]
    );
}

/// The time window includes `from` and excludes `to`; a bound of 0 is a real bound.
pub async fn query_time_window(store: Arc<dyn Store>) {
    seed_events(&store).await;
    let window = Filter {
        timestamp_from: Some(200),
        timestamp_to: Some(400),
        ..Filter::all()
    };
    assert_eq!(run(&store, window).await, ["e2", "e3", "e4"]);
    let from_zero = Filter {
        timestamp_from: Some(0),
        ..Filter::all()
    };
    assert_eq!(run(&store, from_zero).await.len(), 5);
    let before = Filter {
        timestamp_to: Some(200),
        ..Filter::all()
    };
    assert_eq!(run(&store, before).await, ["e1"]);
}

/// Limit and offset page stably in position order, in both directions; an offset without a
/// limit works (the seed's SQL broke on it).
pub async fn query_limit_offset_direction(store: Arc<dyn Store>) {
    seed_events(&store).await;
    let page = |offset, limit| Filter {
        offset,
        limit: Some(limit),
        ..Filter::all()
    };
    assert_eq!(run(&store, page(0, 2)).await, ["e1", "e2"]);
    assert_eq!(run(&store, page(2, 2)).await, ["e3", "e4"]);
    assert_eq!(run(&store, page(4, 2)).await, ["e5"]);
    assert_eq!(run(&store, page(0, 0)).await, Vec::<String>::new());
    assert_eq!(
        run(
            &store,
            Filter {
                offset: 3,
                ..Filter::all()
            }
        )
        .await,
        ["e4", "e5"]
    );
    let backward = Filter {
        direction: Direction::Backward,
        limit: Some(2),
        offset: 1,
        ..Filter::all()
    };
    assert_eq!(run(&store, backward).await, ["e4", "e3"]);
}

/// A filter whose time window is empty is refused with a typed error.
pub async fn query_refuses_empty_window(store: Arc<dyn Store>) {
    let filter = Filter {
        timestamp_from: Some(10),
        timestamp_to: Some(5),
        ..Filter::all()
    };
    match store.query(&filter).await {
        Err(ReadError::InvalidFilter(InvalidFilter::EmptyTimeRange { from: 10, to: 5 })) => {}
        Err(other) => panic!("expected EmptyTimeRange, got {other}"),
        Ok(_) => panic!("expected EmptyTimeRange, got a stream"),
    }
}

/// A selective query over many events still returns every match (backends page internally).
pub async fn query_finds_sparse_matches(store: Arc<dyn Store>) {
    let mut batch = Vec::new();
    for n in 0..3_000u64 {
        let kind = if n % 1_000 == 999 {
            "task:failed"
        } else {
            "note:added"
        };
        batch.push(event(kind, json!({ "n": n })));
    }
    append(&store, "noisy", batch).await;
    let filter = Filter {
        event_types: vec![event_type("task:failed")],
        ..Filter::all()
    };
    let events = all(store.query(&filter).await.unwrap()).await;
    let ns: Vec<u64> = events
        .iter()
        .map(|e| e.payload.to_value()["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, vec![999, 1_999, 2_999]);
    let backward = Filter {
        direction: Direction::Backward,
        ..filter
    };
    let events = all(store.query(&backward).await.unwrap()).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].payload.to_value()["n"], 2_999);
}
