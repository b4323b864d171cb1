// Goal: a subscriber whose PostgreSQL connections are killed mid-stream (its LISTEN connection
// and its pooled readers) loses nothing and repeats nothing. Method: one store appends 3,000
// events one at a time while a second store, tagged with its own application_name,
// subscribes; a killer terminates every backend of the subscriber's store every 150 ms with
// pg_terminate_backend. The subscription must deliver positions 1..=3000 exactly once, in
// order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use annal_core::{EventType, ExpectedVersion, Filter, NewEvent, Position, Store, StreamId};
use annal_postgres::PostgresStore;
use futures::StreamExt;
use serde_json::json;

use annal_testkit::pg_cluster::{cluster, with_param};

const EVENTS: u64 = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_subscriber_connections_lose_nothing() {
    let url = cluster().fresh_database().await;
    let writer = PostgresStore::connect(&url).await.unwrap();
    let reader = PostgresStore::connect(&with_param(&url, "application_name", "annal-sub"))
        .await
        .unwrap();
    let mut subscription = reader
        .subscribe(Position::START, Filter::all())
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicI64::new(0));
    let killer = {
        let (stop, killed) = (Arc::clone(&stop), Arc::clone(&killed));
        let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let row = admin
                    .query_one(
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) \
                         FROM pg_stat_activity \
                         WHERE application_name = 'annal-sub' AND datname = current_database()",
                        &[],
                    )
                    .await
                    .unwrap();
                killed.fetch_add(row.get::<_, i64>(0), Ordering::Relaxed);
            }
        })
    };
    let appender = tokio::spawn(async move {
        let stream = StreamId::new("agent-1").unwrap();
        for n in 0..EVENTS {
            let event = NewEvent::new(EventType::new("agent:step").unwrap(), json!({ "n": n }));
            writer
                .append(&stream, ExpectedVersion::Any, vec![event])
                .await
                .unwrap();
        }
    });

    let consume = async {
        let mut next = 1;
        while next <= EVENTS {
            let event = subscription
                .next()
                .await
                .expect("the subscription ended")
                .expect("the subscription failed");
            assert_eq!(
                event.position,
                Position(next),
                "delivered out of order or twice"
            );
            assert_eq!(event.payload.to_value()["n"], next - 1);
            next += 1;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), consume)
        .await
        .expect("the subscriber stalled");
    appender.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    killer.await.unwrap();
    let killed = killed.load(Ordering::Relaxed);
    println!("terminated {killed} backends of the subscriber");
    assert!(
        killed >= 5,
        "the killer must have hit the subscriber repeatedly ({killed})"
    );
}
