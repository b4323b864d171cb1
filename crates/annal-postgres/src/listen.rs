//! Following other processes' commits: `LISTEN` on a dedicated connection outside the pool,
//! backed by a slow poll of the head row.
//!
//! A notification is only a wake-up: it carries the new head, which this task publishes on the
//! store's watch channel, and subscribers then read the table ([`annal_core::follow`]).
//! Invariant: the published head is always a committed position (a writer notifies inside its
//! transaction, and PostgreSQL delivers notifications only after the commit), so a subscriber
//! woken by it finds the events up to it readable. A notification lost with a connection is
//! made up for by reading the head right after every (re)`LISTEN`, and by the fallback poll.

use std::sync::Arc;
use std::time::Duration;

use annal_core::Position;
use deadpool_postgres::Pool;
use futures::StreamExt;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::read;
use crate::retry::read_with_retry;
use crate::schema::CHANNEL;
use crate::writer::publish;

/// The longest pause between reconnection attempts.
const RECONNECT_PAUSE_MAX: Duration = Duration::from_secs(2);

/// Runs until every receiver of `head` is gone: listens, reconnecting after a lost connection.
pub(crate) async fn run(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    pool: Pool,
    head: Arc<watch::Sender<Position>>,
    poll_interval: Duration,
) {
    let mut pause = Duration::from_millis(20);
    loop {
        if listen(&config, &tls, &pool, &head, poll_interval).await {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = head.closed() => return,
        }
        pause = (pause * 2).min(RECONNECT_PAUSE_MAX);
    }
}

/// One connection's life. Returns `true` when the store is gone, `false` when the connection
/// was lost (or never made) and should be made again.
async fn listen(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    pool: &Pool,
    head: &Arc<watch::Sender<Position>>,
    poll_interval: Duration,
) -> bool {
    let Ok((client, mut connection)) = config.connect(tls.clone()).await else {
        return false;
    };
    let notified = Arc::clone(head);
    let mut driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(notification) = message
                && let Ok(position) = notification.payload().parse::<u64>()
            {
                publish(&notified, Position(position));
            }
        }
    });
    if client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .is_err()
    {
        driver.abort();
        return false;
    }
    // Listening from here on; whatever committed before is caught by reading the head now.
    let mut ticker = tokio::time::interval(poll_interval);
    let gone = loop {
        tokio::select! {
            _ = &mut driver => break false,
            _ = ticker.tick() => poll(pool, head).await,
            () = head.closed() => break true,
        }
    };
    driver.abort();
    gone
}

/// Publishes the head row's value; a failure waits for the next tick.
async fn poll(pool: &Pool, head: &watch::Sender<Position>) {
    if let Ok(position) = read_with_retry(pool, "reading the head", read::head).await {
        publish(head, position);
    }
}
