//! Shared test fixtures: a fresh store, ids, and the given/when/then harness for projections.
//!
//! Goal: keep each projection test to its events and its assertions. Method: `given` appends
//! events to a fresh MemoryStore, `when` appends more, and `then` folds every event into a
//! projection through the real ProjectionRunner (catch-up from the saved checkpoint).

use std::sync::Arc;

use annal_core::{MemoryStore, Projection, ProjectionRunner, Store, StreamId};
use annal_swarm::events::EventDraft;

pub(crate) fn store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

pub(crate) fn id(value: &str) -> StreamId {
    StreamId::new(value).unwrap()
}

/// Milliseconds after a fixed epoch, so tests read as a timeline.
pub(crate) fn t(offset_ms: i64) -> i64 {
    1_700_000_000_000 + offset_ms
}

pub(crate) struct Scenario {
    pub(crate) store: Arc<dyn Store>,
}

pub(crate) async fn append_all(store: &dyn Store, drafts: Vec<EventDraft>) {
    for draft in drafts {
        draft.append(store).await.unwrap();
    }
}

/// The events that already happened.
pub(crate) async fn given(drafts: Vec<EventDraft>) -> Scenario {
    let store = store();
    append_all(&*store, drafts).await;
    Scenario { store }
}

impl Scenario {
    /// The events under test.
    pub(crate) async fn when(self, drafts: Vec<EventDraft>) -> Self {
        append_all(&*self.store, drafts).await;
        self
    }

    /// The projection after every event.
    pub(crate) async fn then<P: Projection + Clone>(&self) -> P {
        let mut runner = ProjectionRunner::<P>::load(Arc::clone(&self.store))
            .await
            .unwrap();
        runner.catch_up().await.unwrap();
        runner.state().clone()
    }
}
