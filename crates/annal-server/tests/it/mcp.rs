//! `/mcp` behind the server's tokens: the official rmcp client connects over streamable HTTP;
//! without a token it is refused, a read token lists and calls the reading tools but gets a
//! `forbidden` tool error for state-changing ones, a read+append token changes state, and a
//! token limited to some streams is refused (the tools answer across streams).

use annal_server::{Scope, ServerConfig, TokenFile};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::harness::Server;

async fn connect(server: &Server, token: &str) -> Result<RunningService<RoleClient, ()>, String> {
    let config =
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")).auth_header(token);
    let transport = StreamableHttpClientTransport::from_config(config);
    ().serve(transport)
        .await
        .map_err(|error| format!("{error:?}"))
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> (bool, Value) {
    let Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap();
    (
        result.is_error == Some(true),
        result.structured_content.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn mcp_over_http_obeys_the_token_scopes() {
    let mut secrets = Vec::new();
    let server = Server::start_with(ServerConfig::default(), |dir| {
        let path = dir.join("tokens.json");
        let mut file = TokenFile::default();
        for (scopes, streams) in [
            (vec![Scope::Read], vec![]),
            (vec![Scope::Read, Scope::Append], vec![]),
            (vec![Scope::Read, Scope::Append], vec!["task-*".to_owned()]),
        ] {
            secrets.push(file.create("t", scopes, streams, 0).unwrap().secret);
        }
        file.save(&path).unwrap();
        Some(path)
    })
    .await;
    let (read, write, limited) = (&secrets[0], &secrets[1], &secrets[2]);

    let response = server
        .client
        .post(server.url("/mcp"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(connect(&server, "not-a-token").await.is_err());
    assert!(
        connect(&server, limited).await.is_err(),
        "a stream-limited token is refused"
    );

    let reader = connect(&server, read).await.unwrap();
    let writer = connect(&server, write).await.unwrap();
    assert_eq!(reader.list_all_tools().await.unwrap().len(), 28);
    let (refused, error) = call(
        &reader,
        "task_create",
        json!({"type": "t", "description": "d"}),
    )
    .await;
    assert!(refused);
    assert_eq!(error["error"], "forbidden");
    assert_eq!(server.store.head().await.unwrap().0, 0, "nothing written");

    let (failed, created) = call(
        &writer,
        "task_create",
        json!({"type": "t", "description": "via /mcp"}),
    )
    .await;
    assert!(!failed, "{created}");
    let task = created["taskId"].as_str().unwrap();
    let (failed, status) = call(&reader, "task_status", json!({"taskId": task})).await;
    assert!(!failed);
    assert_eq!(status["description"], "via /mcp");
    let (_, events) = call(&reader, "events_read", json!({"stream": task})).await;
    assert_eq!(events["events"][0]["type"], "task:created");
    let _ = reader.cancel().await;
    let _ = writer.cancel().await;
    server.stop().await;
}
