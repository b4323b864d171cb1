//! Helpers for tests that need the fold (which counts events and widens time bounds behind the
//! commits) held back or caught up: a plain client, the watermark, and waits on both.

use std::time::Duration;

/// Connects a plain client to `url`, outside the store.
pub(crate) async fn plain(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Waits until `count` sessions of this database wait for a lock (the fold's statement and a
/// `DELETE` whose trigger waits both show as such).
pub(crate) async fn until_waiting(observer: &tokio_postgres::Client, count: i64) {
    for _ in 0..500 {
        let waiting: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
                 AND datname = current_database()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{count} sessions never waited for a lock");
}

/// The watermark and the head, from the database.
pub(crate) async fn watermark_and_head(observer: &tokio_postgres::Client) -> (i64, i64) {
    let row = observer
        .query_one(
            "SELECT (SELECT value FROM meta WHERE key = 'counted'), \
                    (SELECT value FROM meta WHERE key = 'head')",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// Waits until the fold has counted every event up to the head.
pub(crate) async fn until_counted(observer: &tokio_postgres::Client) {
    for _ in 0..500 {
        let (watermark, head) = watermark_and_head(observer).await;
        if watermark == head {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the fold never reached the head");
}

/// Holds the fold's lock (the `counted` row) in a transaction of `client` until it ends: events
/// appended meanwhile stay past the watermark.
pub(crate) async fn hold_fold(
    client: &mut tokio_postgres::Client,
) -> tokio_postgres::Transaction<'_> {
    let held = client.transaction().await.unwrap();
    held.execute(
        "SELECT value FROM meta WHERE key = 'counted' FOR UPDATE",
        &[],
    )
    .await
    .unwrap();
    held
}
