// Goal: the streamable-HTTP service works as annal serve mounts it at /mcp, on every backend:
// a token with the append scope may change state, a read-only token may read but gets a
// `forbidden` tool error for state-changing tools, and both see the same store. Method: serve
// `http_service` under axum on 127.0.0.1, connect two rmcp HTTP clients with different bearer
// tokens, and check the answers and the store.

// Test code: a failed step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use annal::Store;
use annal_mcp::{Config, WriteCheck, http_service};
use rmcp::ServiceExt;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::StreamableHttpServerConfig;
use serde_json::json;

use crate::support::{Client, every_backend};

/// Serves `store` at http://127.0.0.1:PORT/mcp; the token `writer` holds the append scope.
async fn serve(store: Arc<dyn Store>) -> String {
    let check: WriteCheck = Arc::new(|parts: &http::request::Parts| {
        parts
            .headers
            .get(http::header::AUTHORIZATION)
            .is_some_and(|value| value == "Bearer writer")
    });
    let config = Config {
        allow_writes: true,
        ..Config::default()
    };
    let service = http_service(store, config, check, StreamableHttpServerConfig::default());
    let app = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/mcp")
}

async fn client(url: &str, token: &str) -> Client {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(token);
    let transport = StreamableHttpClientTransport::from_config(config);
    Client {
        service: ().serve(transport).await.unwrap(),
    }
}

#[tokio::test]
async fn http_clients_write_with_the_append_scope_and_read_without_it() {
    for backend in every_backend().await {
        let url = serve(backend.store.clone()).await;
        let writer = client(&url, "writer").await;
        let reader = client(&url, "reader").await;
        assert_eq!(reader.tool_names().await.len(), 28, "{}", backend.name);

        let refused = reader
            .err("task_create", json!({"type": "t", "description": "d"}))
            .await;
        assert_eq!(refused["error"], "forbidden", "{}", backend.name);
        assert_eq!(backend.store.head().await.unwrap().0, 0, "nothing written");

        let created = writer
            .ok(
                "task_create",
                json!({"type": "t", "description": "over HTTP"}),
            )
            .await;
        let task = created["taskId"].as_str().unwrap();
        let status = reader.ok("task_status", json!({"taskId": task})).await;
        assert_eq!(status["description"], "over HTTP");
        assert_eq!(status["status"], "pending");
        let read = reader.ok("events_read", json!({"stream": task})).await;
        assert_eq!(read["events"][0]["type"], "task:created");
        writer.service.cancel().await.unwrap();
        reader.service.cancel().await.unwrap();
    }
}
