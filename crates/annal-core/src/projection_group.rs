//! [`ProjectionGroup`]: several projections caught up in one read of the log.
//!
//! Catching up three projections one after another reads every event three times; a group reads
//! the log once, from the lowest checkpoint among its members, and offers each event to every
//! member. Each member keeps its own checkpoint and skips events at or below it, so members that
//! were saved at different points still apply every event exactly once. Each member's state and
//! checkpoint are saved together through the store's projection store, as a lone
//! [`ProjectionRunner`] saves them.
//!
//! Invariant: after a successful [`ProjectionGroup::catch_up`], every member's state is exactly
//! what its own `catch_up` would have produced up to the same head.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;

use crate::event::RecordedEvent;
use crate::position::Position;
use crate::projection::{Projection, ProjectionError, ProjectionRunner, SAVE_EVERY_EVENTS};
use crate::store::Store;

/// Most events folded under one lock of each member's state.
const FOLD_CHUNK_EVENTS: usize = 512;

/// What a group needs from a member: one runner, whatever its projection's type.
#[async_trait]
trait Member: Send {
    fn name(&self) -> &'static str;
    fn checkpoint(&self) -> Position;
    fn store(&self) -> &Arc<dyn Store>;
    fn fold(&mut self, events: &[RecordedEvent]);
    fn reset(&mut self);
    async fn save(&self) -> Result<(), ProjectionError>;
}

#[async_trait]
impl<P: Projection> Member for ProjectionRunner<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn checkpoint(&self) -> Position {
        ProjectionRunner::checkpoint(self)
    }

    fn store(&self) -> &Arc<dyn Store> {
        ProjectionRunner::store(self)
    }

    fn fold(&mut self, events: &[RecordedEvent]) {
        self.apply_all(events);
    }

    fn reset(&mut self) {
        ProjectionRunner::reset(self);
    }

    async fn save(&self) -> Result<(), ProjectionError> {
        ProjectionRunner::save(self).await
    }
}

/// Runners that catch up together, reading the log once for all of them.
///
/// The group borrows its runners for as long as it lives; drop it to read their states.
pub struct ProjectionGroup<'a> {
    members: Vec<&'a mut dyn Member>,
    save_every_events: u64,
}

impl std::fmt::Debug for ProjectionGroup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.members.iter().map(|member| member.name()).collect();
        f.debug_struct("ProjectionGroup")
            .field("members", &names)
            .finish_non_exhaustive()
    }
}

impl Default for ProjectionGroup<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> ProjectionGroup<'a> {
    /// An empty group.
    pub fn new() -> Self {
        Self {
            members: Vec::new(),
            save_every_events: SAVE_EVERY_EVENTS,
        }
    }

    /// Adds `runner`. Every runner of a group must have been loaded from one `Arc<dyn Store>`
    /// (clones of it), so that one read serves them all.
    pub fn with<P: Projection>(mut self, runner: &'a mut ProjectionRunner<P>) -> Self {
        self.members.push(runner);
        self
    }

    /// Saves every member after at most this many events read while catching up (default
    /// [`SAVE_EVERY_EVENTS`]).
    pub fn save_every(mut self, events: u64) -> Self {
        self.save_every_events = events.max(1);
        self
    }

    /// Resets every member to its empty state and checkpoint zero, then catches up: a rebuild of
    /// all of them in one read. Returns the number of events read.
    pub async fn rebuild(&mut self) -> Result<u64, ProjectionError> {
        for member in &mut self.members {
            member.reset();
        }
        self.catch_up().await
    }

    /// Reads every event committed now after the lowest member checkpoint, offers each to every
    /// member (a member skips what it has already applied), then saves each member. Returns the
    /// number of events read.
    pub async fn catch_up(&mut self) -> Result<u64, ProjectionError> {
        let Some(first) = self.members.first() else {
            return Ok(0);
        };
        let store = Arc::clone(first.store());
        let name = first.name();
        if let Some(other) = self
            .members
            .iter()
            .find(|member| !same_store(member.store(), &store))
        {
            return Err(ProjectionError::StoresDiffer {
                name: other.name(),
                first: name,
            });
        }
        let read_error = |source| ProjectionError::Read { name, source };
        let from = self
            .members
            .iter()
            .map(|member| member.checkpoint())
            .min()
            .unwrap_or(Position::START);
        let head = store.head().await.map_err(read_error)?;
        let events = store.read_all(from.next()).await.map_err(read_error)?;
        // Whatever has arrived is folded together: one lock of each member's state per chunk
        // instead of per event.
        let mut chunks = events.ready_chunks(FOLD_CHUNK_EVENTS);
        let mut read = 0u64;
        let mut unsaved = 0u64;
        let mut chunk: Vec<RecordedEvent> = Vec::with_capacity(FOLD_CHUNK_EVENTS);
        while let Some(arrived) = chunks.next().await {
            chunk.clear();
            let mut failed = None;
            let mut past_head = false;
            for event in arrived {
                match event {
                    Ok(event) if event.position > head => {
                        past_head = true;
                        break;
                    }
                    Ok(event) => chunk.push(event),
                    Err(error) => {
                        failed = Some(error);
                        break;
                    }
                }
            }
            // Folded in slices that end at each save point, so a save still comes after at most
            // `save_every_events` events.
            let mut rest = chunk.as_slice();
            while !rest.is_empty() {
                let room = self.save_every_events.saturating_sub(unsaved).max(1);
                let (now, later) = rest.split_at(rest.len().min(room as usize));
                for member in &mut self.members {
                    member.fold(now);
                }
                read += now.len() as u64;
                unsaved += now.len() as u64;
                if unsaved >= self.save_every_events {
                    self.save().await?;
                    unsaved = 0;
                }
                rest = later;
            }
            if let Some(error) = failed {
                return Err(read_error(error));
            }
            // Everything up to the head is folded: what comes later is for the next catch-up.
            if past_head || chunk.last().is_some_and(|event| event.position >= head) {
                break;
            }
        }
        // Like a lone runner: nothing to save when the last interval save already holds the
        // final state; an empty read still saves, so a rebuild of an empty log persists its reset.
        if unsaved > 0 || read == 0 {
            self.save().await?;
        }
        Ok(read)
    }

    /// Saves every member's state and checkpoint (each pair together).
    pub async fn save(&self) -> Result<(), ProjectionError> {
        for member in &self.members {
            member.save().await?;
        }
        Ok(())
    }
}

/// Whether two handles are the same store object (compared by address, not by vtable).
fn same_store(a: &Arc<dyn Store>, b: &Arc<dyn Store>) -> bool {
    std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;
    use crate::event::NewEvent;
    use crate::ids::{EventType, StreamId};
    use crate::memory::MemoryStore;
    use crate::position::ExpectedVersion;

    /// The positions it has seen, so a test sees every skip and every double application.
    #[derive(Default, Serialize, Deserialize)]
    struct Seen {
        positions: Vec<u64>,
    }

    impl Projection for Seen {
        const NAME: &'static str = "test.seen";
        fn apply(&mut self, event: &RecordedEvent) {
            self.positions.push(event.position.0);
        }
    }

    /// The same fold under another name, so two members save apart.
    #[derive(Default, Serialize, Deserialize)]
    struct Counted {
        positions: Vec<u64>,
    }

    impl Projection for Counted {
        const NAME: &'static str = "test.counted";
        fn apply(&mut self, event: &RecordedEvent) {
            self.positions.push(event.position.0);
        }
    }

    async fn append(store: &Arc<dyn Store>, n: u64) {
        let stream = StreamId::new("s").unwrap();
        let events = (0..n)
            .map(|i| NewEvent::new(EventType::new("t:e").unwrap(), json!({ "i": i })))
            .collect();
        store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }

    /// Counts the saves of its state (each save serializes it once).
    static SAVES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    #[derive(Default, Deserialize)]
    struct SaveCounter {
        applied: u64,
    }

    impl Serialize for SaveCounter {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            SAVES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            serializer.serialize_u64(self.applied)
        }
    }

    impl Projection for SaveCounter {
        const NAME: &'static str = "test.save-counter";
        fn apply(&mut self, _event: &RecordedEvent) {
            self.applied += 1;
        }
    }

    #[tokio::test]
    async fn a_group_saves_after_every_interval_even_inside_one_chunk_of_events() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        // 50 events in one append: they arrive together, as one chunk.
        append(&store, 50).await;
        let mut counter = ProjectionRunner::<SaveCounter>::load(Arc::clone(&store))
            .await
            .unwrap();
        let before = SAVES.load(std::sync::atomic::Ordering::SeqCst);
        let read = ProjectionGroup::new()
            .with(&mut counter)
            .save_every(7)
            .catch_up()
            .await
            .unwrap();
        assert_eq!(read, 50);
        assert_eq!(counter.state().applied, 50);
        // After events 7, 14, ..., 49, and once more at the end for event 50.
        let saves = SAVES.load(std::sync::atomic::Ordering::SeqCst) - before;
        assert_eq!(saves, 8);
    }

    #[tokio::test]
    async fn members_at_different_checkpoints_apply_each_event_once() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        append(&store, 3).await;
        let mut ahead = ProjectionRunner::<Seen>::load(Arc::clone(&store))
            .await
            .unwrap();
        ahead.catch_up().await.unwrap();
        append(&store, 2).await;
        let mut behind = ProjectionRunner::<Counted>::load(Arc::clone(&store))
            .await
            .unwrap();
        let read = ProjectionGroup::new()
            .with(&mut ahead)
            .with(&mut behind)
            .catch_up()
            .await
            .unwrap();
        assert_eq!(read, 5, "the group reads from the lowest checkpoint");
        assert_eq!(ahead.state().positions, [1, 2, 3, 4, 5]);
        assert_eq!(behind.state().positions, [1, 2, 3, 4, 5]);
        assert_eq!(ahead.checkpoint(), Position(5));

        // Both were saved with their checkpoints: reloading resumes where each stopped.
        let reloaded = ProjectionRunner::<Counted>::load(Arc::clone(&store))
            .await
            .unwrap();
        assert_eq!(reloaded.checkpoint(), Position(5));
        assert_eq!(reloaded.state().positions.len(), 5);

        let read = ProjectionGroup::new()
            .with(&mut ahead)
            .with(&mut behind)
            .rebuild()
            .await
            .unwrap();
        assert_eq!(read, 5);
        assert_eq!(behind.state().positions, [1, 2, 3, 4, 5]);
    }

    #[tokio::test]
    async fn members_of_different_stores_are_refused() {
        let first: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let second: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mut one = ProjectionRunner::<Seen>::load(first).await.unwrap();
        let mut other = ProjectionRunner::<Counted>::load(second).await.unwrap();
        let error = ProjectionGroup::new()
            .with(&mut one)
            .with(&mut other)
            .catch_up()
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                ProjectionError::StoresDiffer {
                    name: "test.counted",
                    first: "test.seen"
                }
            ),
            "{error}"
        );
    }
}
