//! The shared tail: one reader per server follows the log and hands each new event, serialized
//! once, to every live subscriber that keeps up.
//!
//! Without it, each SSE subscriber ran its own store subscription, so every commit was read
//! from the store and serialized once per subscriber. Now one task reads, and subscribers take
//! shared frames from a bounded broadcast ring. The ring never blocks the reader: a subscriber
//! that falls more than a ring behind is told it lagged and drops back to reading the store
//! itself from the last position it delivered, then rejoins. So memory stays bounded, a slow
//! subscriber costs only itself, and delivery stays exactly once in position order:
//!
//! - catching up, a follower subscribes to the ring *before* reading the store, so every event
//!   is either in what the read returns (committed before the read ended) or in the ring
//!   (published after the follower joined), and nothing falls between the two;
//! - the follower skips anything at or below the last position it delivered, since the two
//!   sources overlap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use annal_core::{EventStream, Filter, Position, ReadError, RecordedEvent, Store};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// Frames the ring holds: how far a subscriber may fall behind the tail before it reads the
/// store itself.
const RING_FRAMES: usize = 4096;

/// How long the reader waits before following again after a failed store read.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// One event as subscribers send it.
#[derive(Debug)]
pub(crate) struct Frame {
    /// The event.
    pub(crate) event: RecordedEvent,
    /// Its whole SSE frame (`id:` its position, `data:` its JSON), built once and shared by
    /// every subscriber; or why it has none (which ends the streams that reach it).
    pub(crate) sse: Result<Bytes, String>,
}

impl Frame {
    fn new(event: RecordedEvent) -> Arc<Self> {
        let sse = sse_frame(&event).map_err(|error| error.to_string());
        Arc::new(Self { event, sse })
    }

    fn position(&self) -> u64 {
        self.event.position.0
    }
}

/// `id: POSITION\ndata: JSON\n\n`. Compact JSON has no line break (strings escape theirs), so
/// one `data:` line carries the whole event.
fn sse_frame(event: &RecordedEvent) -> serde_json::Result<Bytes> {
    let mut frame = format!("id: {}\ndata: ", event.position.0).into_bytes();
    serde_json::to_writer(&mut frame, event)?;
    frame.extend_from_slice(b"\n\n");
    Ok(Bytes::from(frame))
}

/// The running shared reader; dropping it does not stop the reader, the shutdown token does.
#[derive(Clone)]
pub(crate) struct Tail {
    store: Arc<dyn Store>,
    ring: broadcast::Sender<Arc<Frame>>,
    /// The last position each live follower delivered, for the lag `/metrics` reports; a
    /// follower's entry dies with it.
    delivered: Arc<Mutex<Vec<Weak<AtomicU64>>>>,
}

impl Tail {
    /// Starts the reader at the store's current head.
    pub(crate) async fn start(
        store: Arc<dyn Store>,
        shutdown: CancellationToken,
    ) -> Result<Self, ReadError> {
        let head = store.head().await?.0;
        let (ring, _) = broadcast::channel(RING_FRAMES);
        tokio::spawn(read(Arc::clone(&store), ring.clone(), head, shutdown));
        Ok(Self {
            store,
            ring,
            delivered: Arc::default(),
        })
    }

    /// How far the furthest-behind live follower is behind `head`, in positions (0 with no
    /// follower); forgets followers that are gone.
    pub(crate) fn most_behind(&self, head: u64) -> u64 {
        let Ok(mut delivered) = self.delivered.lock() else {
            return 0;
        };
        delivered.retain(|last| last.strong_count() > 0);
        delivered
            .iter()
            .filter_map(Weak::upgrade)
            .map(|last| head.saturating_sub(last.load(Ordering::Relaxed)))
            .max()
            .unwrap_or(0)
    }

    /// Every event after position `after`, once each, in position order, then live. The stream
    /// ends when the server shuts down, or after yielding an error.
    pub(crate) fn follow(
        &self,
        after: u64,
    ) -> impl Stream<Item = Result<Arc<Frame>, ReadError>> + Send + use<> {
        let delivered = Arc::new(AtomicU64::new(after));
        if let Ok(mut followers) = self.delivered.lock() {
            followers.push(Arc::downgrade(&delivered));
        }
        let follower = Follower {
            tail: self.clone(),
            last: after,
            delivered,
            phase: Phase::Behind,
        };
        futures::stream::unfold(follower, |mut follower| async move {
            let item = follower.next().await?;
            Some((item, follower))
        })
    }
}

/// The reader task: follows the store from `head` and publishes every event to the ring.
async fn read(
    store: Arc<dyn Store>,
    ring: broadcast::Sender<Arc<Frame>>,
    mut last: u64,
    shutdown: CancellationToken,
) {
    loop {
        let followed = async {
            let mut events = store
                .subscribe(Position(last.saturating_add(1)), Filter::default())
                .await?;
            while let Some(event) = events.next().await {
                let event = event?;
                last = event.position.0;
                // No receiver is not an error: the ring is there for the next subscriber.
                let _ = ring.send(Frame::new(event));
            }
            Ok::<(), ReadError>(())
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            ended = followed => if let Err(error) = ended {
                tracing::error!(%error, "the shared tail's store read failed; following again");
            },
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RETRY_AFTER) => {},
        }
    }
}

/// Where a follower takes its next event from.
enum Phase {
    /// Must read the store from its last position.
    Behind,
    /// Reading the store; the ring receiver joined before the read began.
    CatchingUp {
        ring: broadcast::Receiver<Arc<Frame>>,
        events: EventStream,
    },
    /// Taking frames from the ring.
    Live(broadcast::Receiver<Arc<Frame>>),
}

/// One subscriber's position in the log and where it reads from.
struct Follower {
    tail: Tail,
    last: u64,
    /// `last`, where [`Tail::most_behind`] reads it.
    delivered: Arc<AtomicU64>,
    phase: Phase,
}

impl Follower {
    /// The next event after `last`; `None` when the tail stopped.
    async fn next(&mut self) -> Option<Result<Arc<Frame>, ReadError>> {
        loop {
            // Taken out and put back, so each arm owns what it moves on to.
            let frame = match std::mem::replace(&mut self.phase, Phase::Behind) {
                Phase::Behind => {
                    let ring = self.tail.ring.subscribe();
                    let from = Position(self.last.saturating_add(1));
                    match self.tail.store.read_all(from).await {
                        Ok(events) => self.phase = Phase::CatchingUp { ring, events },
                        Err(error) => return Some(Err(error)),
                    }
                    continue;
                }
                Phase::CatchingUp { ring, mut events } => match events.next().await {
                    Some(Ok(event)) => {
                        self.phase = Phase::CatchingUp { ring, events };
                        Frame::new(event)
                    }
                    Some(Err(error)) => return Some(Err(error)),
                    None => {
                        self.phase = Phase::Live(ring);
                        continue;
                    }
                },
                Phase::Live(mut ring) => match ring.recv().await {
                    Ok(frame) => {
                        self.phase = Phase::Live(ring);
                        frame
                    }
                    // Left as `Behind`: read the store from `last`, then rejoin.
                    Err(RecvError::Lagged(_)) => {
                        crate::metrics::subscriber_fell_behind();
                        continue;
                    }
                    Err(RecvError::Closed) => return None,
                },
            };
            if frame.position() > self.last {
                self.last = frame.position();
                self.delivered.store(self.last, Ordering::Relaxed);
                return Some(Ok(frame));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use annal_core::MemoryStore;
    use annal_core::{EventType, ExpectedVersion, NewEvent, StreamId};
    use serde_json::json;

    use super::*;

    async fn append(store: &MemoryStore, stream: &str, events: usize) {
        let batch = (0..events)
            .map(|n| NewEvent::new(EventType::new("t:step").unwrap(), json!({ "n": n })))
            .collect();
        store
            .append(&StreamId::new(stream).unwrap(), ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }

    /// Takes `n` positions from `events`, failing if one does not come within a second.
    async fn positions(
        events: impl Stream<Item = Result<Arc<Frame>, ReadError>>,
        n: usize,
    ) -> Vec<u64> {
        let mut events = std::pin::pin!(events);
        let mut taken = Vec::new();
        while taken.len() < n {
            let next = tokio::time::timeout(Duration::from_secs(1), events.next()).await;
            let frame = next.expect("an event within a second").unwrap().unwrap();
            let sse = std::str::from_utf8(frame.sse.as_ref().unwrap()).unwrap();
            let id = format!("id: {}\ndata: {{", frame.position());
            assert!(sse.starts_with(&id) && sse.ends_with("}\n\n"), "{sse}");
            assert!(
                sse.contains("t:step") && sse.trim_end().lines().count() == 2,
                "{sse}"
            );
            taken.push(frame.position());
        }
        taken
    }

    #[tokio::test]
    async fn a_follower_that_falls_a_ring_behind_reads_the_store_and_misses_nothing() {
        let store = Arc::new(MemoryStore::new());
        append(&store, "before", 10).await;
        let tail = Tail::start(store.clone(), CancellationToken::new())
            .await
            .unwrap();
        // Both followers join now; the slow one is polled only after three rings' worth.
        let slow = tail.follow(3);
        let mut slow = std::pin::pin!(slow);
        assert_eq!(positions(&mut slow, 7).await, (4..=10).collect::<Vec<_>>());
        // Caught up: the slow follower now waits on the ring.
        let idle = tokio::time::timeout(Duration::from_millis(50), slow.next()).await;
        assert!(idle.is_err(), "nothing more to read yet");
        let quick = tail.follow(10);
        let mut quick = std::pin::pin!(quick);
        for round in 0..3 * RING_FRAMES / 512 {
            append(&store, &format!("s-{}", round % 7), 512).await;
            let wanted: Vec<u64> = (0..512).map(|n| 11 + (round * 512 + n) as u64).collect();
            assert_eq!(positions(&mut quick, 512).await, wanted);
        }
        let total = 10 + 3 * RING_FRAMES as u64;
        let expected: Vec<u64> = (11..=total).collect();
        assert_eq!(positions(slow, expected.len()).await, expected);
    }

    #[tokio::test]
    async fn the_lag_is_the_furthest_behind_live_follower_and_a_dropped_one_is_forgotten() {
        let store = Arc::new(MemoryStore::new());
        append(&store, "before", 10).await;
        let tail = Tail::start(store.clone(), CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(tail.most_behind(10), 0, "no follower, no lag");
        let mut slow = Box::pin(tail.follow(3));
        let quick = tail.follow(8);
        let mut quick = std::pin::pin!(quick);
        assert_eq!(tail.most_behind(10), 7);
        assert_eq!(positions(&mut quick, 2).await, [9, 10]);
        assert_eq!(tail.most_behind(10), 7, "the slow one still sets it");
        assert_eq!(positions(&mut slow, 4).await, [4, 5, 6, 7]);
        assert_eq!(tail.most_behind(10), 3);
        assert_eq!(positions(&mut slow, 3).await, [8, 9, 10]);
        assert_eq!(tail.most_behind(10), 0);
        append(&store, "after", 5).await;
        assert_eq!(positions(&mut quick, 5).await, [11, 12, 13, 14, 15]);
        assert_eq!(
            tail.most_behind(15),
            5,
            "the slow one has not taken them yet"
        );
        drop(slow);
        assert_eq!(tail.most_behind(15), 0, "a dropped follower is forgotten");
    }

    #[tokio::test]
    async fn followers_joining_while_writers_append_get_each_event_once_in_order() {
        let store = Arc::new(MemoryStore::new());
        let tail = Tail::start(store.clone(), CancellationToken::new())
            .await
            .unwrap();
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..400 {
                    append(&store, &format!("w-{}", n % 5), 1 + n % 3).await;
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut followers = Vec::new();
        for after in [0, 5, 50, 200] {
            tokio::task::yield_now().await;
            followers.push(tail.follow(after));
        }
        writer.await.unwrap();
        let total = store.head().await.unwrap().0;
        for (follower, after) in followers.into_iter().zip([0, 5, 50, 200]) {
            let expected: Vec<u64> = (after + 1..=total).collect();
            assert_eq!(positions(follower, expected.len()).await, expected);
        }
    }
}
