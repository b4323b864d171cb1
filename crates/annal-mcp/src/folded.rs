//! The swarm projections held in memory by a server and caught up to the store's head before
//! each answer, so every answer reflects every event committed before the tool was called.
//!
//! Nothing is saved: a server on a read-only store must not write, and the projections are
//! cheap to fold again when a server starts.
//!
//! Invariant: the state includes exactly the events up to `checkpoint`, each once, in
//! position order.

use annal_core::{Position, Projection, ReadError, Store};
use futures::StreamExt;
use tokio::sync::{Mutex, MutexGuard};

/// A projection's state and the last position folded into it.
#[derive(Default)]
pub(crate) struct Folded<P> {
    pub(crate) state: P,
    pub(crate) checkpoint: Position,
}

/// One projection shared by every session of a server.
pub(crate) struct Shared<P>(Mutex<Folded<P>>);

impl<P: Projection> Shared<P> {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(Folded::default()))
    }

    /// The projection caught up to the head the store reports now.
    pub(crate) async fn caught_up(
        &self,
        store: &dyn Store,
    ) -> Result<MutexGuard<'_, Folded<P>>, ReadError> {
        let mut folded = self.0.lock().await;
        let head = store.head().await?;
        if head <= folded.checkpoint {
            return Ok(folded);
        }
        let mut events = store.read_all(folded.checkpoint.next()).await?;
        while let Some(event) = events.next().await {
            let event = event?;
            if event.position > head {
                break;
            }
            if event.position > folded.checkpoint {
                folded.state.apply(&event);
                folded.checkpoint = event.position;
            }
        }
        // Positions become visible as a gap-free prefix, so everything up to `head` that is
        // still readable has been folded; events removed by retention are not waited for.
        folded.checkpoint = folded.checkpoint.max(head);
        Ok(folded)
    }
}
