//! Two `annal serve` processes on one PostgreSQL database, 32 HTTP clients appending through
//! each and an SSE subscriber on each: every acknowledged event reaches both subscribers
//! exactly once, in position order, at the position its acknowledgment named, and the
//! positions run 1..=n without a gap (positions are assigned in commit order across
//! processes, `docs/postgres-ordering.md`).

// Test code: a failed step should fail the test at once.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::{serve, subscribe};

const CLIENTS_PER_SERVER: usize = 32;
const APPENDS_PER_CLIENT: usize = 12;

/// One client: `APPENDS_PER_CLIENT` single-event appends to its own stream through `base`;
/// returns each acknowledged (position, id).
async fn append(base: String, tag: String) -> Vec<(u64, String)> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut acked = Vec::new();
    for i in 0..APPENDS_PER_CLIENT {
        let id = format!("{tag}-{i}");
        let body = json!({"events": [{"id": id, "type": "pg:tick", "payload": {"i": i}}]});
        let url = format!("{base}/v1/streams/{tag}/events");
        let response = http.post(&url).json(&body).send().await.unwrap();
        assert_eq!(response.status(), 200, "append {id}");
        let answer: Value = response.json().await.unwrap();
        let position = answer["events"][0]["position"].as_u64().unwrap();
        acked.push((position, id));
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_with_32_clients_each_deliver_every_acknowledged_event_to_both() {
    let url = annal_testkit::pg_cluster::cluster()
        .fresh_database_url()
        .await;
    let (first, second) = (serve(&url), serve(&url));
    let (first_base, second_base) = (first.base.clone(), second.base.clone());
    let total = 2 * CLIENTS_PER_SERVER * APPENDS_PER_CLIENT;
    let subscribers = [
        tokio::spawn(subscribe(first_base.clone(), total)),
        tokio::spawn(subscribe(second_base.clone(), total)),
    ];
    let clients: Vec<_> = (0..2 * CLIENTS_PER_SERVER)
        .map(|c| {
            let base = if c % 2 == 0 {
                &first_base
            } else {
                &second_base
            };
            tokio::spawn(append(base.clone(), format!("client-{c}")))
        })
        .collect();
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    for client in clients {
        for (position, id) in client.await.unwrap() {
            assert!(
                acked.insert(position, id).is_none(),
                "position {position} acknowledged twice"
            );
        }
    }
    let expected: Vec<u64> = (1..=total as u64).collect();
    assert_eq!(
        acked.keys().copied().collect::<Vec<_>>(),
        expected,
        "positions without a gap"
    );
    for subscriber in subscribers {
        let seen = subscriber.await.unwrap();
        let positions: Vec<u64> = seen.iter().map(|(position, _)| *position).collect();
        assert_eq!(positions, expected, "each event once, in position order");
        let seen: BTreeMap<u64, String> = seen.into_iter().collect();
        assert_eq!(
            seen, acked,
            "every acknowledged event at its acknowledged position"
        );
    }
    drop((first, second));
}
