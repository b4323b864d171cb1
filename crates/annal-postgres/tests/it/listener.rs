// Goal: a process follows other processes' commits exactly while it has a live subscription. A
// process that only appends holds no `LISTEN` connection (every notification would wake it for
// nothing); a subscription starts one, it is dropped some polls after the last subscription
// ended, and a later subscription starts it again and receives what other processes commit.
// Method: two stores on one database stand for two processes, one subscribing with a short
// fallback poll, one appending; the listening connections are counted in `pg_stat_activity`.

use std::sync::Arc;
use std::time::Duration;

use annal_core::{ExpectedVersion, Filter, Position, Store};
use annal_postgres::{PostgresOptions, PostgresStore};
use annal_testkit::fixtures::{numbered, stream};
use annal_testkit::pg_cluster::cluster;
use futures::StreamExt;
use tokio_postgres::NoTls;

/// The sessions of database `url` whose last statement was a `LISTEN`.
async fn listeners(url: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN %'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Waits up to 10 s for `listeners(url)` to be `n`.
async fn until_listeners(url: &str, n: i64) {
    for _ in 0..200 {
        if listeners(url).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} sessions listen, not {n}", listeners(url).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_process_with_a_subscription_listens() {
    let url = cluster().fresh_database().await;
    let options = PostgresOptions::new().poll_interval(Duration::from_millis(50));
    let follower: Arc<dyn Store> = Arc::new(
        PostgresStore::connect_with(url.parse().unwrap(), options)
            .await
            .unwrap(),
    );
    let writer: Arc<dyn Store> = Arc::new(PostgresStore::connect(&url).await.unwrap());
    let s = stream("task-1");
    let append = |n: u64| {
        let writer = Arc::clone(&writer);
        let s = s.clone();
        async move {
            let event = numbered("task:noted", &format!("e{n}"), n);
            writer
                .append(&s, ExpectedVersion::Any, vec![event])
                .await
                .unwrap()
        }
    };
    append(1).await;
    // Give a listener that started anyway (the old behaviour) time to connect.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(listeners(&url).await, 0, "no subscription, no listener");

    for round in 0..2u64 {
        let from = follower.head().await.unwrap().next();
        let mut live = follower.subscribe(from, Filter::default()).await.unwrap();
        until_listeners(&url, 1).await;
        let written = append(2 + round).await;
        let event = tokio::time::timeout(Duration::from_secs(10), live.next())
            .await
            .unwrap_or_else(|_| panic!("round {round}: the other process's event never came"))
            .unwrap()
            .unwrap();
        assert_eq!(event.position, written.first_position);
        drop(live);
        // Ten polls of 50 ms after the last subscription ended, the connection goes.
        until_listeners(&url, 0).await;
    }
    assert_eq!(follower.head().await.unwrap(), Position(3));
}
