// Goal: two MCP clients completing the same task at the same time: exactly one succeeds, the
// other gets the wrong-version error with the actual version, and the store holds one
// completion. Method: two servers over one store (and, on PostgreSQL, over two separate opens
// of the database, as two processes would be), each with its own rmcp client; both read the
// task's version, then complete it concurrently, several rounds per backend.

// Test code: a failed step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use annal::{Access, EventType, Filter, Store, StreamId, collect, open};
use serde_json::json;

use crate::support::{Client, connect, every_backend};

const ROUNDS: usize = 5;

#[tokio::test]
async fn two_clients_completing_one_task_one_wins() {
    for backend in every_backend().await {
        let first = connect(backend.store.clone(), true).await;
        let second = connect(backend.store.clone(), true).await;
        race(&first, &second, &*backend.store, backend.name).await;
    }
    let url = annal_testkit::pg_cluster::cluster()
        .fresh_database_url()
        .await;
    let a: Arc<dyn Store> = open(&url, Access::Write).await.unwrap();
    let b: Arc<dyn Store> = open(&url, Access::Write).await.unwrap();
    let (first, second) = (connect(a.clone(), true).await, connect(b, true).await);
    race(&first, &second, &*a, "postgres, two opens").await;
}

async fn race(first: &Client, second: &Client, store: &dyn Store, name: &str) {
    for _ in 0..ROUNDS {
        let task = first
            .ok("task_create", json!({"type": "t", "description": "race"}))
            .await;
        let task = task["taskId"].as_str().unwrap().to_owned();
        let version = second.ok("task_status", json!({"taskId": task})).await["version"].clone();
        let args =
            |who: &str| json!({"taskId": task, "expectedVersion": version, "result": {"by": who}});
        let (a, b) = tokio::join!(
            first.call("task_complete", args("first")),
            second.call("task_complete", args("second"))
        );
        let outcomes = [a, b];
        let won: Vec<_> = outcomes
            .iter()
            .filter(|r| r.is_error == Some(false))
            .collect();
        let lost: Vec<_> = outcomes
            .iter()
            .filter(|r| r.is_error == Some(true))
            .collect();
        assert_eq!((won.len(), lost.len()), (1, 1), "{name}: {outcomes:?}");
        let error = lost[0].structured_content.as_ref().unwrap();
        assert_eq!(error["error"], "wrong_expected_version", "{name}: {error}");
        assert_eq!(error["actualVersion"], 2, "{name}");
        let filter = Filter {
            event_types: vec![EventType::new("task:completed").unwrap()],
            aggregate_ids: vec![StreamId::new(&task).unwrap()],
            ..Filter::all()
        };
        let completions = collect(store.query(&filter).await.unwrap()).await.unwrap();
        assert_eq!(completions.len(), 1, "{name}: one completion stored");
        let winner = won[0].structured_content.as_ref().unwrap();
        assert_eq!(winner["position"], completions[0].position.0);
    }
}
