// Goal: the backend's trace (one statement) answers exactly what the trace built from queries
// answers (`annal_core::trace_by_queries`), limits and their truncation flags included, for
// causation trees that branch, chains that loop (through the traced event or not), causes no
// event has (a command id, an event removed by retention) and events without a correlation id.
// Method: a store of pseudo-random causation and correlation ids (a fixed seed, so a failure
// replays), every event traced under several limits, each answer compared with the other's.

use annal_core::{
    EventId, EventType, ExpectedVersion, NewEvent, Store, StreamId, TraceError, TraceLimits,
    trace_by_queries,
};
use annal_postgres::PostgresStore;
use serde_json::json;

use annal_testkit::pg_cluster::cluster;

const EVENTS: u64 = 240;

/// The `i`-th event: caused by an earlier event (mostly a recent one, so trees branch and
/// chains grow long), by a later one (loops), by a command, or by nothing.
fn new_event(i: u64, roll: &mut impl FnMut(u64) -> u64) -> NewEvent {
    let mut event = NewEvent::new(EventType::new("step").unwrap(), json!({"i": i}))
        .with_id(EventId::new(format!("e-{i}")).unwrap());
    event.causation_id = match roll(10) {
        0 => None,
        1 => Some(format!("cmd-{}", roll(5))),
        2 => Some(format!("e-{}", roll(EVENTS))),
        _ if i > 0 => Some(format!("e-{}", i - 1 - roll(i.min(6)))),
        _ => None,
    };
    event.correlation_id = (roll(4) != 0).then(|| format!("run-{}", roll(6)));
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_statement_answers_what_the_queries_answer() {
    let url = cluster().fresh_database().await;
    let store = PostgresStore::connect(&url).await.unwrap();
    let mut state: u64 = 7;
    let mut roll = |sides: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % sides
    };
    for chunk in 0..EVENTS / 20 {
        let batch = (chunk * 20..chunk * 20 + 20)
            .map(|i| new_event(i, &mut roll))
            .collect();
        let stream = StreamId::new(format!("s-{}", chunk % 5)).unwrap();
        store
            .append(&stream, ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
    // A loop through the traced event, one beside it, and causes removed by retention.
    let looping = vec![
        NewEvent::new(EventType::new("step").unwrap(), json!({}))
            .with_id(EventId::new("self").unwrap())
            .with_causation_id("self"),
    ];
    let stream = StreamId::new("loops").unwrap();
    store
        .append(&stream, ExpectedVersion::Any, looping)
        .await
        .unwrap();
    let removed = StreamId::new("s-3").unwrap();
    store
        .delete_stream(&removed, ExpectedVersion::Any)
        .await
        .unwrap();

    let limits = [
        TraceLimits::default(),
        TraceLimits {
            causes_max: 2,
            effects_max: 3,
            correlated_max: 4,
        },
        TraceLimits {
            causes_max: 1,
            effects_max: 1,
            correlated_max: 1,
        },
        TraceLimits {
            causes_max: 0,
            effects_max: 0,
            correlated_max: 0,
        },
        TraceLimits {
            causes_max: usize::MAX,
            effects_max: usize::MAX,
            correlated_max: usize::MAX,
        },
    ];
    let ids = (0..EVENTS)
        .map(|i| format!("e-{i}"))
        .chain(["self".to_owned(), "nope".to_owned()]);
    let mut compared = 0;
    for id in ids {
        let id = EventId::new(id).unwrap();
        for limits in limits {
            let ours = store.trace(&id, limits).await;
            let theirs = trace_by_queries(&store, &id, limits).await;
            match (ours, theirs) {
                (Ok(ours), Ok(theirs)) => {
                    assert_eq!(ours, theirs, "trace of {id} with {limits:?}");
                    compared += 1;
                }
                (Err(TraceError::NotFound { .. }), Err(TraceError::NotFound { .. })) => {}
                (ours, theirs) => panic!("{id} with {limits:?}: {ours:?} against {theirs:?}"),
            }
        }
    }
    // Most events are still stored (one stream of five was removed).
    assert!(compared > 700, "only {compared} traces compared");
}
