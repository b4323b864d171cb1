//! Projections and the run ledger over HTTP: the answers `annal project` gives, and runs
//! recorded and listed through the API.

use annal_swarm::ledger::{RunLedger, TaskIntent};
use serde_json::json;

use crate::harness::{Server, status_and_json};

#[tokio::test]
async fn projections_answer_the_cli_queries_and_follow_new_events() {
    let server = Server::start().await;
    for (agent, domain) in [("agent-1", "backend"), ("agent-2", "docs")] {
        let spawned = json!({"events": [{"type": "agent:spawned", "payload":
            {"agentId": agent, "role": "coder", "domain": domain, "capabilities": []}}]});
        assert_eq!(server.append(agent, spawned).await.0, 200);
    }
    let (status, agents) = server.get("/v1/projections/agents?domain=docs").await;
    assert_eq!(status, 200, "{agents}");
    assert_eq!(agents["agents"].as_array().unwrap().len(), 1);
    assert_eq!(agents["agents"][0]["id"], "agent-2");
    assert_eq!(agents["checkpoint"], 2);
    let spawned = json!({"events": [{"type": "agent:spawned", "payload":
        {"agentId": "agent-3", "role": "r", "domain": "docs", "capabilities": []}}]});
    server.append("agent-3", spawned).await;
    let (_, agents) = server
        .get("/v1/projections/agents?domain=docs&limit=5")
        .await;
    assert_eq!(agents["agents"].as_array().unwrap().len(), 2);
    assert_eq!(agents["checkpoint"], 3);
    let (status, bad) = server.get("/v1/projections/agents?status=sleepy").await;
    assert_eq!(
        (status, bad["code"].clone()),
        (400, json!("invalid-parameter"))
    );
    let (status, tasks) = server.get("/v1/projections/tasks?status=failed").await;
    assert_eq!((status, tasks["tasks"].clone()), (200, json!([])));
    let (status, memory) = server.get("/v1/projections/memory?top=3").await;
    assert_eq!((status, memory["memories"].clone()), (200, json!([])));
    server.stop().await;
}

#[tokio::test]
async fn runs_are_recorded_listed_and_measured() {
    let server = Server::start().await;
    let ledger = RunLedger::new(server.store.clone());
    for task in ["t-1", "t-2", "t-1"] {
        let mut run = ledger.create_event(task, TaskIntent::Feature, "h");
        run.outcome_accepted = Some(true);
        let response = server
            .client
            .post(server.url("/v1/runs"))
            .json(&run)
            .send()
            .await
            .unwrap();
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, by_task) = server.get("/v1/runs?task=t-1").await;
    assert_eq!(by_task.as_array().unwrap().len(), 2);
    let (_, recent) = server.get("/v1/runs?recent=1").await;
    assert_eq!(recent[0]["taskId"], "t-1");
    let (_, ranged) = server.get("/v1/runs?since=0").await;
    assert_eq!(ranged.as_array().unwrap().len(), 3);
    let (status, metrics) = server.get("/v1/runs/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    let (status, _) = server.get("/v1/runs/violations").await;
    assert_eq!(status, 200);
    let (status, both) = server.get("/v1/runs?task=t-1&recent=2").await;
    assert_eq!(status, 400, "{both}");
    server.stop().await;
}

#[tokio::test]
async fn a_time_range_holding_more_runs_than_one_answer_may_is_refused() {
    let server = Server::start().await;
    let ledger = RunLedger::new(server.store.clone());
    let runs: Vec<_> = (0..10_200)
        .map(|n| ledger.create_event(format!("t-{}", n % 50), TaskIntent::Feature, "h"))
        .collect();
    // Concurrent imports share group commits.
    let imports = runs.chunks(200).map(|chunk| ledger.import(chunk));
    for report in futures::future::join_all(imports).await {
        assert_eq!(report.unwrap().imported, 200);
    }
    let (status, body) = server.get("/v1/runs?since=0").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("10000"), "{body}");
    let (status, recent) = server.get("/v1/runs?recent=10000").await;
    assert_eq!(status, 200);
    assert_eq!(recent.as_array().unwrap().len(), 10_000);
    server.stop().await;
}
