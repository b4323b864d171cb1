//! Starts a server over a real socket and gives tests a client for it.

use std::sync::Arc;
use std::time::Duration;

use annal_core::Store;
use annal_server::{Auth, ServerConfig, TokenSource};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A running server.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// A server without authentication.
    pub(crate) async fn start() -> Server {
        Self::start_with(ServerConfig::default(), |_| None).await
    }

    /// A server with `config`; `tokens` may write a token file into the temp dir and name it.
    pub(crate) async fn start_with(
        config: ServerConfig,
        tokens: impl FnOnce(&std::path::Path) -> Option<std::path::PathBuf>,
    ) -> Server {
        Self::start_at(None, config, tokens).await
    }

    /// A server over the store at `location` (`ndjson:DIR`, a `postgres://` URL; `{dir}` is
    /// replaced by the temp dir), or a SQLite file in the temp dir when `None`.
    pub(crate) async fn start_at(
        location: Option<&str>,
        mut config: ServerConfig,
        tokens: impl FnOnce(&std::path::Path) -> Option<std::path::PathBuf>,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let location = match location {
            Some(location) => location.replace("{dir}", &dir.path().to_string_lossy()),
            None => dir.path().join("annal.db").to_string_lossy().into_owned(),
        };
        let store: Arc<dyn Store> = annal::open(&location, annal::Access::Write).await.unwrap();
        config.listen = "127.0.0.1:0".parse().unwrap();
        let auth = match tokens(dir.path()) {
            Some(path) => Auth::Tokens(TokenSource::open(path).unwrap()),
            None => Auth::Open,
        };
        let listener = annal_server::bind(&config).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(annal_server::serve_until(
            listener,
            Arc::clone(&store),
            config,
            auth,
            async move {
                let _ = stopped.await;
            },
        ));
        Server {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            store,
            dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Appends `events` (JSON values) to `stream` and returns status and body.
    pub(crate) async fn append(&self, stream: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(&format!("/v1/streams/{stream}/events")))
            .json(&body)
            .send()
            .await
            .unwrap();
        status_and_json(response).await
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, Value) {
        status_and_json(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    /// Stops the server gracefully and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

pub(crate) async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// A one-event batch.
pub(crate) fn one(event_type: &str, payload: Value) -> Value {
    json!({"events": [{"type": event_type, "payload": payload}]})
}
