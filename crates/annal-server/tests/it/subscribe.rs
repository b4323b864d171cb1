//! `GET /v1/subscribe` over a real socket: resume after dropped connections with no loss and no
//! repeat while 8 writers append, filters, heartbeats, the subscriber cap, and shutdown.

use std::time::Duration;

use annal_server::ServerConfig;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::harness::{Server, one};

const WRITERS: usize = 8;
const EVENTS_PER_WRITER: usize = 40;

/// Opens a subscription and returns its parsed event stream.
pub(crate) async fn open(
    server: &Server,
    query: &str,
    last_event_id: Option<u64>,
) -> impl futures::Stream<Item = (u64, Value)> + Unpin + use<> {
    let mut request = server
        .client
        .get(server.url(&format!("/v1/subscribe{query}")));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    Box::pin(response.bytes_stream().eventsource().map(|event| {
        let event = event.unwrap();
        let data: Value = serde_json::from_str(&event.data).unwrap();
        (event.id.parse().unwrap(), data)
    }))
}

#[tokio::test]
async fn resuming_after_dropped_connections_loses_and_repeats_nothing_while_8_writers_append() {
    let server = Server::start().await;
    let total = WRITERS * EVENTS_PER_WRITER;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let client = server.client.clone();
            let url = server.url(&format!("/v1/streams/w-{writer}/events"));
            tokio::spawn(async move {
                for i in 0..EVENTS_PER_WRITER {
                    let body = one("w:tick", json!({"writer": writer, "i": i}));
                    let response = client.post(&url).json(&body).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    if i % 8 == 0 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            })
        })
        .collect();
    let mut received: Vec<u64> = Vec::new();
    let mut last = None;
    let mut connections = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while received.len() < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} events",
            received.len()
        );
        connections += 1;
        // The first connection starts from the beginning; later ones resume by Last-Event-ID.
        let query = if last.is_none() { "?from=0" } else { "" };
        let mut events = open(&server, query, last).await;
        // Drop the connection after a few events, at a different point each time.
        let take = 7 + connections * 3;
        for _ in 0..take {
            let Ok(Some((id, event))) =
                tokio::time::timeout(Duration::from_secs(10), events.next()).await
            else {
                break;
            };
            assert_eq!(event["position"], id, "the SSE id is the position");
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
    let expected: Vec<u64> = (1..=total as u64).collect();
    assert_eq!(received, expected, "every event once, in position order");
    assert!(
        connections > 5,
        "the test must actually reconnect ({connections})"
    );
    server.stop().await;
}

#[tokio::test]
async fn filters_heartbeats_cap_and_shutdown() {
    let config = ServerConfig {
        subscribers_max: 2,
        heartbeat: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = Server::start_with(config, |_| None).await;
    server.append("task-1", one("task:a", json!({}))).await;
    server.append("agent-1", one("agent:a", json!({}))).await;
    let mut filtered = open(
        &server,
        "?from=0&streamPrefix=task-&types=task:b,task:a",
        None,
    )
    .await;
    server.append("task-2", one("task:b", json!({}))).await;
    server.append("task-2", one("task:c", json!({}))).await;
    server.append("agent-2", one("task:b", json!({}))).await;
    server.append("task-3", one("task:a", json!({}))).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (id, event) = tokio::time::timeout(Duration::from_secs(10), filtered.next())
            .await
            .unwrap()
            .unwrap();
        seen.push((id, event["aggregateId"].as_str().unwrap().to_owned()));
    }
    assert_eq!(
        seen,
        vec![
            (1, "task-1".into()),
            (3, "task-2".into()),
            (6, "task-3".into())
        ]
    );

    // An idle subscription gets heartbeat comments.
    let response = server
        .client
        .get(server.url("/v1/subscribe"))
        .send()
        .await
        .unwrap();
    let mut bytes = response.bytes_stream();
    let chunk = tokio::time::timeout(Duration::from_secs(5), bytes.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(chunk.starts_with(b":"), "{chunk:?}");

    // Two are live: a third is refused with 503.
    let (status, problem) = server.get("/v1/subscribe").await;
    assert_eq!(
        (status, problem["code"].clone()),
        (503, json!("too-many-subscribers"))
    );
    drop(bytes);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = open(&server, "?from=5", None).await;
    assert_eq!(again.next().await.unwrap().0, 6);

    // Shutdown ends live streams cleanly, and the server stops.
    let stopping = tokio::spawn(server.stop());
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while filtered.next().await.is_some() {}
        while again.next().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "shutdown must end every SSE stream");
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .unwrap()
        .unwrap();
}
