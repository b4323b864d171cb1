//! Periodic retention of the run ledger.
//!
//! Goal: the retention task keeps the newest N runs on every tick, reports what it did, and
//! stops when told. Method: a RunLedger over a MemoryStore, tokio's paused clock to step through
//! intervals deterministically.

use std::sync::Arc;
use std::time::Duration;

use annal_swarm::ledger::{RunLedger, TaskIntent, spawn_retention};

use crate::support::store;

#[tokio::test(start_paused = true)]
async fn the_task_trims_to_the_newest_n_every_interval_until_stopped() {
    let ledger = Arc::new(RunLedger::new(store()));
    for n in 0..5 {
        let event = ledger.create_event(format!("task-{n}"), TaskIntent::Feature, "gh");
        ledger.log(event).await.unwrap();
    }
    let mut task = spawn_retention(Arc::clone(&ledger), 2, Duration::from_secs(3600));
    assert_eq!(task.status().passes, 0, "the first pass waits one interval");

    let status = task.wait_for_passes(1).await.unwrap();
    assert_eq!(
        (status.passes, status.removed, status.last_error),
        (1, 3, None)
    );
    assert_eq!(ledger.event_count().await.unwrap(), 2);

    for n in 5..8 {
        let event = ledger.create_event(format!("task-{n}"), TaskIntent::Feature, "gh");
        ledger.log(event).await.unwrap();
    }
    let status = task.wait_for_passes(2).await.unwrap();
    assert_eq!(status.removed, 6);
    let left: Vec<String> = ledger
        .export()
        .await
        .unwrap()
        .into_iter()
        .map(|event| event.task_id)
        .collect();
    assert_eq!(left, ["task-6", "task-7"]);

    let last = task.stop().await;
    assert_eq!(last.passes, 2);
    for n in 8..12 {
        let event = ledger.create_event(format!("task-{n}"), TaskIntent::Feature, "gh");
        ledger.log(event).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(7200)).await;
    assert_eq!(
        ledger.event_count().await.unwrap(),
        6,
        "a stopped task removes nothing"
    );
}
