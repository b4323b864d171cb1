//! The same scenario on every backend, opened by location as `annal serve` opens it: SQLite,
//! an NDJSON directory and PostgreSQL. Appends with ids, a retry, a conflict, stream and log
//! reads (JSON and NDJSON), a query, bad input that stores nothing, and an SSE subscription
//! resumed after a dropped connection while 4 writers append.

use std::time::Duration;

use annal_server::ServerConfig;
use futures::StreamExt;
use serde_json::json;

use crate::harness::{Server, one};
use crate::subscribe::open;

async fn scenario(location: Option<&str>) {
    let server = Server::start_at(location, ServerConfig::default(), |_| None).await;
    let batch = json!({"expectedVersion": "noStream", "events": [
        {"id": "b-1", "type": "task:created", "payload": {"n": 1}},
        {"id": "b-2", "type": "task:started", "payload": {"n": 2}}
    ]});
    let (status, first) = server.append("task-1", batch.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        server.append("task-1", batch).await.1,
        first,
        "a retry answers the same"
    );
    let conflict = json!({"expectedVersion": 1, "events": [{"type": "t:x", "payload": {}}]});
    let (status, problem) = server.append("task-1", conflict).await;
    assert_eq!((status, problem["actualVersion"].clone()), (409, json!(2)));
    let (status, bad) = server
        .append("task-1", json!({"events": [{"type": 1}]}))
        .await;
    assert_eq!(status, 400, "{bad}");
    let (_, events) = server.get("/v1/streams/task-1/events").await;
    assert_eq!(events[1]["id"], "b-2");
    let (_, queried) = server.get("/v1/events?types=task:started").await;
    assert_eq!(queried.as_array().unwrap().len(), 1);
    let ndjson = server
        .client
        .get(server.url("/v1/events"))
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(ndjson.lines().count(), 2);

    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let client = server.client.clone();
            let url = server.url(&format!("/v1/streams/w-{writer}/events"));
            tokio::spawn(async move {
                for i in 0..15 {
                    let body = one("w:tick", json!({"i": i}));
                    let response = client.post(&url).json(&body).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    let total = 2 + 4 * 15;
    let mut received = Vec::new();
    let mut last = None;
    while received.len() < total {
        let query = if last.is_none() { "?from=0" } else { "" };
        let mut events = open(&server, query, last).await;
        for _ in 0..11 {
            let next = tokio::time::timeout(Duration::from_secs(10), events.next()).await;
            let Ok(Some((id, _))) = next else { break };
            received.push(id);
            last = Some(id);
            if received.len() == total {
                break;
            }
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let mut sorted = received.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, received, "in position order, each once");
    let (_, head) = server.get("/v1/head").await;
    assert_eq!(head["head"], json!(total));
    assert_eq!(*received.last().unwrap(), total as u64);
    server.stop().await;
}

#[tokio::test]
async fn sqlite() {
    scenario(None).await;
}

#[tokio::test]
async fn ndjson() {
    scenario(Some("ndjson:{dir}/ledger")).await;
}

#[tokio::test]
async fn postgres() {
    let url = annal_testkit::pg_cluster::cluster()
        .fresh_database_url()
        .await;
    scenario(Some(&url)).await;
}
