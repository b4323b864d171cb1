//! Waiting for the fold, shared by the benchmarks and examples that measure a store at rest.

use std::time::{Duration, Instant};

/// Waits until the fold has counted (and posted) every event up to the head; returns the wait.
/// A schema without a fold (before version 3) is always at rest.
pub(crate) async fn until_folded(client: &tokio_postgres::Client) -> Duration {
    let started = Instant::now();
    loop {
        let done: bool = client
            .query_one(
                "SELECT coalesce((SELECT value FROM meta WHERE key = 'counted'), \
                 (SELECT value FROM meta WHERE key = 'head')) \
                 = (SELECT value FROM meta WHERE key = 'head')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if done {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
