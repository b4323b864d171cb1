//! Following other processes' commits: `LISTEN` on a dedicated connection outside the pool,
//! backed by a slow poll of the head row, while this process has a live subscriber.
//!
//! Only a subscription needs other processes' commits as they happen: the writer publishes this
//! process's own, and every read goes to the tables. So the connection is made when the first
//! subscription starts ([`Listener::wanted`] wakes it) and dropped [`LINGER_POLLS`] fallback
//! polls after the last one ended: a process that only appends pays for no notification it
//! would ignore (each one wakes the listening backend and this process). The store's shared
//! state holds one receiver of `head` and every live subscription one more, so subscriptions
//! are counted by the receivers.
//!
//! A notification is only a wake-up: it carries the new head, which this task publishes on the
//! store's watch channel, and subscribers then read the table ([`annal_core::follow`]).
//! Invariant: the published head is always a committed position (a writer notifies inside its
//! transaction, and PostgreSQL delivers notifications only after the commit), so a subscriber
//! woken by it finds the events up to it readable. A notification lost with a connection is
//! made up for by reading the head right after every (re)`LISTEN`, and by the fallback poll.

use std::sync::Arc;
use std::time::{Duration, Instant};

use annal_core::Position;
use deadpool_postgres::Pool;
use futures::StreamExt;
use tokio::sync::{Notify, watch};
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::read;
use crate::retry::read_with_retry;
use crate::schema::CHANNEL;
use crate::writer::publish;

/// The longest pause between reconnection attempts.
const RECONNECT_PAUSE_MAX: Duration = Duration::from_secs(2);

/// How many fallback polls the connection stays for after the last subscription ended (10 s by
/// default), so a subscriber that comes back (a dashboard reloading) finds it still listening.
const LINGER_POLLS: u32 = 10;

/// What the listener task needs besides the connection settings.
pub(crate) struct Listener {
    pub(crate) pool: Pool,
    pub(crate) head: Arc<watch::Sender<Position>>,
    /// Notified by every new subscription, after it took its receiver of `head`.
    pub(crate) wanted: Arc<Notify>,
    pub(crate) poll_interval: Duration,
}

/// How one connection's life ended.
enum Ended {
    /// Every receiver of `head` is gone: the store is closed.
    StoreGone,
    /// The connection was lost, or never made.
    Lost,
    /// No subscription for [`LINGER_POLLS`] polls.
    Unwanted,
}

/// Runs until every receiver of `head` is gone: listens while a subscription lives,
/// reconnecting after a lost connection.
pub(crate) async fn run(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    listener: Listener,
) {
    let head = &listener.head;
    let mut pause = Duration::from_millis(20);
    loop {
        if !has_subscribers(head) {
            tokio::select! {
                () = listener.wanted.notified() => continue,
                () = head.closed() => return,
            }
        }
        match listen(&config, &tls, &listener).await {
            Ended::StoreGone => return,
            Ended::Unwanted => continue,
            Ended::Lost => {}
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = head.closed() => return,
        }
        pause = (pause * 2).min(RECONNECT_PAUSE_MAX);
    }
}

/// Whether a subscription holds a receiver of `head`, besides the store's own.
fn has_subscribers(head: &watch::Sender<Position>) -> bool {
    head.receiver_count() > 1
}

/// One connection's life: until the store is gone, the connection is lost, or no
/// subscription was left for [`LINGER_POLLS`] polls.
async fn listen(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    listener: &Listener,
) -> Ended {
    let Listener {
        pool,
        head,
        poll_interval,
        ..
    } = listener;
    let Ok((client, mut connection)) = config.connect(tls.clone()).await else {
        return Ended::Lost;
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
        return Ended::Lost;
    }
    // Listening from here on; whatever committed before is caught by reading the head now.
    let mut ticker = tokio::time::interval(*poll_interval);
    let mut idle_since = None;
    let linger = *poll_interval * LINGER_POLLS;
    let ended = loop {
        tokio::select! {
            _ = &mut driver => break Ended::Lost,
            _ = ticker.tick() => poll(pool, head).await,
            () = head.closed() => break Ended::StoreGone,
        }
        if has_subscribers(head) {
            idle_since = None;
        } else if idle_since.get_or_insert_with(Instant::now).elapsed() >= linger {
            break Ended::Unwanted;
        }
    };
    driver.abort();
    ended
}

/// Publishes the head row's value; a failure waits for the next tick.
async fn poll(pool: &Pool, head: &watch::Sender<Position>) {
    if let Ok(position) = read_with_retry(pool, "reading the head", read::head).await {
        publish(head, position);
    }
}
