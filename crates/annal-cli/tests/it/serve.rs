//! `annal serve` as a process: acknowledged appends survive SIGKILL on every backend (10 kills
//! while clients append; every 2xx-acknowledged event is stored afterwards and no batch is
//! partial), SIGTERM
//! finishes in-flight appends and releases the store, and two servers on one PostgreSQL database
//! each deliver every event appended through either, once, in position order.

// Test code: a failed step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

/// A running `annal serve` and its base URL.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) base: String,
}

/// A failing test still stops the server it started.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `annal serve` on `store`, on a free loopback port.
pub(crate) fn serve(store: &str) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_annal"))
        .args([
            "--store",
            store,
            "--json",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let first: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line:?}"));
    Served {
        child,
        base: first["listening"].as_str().unwrap().to_owned(),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Every batch sent, by first id: its ids, and whether it was acknowledged.
type Sent = Arc<Mutex<Vec<(Vec<String>, bool)>>>;

async fn append_until_error(base: String, client_idx: usize, round: usize, sent: Sent) {
    let http = client();
    for batch_idx in 0.. {
        let size = 1 + (batch_idx + client_idx) % 4;
        let ids: Vec<String> = (0..size)
            .map(|i| format!("r{round}-c{client_idx}-b{batch_idx}-{i}"))
            .collect();
        let events: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "type": "crash:tick", "payload": {"round": round}}))
            .collect();
        let url = format!("{base}/v1/streams/c-{client_idx}/events");
        let answer = http
            .post(&url)
            .json(&json!({"events": events}))
            .send()
            .await;
        let acknowledged = matches!(&answer, Ok(response) if response.status().is_success());
        sent.lock().unwrap().push((ids, acknowledged));
        if !acknowledged {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_appends_survive_ten_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("annal.db").to_string_lossy().into_owned();
    survives_ten_sigkills(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_appends_survive_ten_sigkills_on_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("ndjson:{}", dir.path().join("store").display());
    survives_ten_sigkills(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_appends_survive_ten_sigkills_on_postgres() {
    let url = annal_testkit::pg_cluster::cluster()
        .fresh_database_url()
        .await;
    survives_ten_sigkills(&url).await;
}

/// Ten rounds of four clients appending batches of one to four events through `annal serve`
/// on `store`, each round ended by SIGKILL of the server at a different moment; then every
/// acknowledged batch must be stored whole at consecutive positions, and no batch partly.
async fn survives_ten_sigkills(store: &str) {
    let store = store.to_owned();
    let sent: Sent = Arc::default();
    for round in 0..10 {
        let mut served = serve(&store);
        let clients: Vec<_> = (0..4)
            .map(|c| {
                tokio::spawn(append_until_error(
                    served.base.clone(),
                    c,
                    round,
                    sent.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(150 + 37 * round as u64)).await;
        served.child.kill().unwrap(); // SIGKILL
        served.child.wait().unwrap();
        for client in clients {
            client.await.unwrap();
        }
    }
    let store = annal::open(&store, annal::Access::Read).await.unwrap();
    let events = annal::collect(store.read_all(annal::Position::START).await.unwrap())
        .await
        .unwrap();
    let stored: HashMap<String, u64> = events
        .iter()
        .map(|event| (event.id.to_string(), event.position.0))
        .collect();
    let sent = sent.lock().unwrap();
    let acknowledged = sent.iter().filter(|(_, ack)| *ack).count();
    assert!(
        acknowledged > 40,
        "the clients must get appends in ({acknowledged})"
    );
    for (ids, ack) in sent.iter() {
        let present: Vec<&String> = ids.iter().filter(|id| stored.contains_key(*id)).collect();
        if *ack {
            assert_eq!(
                present.len(),
                ids.len(),
                "acknowledged batch {ids:?} lost events"
            );
        } else {
            assert!(
                present.is_empty() || present.len() == ids.len(),
                "batch {ids:?} is partial: {present:?}"
            );
        }
        if present.len() == ids.len() {
            let positions: Vec<u64> = ids.iter().map(|id| stored[id]).collect();
            assert!(
                positions.windows(2).all(|w| w[1] == w[0] + 1),
                "{ids:?} {positions:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_appends_and_releases_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("annal.db").to_string_lossy().into_owned();
    let served = serve(&store);
    let sent: Sent = Arc::default();
    let writer = tokio::spawn(append_until_error(served.base.clone(), 0, 0, sent.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = Command::new("kill")
        .args(["-TERM", &served.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut served = served;
    let exit = tokio::task::spawn_blocking(move || served.child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    writer.await.unwrap();
    // The lock is free at once, and every acknowledged event is there.
    let store = annal::open_with(
        &annal::Location::parse(&store).unwrap(),
        annal::OpenOptions::write(),
    )
    .await
    .unwrap();
    let stored: HashSet<String> =
        annal::collect(store.read_all(annal::Position::START).await.unwrap())
            .await
            .unwrap()
            .into_iter()
            .map(|event| event.id.to_string())
            .collect();
    for (ids, ack) in sent.lock().unwrap().iter().filter(|(_, ack)| *ack) {
        assert!(*ack && ids.iter().all(|id| stored.contains(id)));
    }
}

/// Reads `n` events (position, id) from an SSE subscription from the start at `base`.
pub(crate) async fn subscribe(base: String, n: usize) -> Vec<(u64, String)> {
    let response = client_without_timeout()
        .get(format!("{base}/v1/subscribe?from=0"))
        .send()
        .await
        .unwrap();
    let mut events = response.bytes_stream().eventsource();
    let mut seen = Vec::new();
    while seen.len() < n {
        let event = tokio::time::timeout(Duration::from_secs(30), events.next())
            .await
            .expect("every event arrives")
            .unwrap()
            .unwrap();
        let data: Value = serde_json::from_str(&event.data).unwrap();
        seen.push((
            event.id.parse().unwrap(),
            data["id"].as_str().unwrap().to_owned(),
        ));
    }
    seen
}

fn client_without_timeout() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgres_database_deliver_every_event_once_in_order() {
    let url = annal_testkit::pg_cluster::cluster()
        .fresh_database_url()
        .await;
    let mut first = serve(&url);
    let mut second = serve(&url);
    const PER_WRITER: usize = 20;
    let total = 4 * PER_WRITER;
    let subscribers = [
        tokio::spawn(subscribe(first.base.clone(), total)),
        tokio::spawn(subscribe(second.base.clone(), total)),
    ];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let base = if w % 2 == 0 { first.base.clone() } else { second.base.clone() };
            tokio::spawn(async move {
                let http = client();
                for i in 0..PER_WRITER {
                    let body = json!({"events": [{"id": format!("w{w}-{i}"), "type": "pg:tick", "payload": {}}]});
                    let url = format!("{base}/v1/streams/s-{w}/events");
                    let response = http.post(&url).json(&body).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let expected: HashSet<String> = (0..4)
        .flat_map(|w| (0..PER_WRITER).map(move |i| format!("w{w}-{i}")))
        .collect();
    for subscriber in subscribers {
        let seen = subscriber.await.unwrap();
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "position order");
        let ids: HashSet<String> = seen.iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(ids.len(), total, "each event once");
        assert_eq!(ids, expected);
    }
    first.child.kill().unwrap();
    second.child.kill().unwrap();
    first.child.wait().unwrap();
    second.child.wait().unwrap();
}
