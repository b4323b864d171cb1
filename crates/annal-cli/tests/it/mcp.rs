//! The `annal` binary's two MCP transports on every backend: `annal mcp` over stdio (spawned as
//! an MCP client configuration would) and `/mcp` of `annal serve` over streamable HTTP, each on
//! a SQLite file, an NDJSON directory and a PostgreSQL database. An rmcp client lists the tools,
//! creates a task, reads it back through the projection and the history, and gets a tool error
//! for a bad call; the store it wrote is then checked from the outside.

// Test code: a failed step should fail the test at once.
#![allow(clippy::unwrap_used)]

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Value, json};

use crate::serve::serve;

type Client = RunningService<RoleClient, ()>;

/// The locations of a fresh store of each backend, and what keeps the files alive.
async fn every_backend() -> (Vec<(&'static str, String)>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("annal.db").display().to_string();
    let ndjson = format!("ndjson:{}", dir.path().join("ledger").display());
    let postgres = annal_testkit::pg_cluster::cluster()
        .fresh_database_url()
        .await;
    let stores = vec![
        ("sqlite", sqlite),
        ("ndjson", ndjson),
        ("postgres", postgres),
    ];
    (stores, dir)
}

/// `annal --store STORE mcp [--allow-writes]` as a child process speaking MCP on stdio.
async fn over_stdio(store: &str, allow_writes: bool) -> Client {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_annal"));
    command.args(["--store", store, "mcp"]);
    if allow_writes {
        command.arg("--allow-writes");
    }
    command.env("RUST_LOG", "warn");
    let transport = TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
        .0;
    ().serve(transport).await.unwrap()
}

async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object")
    };
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
    client.call_tool(params).await.unwrap()
}

async fn ok(client: &Client, tool: &str, arguments: Value) -> Value {
    let result = call(client, tool, arguments).await;
    assert_eq!(result.is_error, Some(false), "{tool}: {result:?}");
    result.structured_content.unwrap()
}

async fn tool_names(client: &Client) -> Vec<String> {
    let tools = client.list_all_tools().await.unwrap();
    tools.into_iter().map(|t| t.name.into_owned()).collect()
}

/// Creates a task through `client`, reads it back, and checks a bad call is a tool error.
async fn create_and_read_a_task(client: &Client, backend: &str) -> String {
    let created = ok(
        client,
        "task_create",
        json!({"type": "review", "description": format!("on {backend}")}),
    )
    .await;
    let task = created["taskId"].as_str().unwrap().to_owned();
    let status = ok(client, "task_status", json!({"taskId": task})).await;
    assert_eq!(status["description"], format!("on {backend}"), "{backend}");
    assert_eq!(status["status"], "pending", "{backend}");
    let read = ok(client, "events_read", json!({"stream": task})).await;
    assert_eq!(read["events"][0]["type"], "task:created", "{backend}");

    let missing = call(client, "task_status", json!({"taskId": "no-such-task"})).await;
    assert_eq!(missing.is_error, Some(true), "{backend}: {missing:?}");
    let bad = call(client, "events_read", json!({"stream": 42})).await;
    assert_eq!(bad.is_error, Some(true), "{backend}: {bad:?}");
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annal_mcp_over_stdio_reads_and_writes_every_backend() {
    let (stores, _dir) = every_backend().await;
    for (backend, store) in &stores {
        let writer = over_stdio(store, true).await;
        let names = tool_names(&writer).await;
        assert!(names.contains(&"events_append".to_owned()), "{backend}");
        let task = create_and_read_a_task(&writer, backend).await;
        writer.cancel().await.unwrap();

        // Read-only is the default: no state-changing tool is listed, and the task written by
        // the first process is there for the second.
        let reader = over_stdio(store, false).await;
        let names = tool_names(&reader).await;
        assert!(names.contains(&"task_status".to_owned()), "{backend}");
        for write_tool in [
            "events_append",
            "task_create",
            "memory_store",
            "agent_spawn",
        ] {
            assert!(
                !names.contains(&write_tool.to_owned()),
                "{backend}: {write_tool}"
            );
        }
        let status = ok(&reader, "task_status", json!({"taskId": task})).await;
        assert_eq!(status["description"], format!("on {backend}"), "{backend}");
        reader.cancel().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annal_serve_mcp_over_http_reads_and_writes_every_backend() {
    let (stores, _dir) = every_backend().await;
    for (backend, store) in &stores {
        let server = serve(store);
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", server.base));
        let transport = StreamableHttpClientTransport::from_config(config);
        let client: Client = ().serve(transport).await.unwrap();
        let task = create_and_read_a_task(&client, backend).await;
        client.cancel().await.unwrap();

        // What the tools wrote is in the store, as the HTTP API reads it.
        let url = format!("{}/v1/streams/{task}/events", server.base);
        let events: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        let events = events.as_array().unwrap();
        assert_eq!(events.len(), 1, "{backend}: {events:?}");
        assert_eq!(events[0]["type"], "task:created", "{backend}");
    }
}
