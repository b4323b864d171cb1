//! The in-memory backend: every rule of the Store API, nothing on disk.
//!
//! For tests, examples and short-lived tools. It keeps the same semantics as the disk backends
//! except durability: its events live as long as the process.

mod state;

use std::future::ready;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::watch;

use crate::backend::{PAGE_EVENTS, advance_head, paged};
use crate::batch::prepare_batch;
use crate::clock::{Clock, SystemClock};
use crate::error::{AppendError, CheckpointError, ReadError, RetentionError, SnapshotError};
use crate::event::NewEvent;
use crate::filter::{Direction, Filter};
use crate::ids::{ProjectionName, StreamId};
use crate::limits::Limits;
use crate::position::{ExpectedVersion, Position, Version};
use crate::snapshot::Snapshot;
use crate::stats::Stats;
use crate::store::{
    AppendResult, EventStream, ReadStreamOptions, RetentionPolicy, RetentionReport,
    SavedProjection, Store,
};
use crate::subscription::follow;

use state::{MemoryState, QueryCursor};

/// An event store held in memory. Cloning it gives another handle to the same store.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<MemoryState>,
    head: watch::Sender<Position>,
    limits: Limits,
    clock: Box<dyn Clock>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("head", &*self.inner.head.borrow())
            .finish()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store with the default limits and the system clock.
    pub fn new() -> Self {
        Self::with_options(Limits::default(), SystemClock)
    }

    /// An empty store with the given limits and clock.
    pub fn with_options(limits: Limits, clock: impl Clock) -> Self {
        let (head, _) = watch::channel(Position::START);
        let inner = Inner {
            state: Mutex::default(),
            head,
            limits,
            clock: Box::new(clock),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    fn state(&self) -> MutexGuard<'_, MemoryState> {
        // Every mutation completes before the guard drops, so a panic elsewhere cannot leave
        // the state half-changed; the poison flag carries no information here.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes `head` once the state lock is released, so two appends may publish out of
    /// order, and a retry publishes its earlier position: the later, larger head stands.
    fn publish_head(&self, head: Position) {
        advance_head(&self.inner.head, head);
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, AppendError> {
        let batch = prepare_batch(events, &self.inner.limits, self.inner.clock.now_ms())?;
        let result = self.state().append(stream, expected, batch)?;
        self.publish_head(result.last_position);
        Ok(result)
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Version, ReadError> {
        Ok(self.state().stream_version(stream))
    }

    async fn head(&self) -> Result<Position, ReadError> {
        Ok(self.state().last_position())
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        options: ReadStreamOptions,
    ) -> Result<EventStream, ReadError> {
        let store = self.clone();
        let stream = stream.clone();
        let events = paged(None, move |after: Option<Version>| {
            let page = store
                .state()
                .stream_page(&stream, &options, after, PAGE_EVENTS);
            let cursor = page.last().map(|event| event.version);
            ready(Ok(cursor.map(|cursor| (page, Some(cursor)))))
        });
        Ok(match options.limit {
            Some(limit) => events
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .boxed(),
            None => events,
        })
    }

    async fn read_all(&self, from: Position) -> Result<EventStream, ReadError> {
        let store = self.clone();
        // The cursor is `None` after an event at the largest position: nothing can follow it.
        Ok(paged(Some(from), move |from: Option<Position>| {
            let Some(from) = from else {
                return ready(Ok(None));
            };
            let page = store.state().all_page(from, PAGE_EVENTS);
            let cursor = page.last().map(|event| event.position.checked_next());
            ready(Ok(cursor.map(|cursor| (page, cursor))))
        }))
    }

    async fn query(&self, filter: &Filter) -> Result<EventStream, ReadError> {
        filter.validate()?;
        let store = self.clone();
        let filter = filter.clone();
        let start = match filter.direction {
            Direction::Forward => Position(1),
            Direction::Backward => Position(u64::MAX),
        };
        let cursor = QueryCursor {
            next: Some(start),
            skipped: 0,
            taken: 0,
        };
        Ok(paged(cursor, move |cursor| {
            ready(Ok(store.state().query_page(&filter, cursor, PAGE_EVENTS)))
        }))
    }

    async fn subscribe(&self, from: Position, filter: Filter) -> Result<EventStream, ReadError> {
        follow(self.clone(), self.inner.head.subscribe(), from, filter)
    }

    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), SnapshotError> {
        if snapshot.version == Version::NONE {
            return Err(SnapshotError::VersionZero);
        }
        if !snapshot.state.is_object() {
            return Err(SnapshotError::StateNotObject);
        }
        self.state().save_snapshot(snapshot)
    }

    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, ReadError> {
        Ok(self.state().load_snapshot(stream))
    }

    async fn truncate_before(
        &self,
        stream: &StreamId,
        before: Version,
        force: bool,
    ) -> Result<RetentionReport, RetentionError> {
        self.state().truncate_before(stream, before, force)
    }

    async fn delete_stream(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
    ) -> Result<RetentionReport, RetentionError> {
        self.state().delete_stream(stream, expected)
    }

    async fn retain(&self, policy: RetentionPolicy) -> Result<RetentionReport, RetentionError> {
        Ok(self.state().retain(policy))
    }

    async fn stats(&self, top_streams: usize) -> Result<Stats, ReadError> {
        Ok(self.state().stats(top_streams))
    }

    async fn save_projection(
        &self,
        name: &ProjectionName,
        saved: &SavedProjection,
    ) -> Result<(), CheckpointError> {
        self.state().save_projection(name, saved);
        Ok(())
    }

    async fn load_projection(
        &self,
        name: &ProjectionName,
    ) -> Result<Option<SavedProjection>, ReadError> {
        Ok(self.state().load_projection(name))
    }
}
