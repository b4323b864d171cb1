// Goal: streams are MCP resources: resources/list names them as annal://streams/{id},
// resources/read returns a stream's version and newest events, an unknown stream is a
// resource-not-found error, and a subscribed client is told when its stream changes (and only
// then), whoever appended. Method: an rmcp client that negotiates protocol 2025-11-25 (where
// resources/subscribe lives) and records update notifications; events appended through the
// store directly, as another process would.

// Test code: a failed step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use annal::{EventType, ExpectedVersion, NewEvent, Store, StreamId};
use annal_mcp::{AnnalMcp, Config};
use rmcp::model::{
    ClientConfig, ProtocolVersion, ReadResourceRequestParams, ResourceContents,
    ResourceUpdatedNotificationParam, SubscribeRequestParams,
};
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::sqlite;

#[derive(Clone)]
struct Watching(mpsc::UnboundedSender<String>);

impl ClientHandler for Watching {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.protocol_version = ProtocolVersion::V_2025_11_25;
        info
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(params.uri);
    }
}

async fn append(store: &dyn Store, stream: &str, n: u64) {
    let event = NewEvent::new(EventType::new("note:added").unwrap(), json!({"n": n}));
    let stream = StreamId::new(stream).unwrap();
    store
        .append(&stream, ExpectedVersion::Any, vec![event])
        .await
        .unwrap();
}

#[tokio::test]
async fn streams_are_resources_and_subscribers_hear_of_changes() {
    let backend = sqlite().await;
    let store = backend.store.clone();
    append(&*store, "notes-1", 1).await;
    append(&*store, "notes-2", 1).await;
    let server = AnnalMcp::new(store.clone(), Config::default(), None);
    let (client_side, server_side) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_side).await {
            let _ = running.waiting().await;
        }
    });
    let (updates, mut heard) = mpsc::unbounded_channel();
    let client = Watching(updates).serve(client_side).await.unwrap();

    let mut uris: Vec<String> = client
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    uris.sort();
    assert_eq!(uris, ["annal://streams/notes-1", "annal://streams/notes-2"]);

    let read = client
        .read_resource(ReadResourceRequestParams::new("annal://streams/notes-1"))
        .await
        .unwrap();
    let ResourceContents::TextResourceContents { text, .. } = &read.contents[0] else {
        panic!("a stream reads as text")
    };
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(body["version"], 1);
    assert_eq!(body["events"][0]["payload"]["n"], 1);
    let missing = client
        .read_resource(ReadResourceRequestParams::new("annal://streams/none"))
        .await;
    assert!(
        format!("{missing:?}").contains("no such stream"),
        "{missing:?}"
    );

    #[allow(deprecated)] // resources/subscribe is the way before protocol 2026-07-28
    client
        .subscribe(SubscribeRequestParams::new("annal://streams/notes-1"))
        .await
        .unwrap();
    append(&*store, "notes-2", 2).await;
    append(&*store, "notes-1", 2).await;
    let uri = tokio::time::timeout(Duration::from_secs(10), heard.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(uri, "annal://streams/notes-1");
    append(&*store, "notes-2", 3).await;
    let quiet = tokio::time::timeout(Duration::from_millis(300), heard.recv()).await;
    assert!(quiet.is_err(), "no notice for another stream: {quiet:?}");
    client.cancel().await.unwrap();
}
