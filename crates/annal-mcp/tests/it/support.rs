// Shared helpers: open a store of each backend, connect an rmcp client to an AnnalMcp server,
// call tools and unwrap their structured answers.

// Test support: a failed set-up step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use annal::{Access, Store, open};
use annal_mcp::{AnnalMcp, Config};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use serde_json::Value;

/// A store of one backend and what keeps it alive.
pub(crate) struct TestStore {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) name: &'static str,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("annal.db").display().to_string();
    let store = open(&location, Access::Write).await.unwrap();
    TestStore {
        store,
        name: "sqlite",
        _dir: Some(dir),
    }
}

pub(crate) async fn ndjson() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let location = format!("ndjson:{}", dir.path().join("ledger").display());
    let store = open(&location, Access::Write).await.unwrap();
    TestStore {
        store,
        name: "ndjson",
        _dir: Some(dir),
    }
}

pub(crate) async fn postgres() -> TestStore {
    let url = annal_testkit::pg_cluster::cluster()
        .fresh_database_url()
        .await;
    let store = open(&url, Access::Write).await.unwrap();
    TestStore {
        store,
        name: "postgres",
        _dir: None,
    }
}

/// One store of every backend.
pub(crate) async fn every_backend() -> Vec<TestStore> {
    vec![sqlite().await, ndjson().await, postgres().await]
}

/// An rmcp client connected to a server over an in-memory duplex stream.
pub(crate) struct Client {
    pub(crate) service: RunningService<RoleClient, ()>,
}

/// Connects a client to a new server over `store`.
pub(crate) async fn connect(store: Arc<dyn Store>, allow_writes: bool) -> Client {
    let config = Config {
        allow_writes,
        ..Config::default()
    };
    connect_to(AnnalMcp::new(store, config, None)).await
}

/// Connects a client to a session of `server`.
pub(crate) async fn connect_to(server: AnnalMcp) -> Client {
    let (client_side, server_side) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_side).await {
            let _ = running.waiting().await;
        }
    });
    Client {
        service: ().serve(client_side).await.unwrap(),
    }
}

impl Client {
    /// Calls a tool with JSON arguments.
    pub(crate) async fn call(&self, tool: &str, arguments: Value) -> CallToolResult {
        let Value::Object(arguments) = arguments else {
            panic!("arguments must be an object")
        };
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        self.service.call_tool(params).await.unwrap()
    }

    /// Calls a tool that must succeed and returns its structured answer.
    pub(crate) async fn ok(&self, tool: &str, arguments: Value) -> Value {
        let result = self.call(tool, arguments.clone()).await;
        assert_eq!(
            result.is_error,
            Some(false),
            "{tool} {arguments}: {result:?}"
        );
        assert!(
            result.content.first().and_then(|c| c.as_text()).is_some(),
            "{tool} answers with a short text first"
        );
        result.structured_content.unwrap()
    }

    /// Calls a tool that must fail at tool level and returns its structured error.
    pub(crate) async fn err(&self, tool: &str, arguments: Value) -> Value {
        let result = self.call(tool, arguments.clone()).await;
        assert_eq!(
            result.is_error,
            Some(true),
            "{tool} {arguments}: {result:?}"
        );
        match result.structured_content {
            Some(value) => value,
            // Arguments that do not decode are refused by the SDK with a text-only error.
            None => serde_json::json!({
                "error": "arguments",
                "message": result.content[0].as_text().unwrap().text.clone(),
            }),
        }
    }

    /// The names of the listed tools.
    pub(crate) async fn tool_names(&self) -> Vec<String> {
        let tools = self.service.list_all_tools().await.unwrap();
        tools.into_iter().map(|t| t.name.into_owned()).collect()
    }
}
