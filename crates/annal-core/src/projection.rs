//! The projection contract: a [`Projection`] folds events in position order into a read model,
//! and a [`ProjectionRunner`] feeds it from a store, saving its state and checkpoint together.
//!
//! Invariant: the saved state includes exactly the events up to the saved checkpoint. A crash
//! between saves loses only unsaved work, which the next run re-applies from the checkpoint, so
//! no event is applied twice or skipped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{CheckpointError, ReadError};
use crate::event::RecordedEvent;
use crate::ids::{InvalidName, ProjectionName};
use crate::position::Position;
use crate::store::{SavedProjection, Store};

/// A read model built by folding events in position order.
///
/// The state is saved as JSON, so a projection derives `Serialize` and `Deserialize`; `Default`
/// is the state before any event.
pub trait Projection: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The name under which the state and checkpoint are saved. Changing it starts from zero.
    const NAME: &'static str;

    /// Folds one event into the state. Events the projection does not care about are ignored.
    fn apply(&mut self, event: &RecordedEvent);
}

/// Errors from running a projection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// Reading events or the saved state failed.
    #[error("projection {name}: reading failed")]
    Read {
        /// The projection.
        name: &'static str,
        /// What failed.
        #[source]
        source: ReadError,
    },
    /// Saving the state and checkpoint failed.
    #[error("projection {name}: saving the checkpoint failed")]
    Save {
        /// The projection.
        name: &'static str,
        /// What failed.
        #[source]
        source: CheckpointError,
    },
    /// The saved state does not fit the projection's type (its shape changed): rebuild it.
    #[error("projection {name}: the saved state does not decode; rebuild the projection")]
    State {
        /// The projection.
        name: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The projection's name is not a valid name.
    #[error("projection name is invalid")]
    Name(#[from] InvalidName),
    /// Projections caught up together were loaded from different stores.
    #[error("projection {name} reads another store than projection {first} of its group")]
    StoresDiffer {
        /// The projection whose store differs.
        name: &'static str,
        /// The group's first projection.
        first: &'static str,
    },
    /// The task following the store stopped unexpectedly.
    #[error("projection {name}: its follower task stopped: {reason}")]
    Stopped {
        /// The projection.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

/// How many events a catch-up applies between saves unless told otherwise. A save writes the
/// whole state and its checkpoint durably, so it is kept to a few per second of catching up (a
/// replay's rate is in `BENCHMARKS.md`); a crash mid-rebuild loses at most this much
/// work, and a catch-up always saves when it ends.
pub const SAVE_EVERY_EVENTS: u64 = 500_000;

/// Feeds one projection from a store, keeping its checkpoint.
pub struct ProjectionRunner<P: Projection> {
    store: Arc<dyn Store>,
    name: ProjectionName,
    state: Arc<RwLock<P>>,
    checkpoint: Position,
    /// The checkpoint of the state last saved or loaded (`NOTHING_SAVED` before either): a
    /// catch-up that folded nothing saves only if the saved pair is not this one.
    saved: AtomicU64,
    save_every_events: u64,
}

/// [`ProjectionRunner::saved`] before anything was saved or loaded.
const NOTHING_SAVED: u64 = u64::MAX;

impl<P: Projection> std::fmt::Debug for ProjectionRunner<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionRunner")
            .field("name", &self.name)
            .field("checkpoint", &self.checkpoint)
            .finish_non_exhaustive()
    }
}

impl<P: Projection> ProjectionRunner<P> {
    /// Restores the projection's saved state and checkpoint from `store`, or starts from zero.
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, ProjectionError> {
        let name = ProjectionName::new(P::NAME)?;
        let saved = store
            .load_projection(&name)
            .await
            .map_err(|source| ProjectionError::Read {
                name: P::NAME,
                source,
            })?;
        let saved_checkpoint = saved
            .as_ref()
            .map_or(NOTHING_SAVED, |saved| saved.checkpoint.0);
        let (state, checkpoint) = match saved {
            Some(saved) => {
                let state = serde_json::from_value(saved.state).map_err(|source| {
                    ProjectionError::State {
                        name: P::NAME,
                        source,
                    }
                })?;
                (state, saved.checkpoint)
            }
            None => (P::default(), Position::START),
        };
        Ok(Self {
            store,
            name,
            state: Arc::new(RwLock::new(state)),
            checkpoint,
            saved: AtomicU64::new(saved_checkpoint),
            save_every_events: SAVE_EVERY_EVENTS,
        })
    }

    /// Saves after at most this many applied events while catching up (default
    /// [`SAVE_EVERY_EVENTS`]).
    pub fn save_every(mut self, events: u64) -> Self {
        self.save_every_events = events.max(1);
        self
    }

    /// The last position folded into the state.
    pub fn checkpoint(&self) -> Position {
        self.checkpoint
    }

    /// Read access to the state.
    pub fn state(&self) -> RwLockReadGuard<'_, P> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn state_mut(&self) -> RwLockWriteGuard<'_, P> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies every event after the checkpoint that is committed now, then saves. Returns the
    /// number of events applied.
    pub async fn catch_up(&mut self) -> Result<u64, ProjectionError> {
        let read_error = |source| ProjectionError::Read {
            name: P::NAME,
            source,
        };
        let head = self.store.head().await.map_err(read_error)?;
        let mut events = self
            .store
            .read_all(self.checkpoint.next())
            .await
            .map_err(read_error)?;
        let mut applied = 0u64;
        let mut unsaved = 0u64;
        while let Some(event) = events.next().await {
            let event = event.map_err(read_error)?;
            if event.position > head {
                break;
            }
            self.apply(&event);
            applied += 1;
            unsaved += 1;
            if unsaved >= self.save_every_events {
                self.save().await?;
                unsaved = 0;
            }
        }
        // With nothing folded, the saved pair is usually this one already: rewriting the whole
        // state then would cost as much as a real save, on every call.
        let saved = self.saved.load(Ordering::Acquire);
        if unsaved > 0 || saved != self.checkpoint.0 {
            self.save().await?;
        }
        Ok(applied)
    }

    /// Forgets the state and checkpoint and folds every event again.
    pub async fn rebuild(&mut self) -> Result<u64, ProjectionError> {
        self.reset();
        self.catch_up().await
    }

    /// Forgets the state and checkpoint in memory; the saved pair is replaced at the next save.
    pub fn reset(&mut self) {
        *self.state_mut() = P::default();
        self.checkpoint = Position::START;
    }

    /// Saves the state and checkpoint together.
    pub async fn save(&self) -> Result<(), ProjectionError> {
        let state =
            serde_json::to_value(&*self.state()).map_err(|source| ProjectionError::Save {
                name: P::NAME,
                source: CheckpointError::State(source),
            })?;
        let saved = SavedProjection {
            checkpoint: self.checkpoint,
            state,
        };
        self.store
            .save_projection(&self.name, &saved)
            .await
            .map_err(|source| ProjectionError::Save {
                name: P::NAME,
                source,
            })?;
        self.saved.store(saved.checkpoint.0, Ordering::Release);
        Ok(())
    }

    /// Folds one event and advances the checkpoint past it.
    fn apply(&mut self, event: &RecordedEvent) {
        if event.position <= self.checkpoint {
            return;
        }
        self.state_mut().apply(event);
        self.checkpoint = event.position;
    }

    /// Folds `events` (in position order) under one lock of the state, skipping those at or
    /// below the checkpoint.
    pub(crate) fn apply_all(&mut self, events: &[RecordedEvent]) {
        let checkpoint = self.checkpoint;
        let Some(last) = events.last().filter(|last| last.position > checkpoint) else {
            return;
        };
        let last = last.position;
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        for event in events.iter().filter(|event| event.position > checkpoint) {
            state.apply(event);
        }
        drop(state);
        self.checkpoint = last;
    }

    pub(crate) fn shared_state(&self) -> Arc<RwLock<P>> {
        Arc::clone(&self.state)
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn apply_live(&mut self, event: &RecordedEvent) {
        self.apply(event);
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::{EventType, ExpectedVersion, MemoryStore, NewEvent, StreamId};

    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Count(u64);

    impl Projection for Count {
        const NAME: &'static str = "count";

        fn apply(&mut self, _event: &RecordedEvent) {
            self.0 += 1;
        }
    }

    async fn append(store: &MemoryStore, n: usize) {
        let events = (0..n)
            .map(|_| NewEvent::new(EventType::new("t:x").unwrap(), serde_json::json!({})))
            .collect();
        let stream = StreamId::new("s").unwrap();
        store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }

    /// What is saved under the projection's name now.
    async fn saved(store: &MemoryStore) -> SavedProjection {
        let name = ProjectionName::new(Count::NAME).unwrap();
        store.load_projection(&name).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn a_catch_up_that_folds_nothing_does_not_save_again() {
        let store = Arc::new(MemoryStore::new());
        append(&store, 3).await;
        let mut runner = ProjectionRunner::<Count>::load(store.clone())
            .await
            .unwrap();
        assert_eq!(runner.catch_up().await.unwrap(), 3);
        assert_eq!(saved(&store).await.checkpoint, Position(3));
        // A marker pair: a save by the next catch-up would replace it.
        let name = ProjectionName::new(Count::NAME).unwrap();
        let marker = SavedProjection {
            checkpoint: Position(3),
            state: serde_json::json!(99),
        };
        store.save_projection(&name, &marker).await.unwrap();
        assert_eq!(runner.catch_up().await.unwrap(), 0);
        assert_eq!(saved(&store).await.state, serde_json::json!(99));

        append(&store, 2).await;
        assert_eq!(runner.catch_up().await.unwrap(), 2);
        assert_eq!(saved(&store).await.state, serde_json::json!(5));
    }

    #[tokio::test]
    async fn a_first_catch_up_saves_even_with_nothing_to_fold() {
        let empty = Arc::new(MemoryStore::new());
        let mut fresh = ProjectionRunner::<Count>::load(empty.clone())
            .await
            .unwrap();
        assert_eq!(fresh.catch_up().await.unwrap(), 0);
        assert_eq!(saved(&empty).await.checkpoint, Position::START);
    }
}
