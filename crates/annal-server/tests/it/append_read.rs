//! Append, read a stream, read all, query, version, head, stats, snapshots, retention and verify
//! over HTTP on the embedded store.

use serde_json::json;

use crate::harness::{Server, one, status_and_json};

#[tokio::test]
async fn append_answers_ids_positions_and_versions_and_reads_return_them() {
    let server = Server::start().await;
    let (status, body) = server
        .append(
            "task-1",
            json!({"expectedVersion": "noStream", "events": [
                {"id": "e-1", "type": "task:created", "payload": {"title": "a"}},
                {"type": "task:started", "payload": {}, "correlationId": "run-1"}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["streamVersion"], 2);
    assert_eq!(body["events"][0]["id"], "e-1");
    assert_eq!(body["events"][0]["position"], 1);
    assert_eq!(body["events"][1]["version"], 2);
    assert_eq!(body["events"][1]["position"], 2);
    let generated = body["events"][1]["id"].as_str().unwrap().to_owned();

    let (status, events) = server.get("/v1/streams/task-1/events").await;
    assert_eq!(status, 200);
    assert_eq!(events.as_array().unwrap().len(), 2);
    assert_eq!(events[0]["payload"]["title"], "a");
    assert_eq!(events[1]["id"], generated.as_str());
    assert_eq!(events[1]["correlationId"], "run-1");

    let (_, backward) = server
        .get("/v1/streams/task-1/events?direction=backward&limit=1")
        .await;
    assert_eq!(backward[0]["version"], 2);
    let (_, from) = server.get("/v1/streams/task-1/events?from=2").await;
    assert_eq!(from.as_array().unwrap().len(), 1);

    let (status, version) = server.get("/v1/streams/task-1").await;
    assert_eq!((status, version["version"].clone()), (200, json!(2)));
    let (_, head) = server.get("/v1/head").await;
    assert_eq!(head["head"], 2);
    server.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_ids_returns_the_original_answer() {
    let server = Server::start().await;
    let batch = json!({"expectedVersion": "noStream", "events": [
        {"id": "r-1", "type": "task:created", "payload": {}},
        {"id": "r-2", "type": "task:started", "payload": {}}
    ]});
    let (_, first) = server.append("task-9", batch.clone()).await;
    let (status, again) = server.append("task-9", batch).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(first, again);
    let (_, head) = server.get("/v1/head").await;
    assert_eq!(head["head"], 2);
    server.stop().await;
}

#[tokio::test]
async fn a_wrong_expected_version_is_409_with_the_actual_version() {
    let server = Server::start().await;
    server
        .append("task-1", one("task:created", json!({})))
        .await;
    let (status, problem) = server
        .append(
            "task-1",
            json!({"expectedVersion": 5, "events": [{"type": "task:x", "payload": {}}]}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["code"], "wrong-expected-version");
    assert_eq!(problem["actualVersion"], 1);
    assert_eq!(problem["status"], 409);
    let (status, problem) = server
        .append(
            "task-2",
            json!({"expectedVersion": "streamExists", "events": [{"type": "t:x", "payload": {}}]}),
        )
        .await;
    assert_eq!((status, problem["actualVersion"].clone()), (409, json!(0)));
    let (_, head) = server.get("/v1/head").await;
    assert_eq!(head["head"], 1);
    server.stop().await;
}

#[tokio::test]
async fn read_all_and_queries_filter_page_and_stream_ndjson() {
    let server = Server::start().await;
    for i in 0..10 {
        let stream = if i % 2 == 0 { "task-a" } else { "agent-b" };
        let event_type = if i % 2 == 0 {
            "task:tick"
        } else {
            "agent:tick"
        };
        let batch = json!({"events": [{"type": event_type, "payload": {"i": i},
            "source": format!("s{}", i % 3), "timestamp": 1000 + i}]});
        assert_eq!(server.append(stream, batch).await.0, 200);
    }
    let count = |value: &serde_json::Value| value.as_array().unwrap().len();
    let (_, all) = server.get("/v1/events").await;
    assert_eq!(count(&all), 10);
    let (_, from) = server.get("/v1/events?from=8&limit=5").await;
    assert_eq!(count(&from), 3);
    assert_eq!(from[0]["position"], 8);
    let (_, typed) = server.get("/v1/events?types=task:tick").await;
    assert_eq!(count(&typed), 5);
    let (_, by_stream) = server
        .get("/v1/events?streams=agent-b&limit=2&offset=1&direction=backward")
        .await;
    assert_eq!(by_stream[0]["payload"]["i"], 7);
    assert_eq!(count(&by_stream), 2);
    let (_, timed) = server.get("/v1/events?since=1002&until=1005").await;
    assert_eq!(count(&timed), 3);
    let (_, sourced) = server.get("/v1/events?source=s0&aggregateTypes=task").await;
    assert_eq!(count(&sourced), 2);
    let (_, prefixed) = server.get("/v1/events?streamPrefix=agent-&from=3").await;
    assert_eq!(count(&prefixed), 4);

    let response = server
        .client
        .get(server.url("/v1/events?from=2"))
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 9);
    assert_eq!(lines[0]["position"], 2);
    let (_, empty) = server.get("/v1/events?from=100").await;
    assert_eq!(empty, json!([]));
    server.stop().await;
}

#[tokio::test]
async fn snapshots_stats_retention_and_verify() {
    let server = Server::start().await;
    for _ in 0..3 {
        server.append("task-1", one("task:tick", json!({}))).await;
    }
    let put = |body: serde_json::Value| {
        server
            .client
            .put(server.url("/v1/streams/task-1/snapshot"))
            .json(&body)
            .send()
    };
    let (status, saved) =
        status_and_json(put(json!({"version": 2, "state": {"n": 2}})).await.unwrap()).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["aggregateType"], "task");
    let (status, stale) =
        status_and_json(put(json!({"version": 1, "state": {}})).await.unwrap()).await;
    assert_eq!(
        (status, stale["code"].clone()),
        (409, json!("snapshot-stale"))
    );
    let (_, snapshot) = server.get("/v1/streams/task-1/snapshot").await;
    assert_eq!(snapshot["state"]["n"], 2);
    let (status, missing) = server.get("/v1/streams/task-2/snapshot").await;
    assert_eq!(
        (status, missing["code"].clone()),
        (404, json!("snapshot-not-found"))
    );

    let (_, stats) = server.get("/v1/stats?top=1").await;
    assert_eq!(stats["totalEvents"], 3);
    let truncate = server
        .client
        .post(server.url("/v1/streams/task-1/truncate"))
        .json(&json!({"before": 4}))
        .send()
        .await
        .unwrap();
    let (status, protected) = status_and_json(truncate).await;
    assert_eq!(
        (status, protected["code"].clone()),
        (409, json!("protected-by-snapshot"))
    );
    let truncate = server
        .client
        .post(server.url("/v1/streams/task-1/truncate"))
        .json(&json!({"before": 2}))
        .send()
        .await
        .unwrap();
    let (status, report) = status_and_json(truncate).await;
    assert_eq!((status, report["removed"].clone()), (200, json!(1)));

    let retain = server
        .client
        .post(server.url("/v1/retention"))
        .json(&json!({"maxEvents": 1, "force": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_json(retain).await.1["removed"], 1);
    let (status, verify) = server.get("/v1/verify").await;
    assert_eq!((status, verify["problems"].clone()), (200, json!(0)));
    assert_eq!(verify["events"], 1);

    let delete = server
        .client
        .delete(server.url("/v1/streams/task-1?expectedVersion=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_and_json(delete).await.1["code"],
        "wrong-expected-version"
    );
    let delete = server
        .client
        .delete(server.url("/v1/streams/task-1?expectedVersion=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_json(delete).await.0, 200);
    let (_, after) = server.get("/v1/streams/task-1/events").await;
    assert_eq!(after, json!([]));
    server.stop().await;
}

#[tokio::test]
async fn health_readiness_metrics_and_unknown_paths() {
    let server = Server::start().await;
    server.append("task-1", one("task:tick", json!({}))).await;
    assert_eq!(server.get("/healthz").await.0, 200);
    assert_eq!(server.get("/readyz").await.0, 200);
    let (status, metrics) = server.get("/metrics").await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap().to_owned();
    for name in [
        "annal_appends_total",
        "annal_appended_events_total",
        "annal_append_seconds_bucket",
        "annal_head_position",
        "annal_subscriber_lag_events 0",
    ] {
        assert!(metrics.contains(name), "{name} missing from {metrics}");
    }
    let (status, doc) = server.get("/openapi.json").await;
    assert_eq!(
        (status, doc["openapi"].clone()),
        (200, serde_json::json!("3.1.0"))
    );
    assert_eq!(
        doc.to_string(),
        serde_json::from_str::<serde_json::Value>(&annal_server::openapi_document())
            .unwrap()
            .to_string()
    );
    let (status, problem) = server.get("/v1/nothing").await;
    assert_eq!(
        (status, problem["code"].clone()),
        (404, serde_json::json!("not-found"))
    );
    let (status, problem) = server.get("/v1/streams/task-404/events").await;
    assert_eq!(
        (status, problem["code"].clone()),
        (404, serde_json::json!("stream-not-found"))
    );
    let response = server
        .client
        .delete(server.url("/v1/head"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    server.stop().await;
}
