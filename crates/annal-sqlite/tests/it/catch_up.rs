// Goal: a projection catches up from its checkpoint in time proportional to the new events
// only, however large the store. Method: a store of 100,000 events (batches of 1,000), a
// projection caught up and saved, 25 more events, then a fresh runner loaded from the
// checkpoint catches up through a store wrapper that counts every event the store hands out
// (read_all, query, read_stream): it must read exactly the 25 new events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use annal_core::{
    AppendError, AppendResult, CheckpointError, EventStream, ExpectedVersion, Filter, NewEvent,
    Position, ProjectionName, ProjectionRunner, ReadError, ReadStreamOptions, RetentionError,
    RetentionPolicy, RetentionReport, SavedProjection, Snapshot, SnapshotError, Stats, Store,
    StreamId, Version,
};
use annal_sqlite::SqliteStore;
use annal_testkit::rules::projection::TypeCounts;
use async_trait::async_trait;
use futures::StreamExt;

use crate::support::{event, stream};

/// Delegates to a store and counts the events its reads hand out.
struct Counting {
    inner: Arc<dyn Store>,
    read: Arc<AtomicU64>,
}

impl Counting {
    fn counted(&self, events: EventStream) -> EventStream {
        let read = Arc::clone(&self.read);
        events
            .inspect(move |_| {
                read.fetch_add(1, Ordering::Relaxed);
            })
            .boxed()
    }
}

#[async_trait]
impl Store for Counting {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, AppendError> {
        self.inner.append(stream, expected, events).await
    }
    async fn stream_version(&self, stream: &StreamId) -> Result<Version, ReadError> {
        self.inner.stream_version(stream).await
    }
    async fn head(&self) -> Result<Position, ReadError> {
        self.inner.head().await
    }
    async fn read_stream(
        &self,
        stream: &StreamId,
        options: ReadStreamOptions,
    ) -> Result<EventStream, ReadError> {
        Ok(self.counted(self.inner.read_stream(stream, options).await?))
    }
    async fn read_all(&self, from: Position) -> Result<EventStream, ReadError> {
        Ok(self.counted(self.inner.read_all(from).await?))
    }
    async fn query(&self, filter: &Filter) -> Result<EventStream, ReadError> {
        Ok(self.counted(self.inner.query(filter).await?))
    }
    async fn subscribe(&self, from: Position, filter: Filter) -> Result<EventStream, ReadError> {
        Ok(self.counted(self.inner.subscribe(from, filter).await?))
    }
    async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), SnapshotError> {
        self.inner.save_snapshot(snapshot).await
    }
    async fn load_snapshot(&self, stream: &StreamId) -> Result<Option<Snapshot>, ReadError> {
        self.inner.load_snapshot(stream).await
    }
    async fn truncate_before(
        &self,
        stream: &StreamId,
        before: Version,
        force: bool,
    ) -> Result<RetentionReport, RetentionError> {
        self.inner.truncate_before(stream, before, force).await
    }
    async fn delete_stream(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
    ) -> Result<RetentionReport, RetentionError> {
        self.inner.delete_stream(stream, expected).await
    }
    async fn retain(&self, policy: RetentionPolicy) -> Result<RetentionReport, RetentionError> {
        self.inner.retain(policy).await
    }
    async fn stats(&self, top_streams: usize) -> Result<Stats, ReadError> {
        self.inner.stats(top_streams).await
    }
    async fn save_projection(
        &self,
        name: &ProjectionName,
        saved: &SavedProjection,
    ) -> Result<(), CheckpointError> {
        self.inner.save_projection(name, saved).await
    }
    async fn load_projection(
        &self,
        name: &ProjectionName,
    ) -> Result<Option<SavedProjection>, ReadError> {
        self.inner.load_projection(name).await
    }
}

const EVENTS: u64 = 100_000;
const NEW: u64 = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projection_catches_up_reading_only_the_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let inner: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("a.db")).unwrap());
    for first in (0..EVENTS).step_by(1_000) {
        let batch = (first..first + 1_000).map(event).collect();
        inner
            .append(&stream("big"), ExpectedVersion::Any, batch)
            .await
            .unwrap();
    }
    let mut runner = ProjectionRunner::<TypeCounts>::load(Arc::clone(&inner))
        .await
        .unwrap();
    assert_eq!(runner.catch_up().await.unwrap(), EVENTS);
    for n in 0..NEW {
        inner
            .append(&stream("later"), ExpectedVersion::Any, vec![event(n)])
            .await
            .unwrap();
    }
    let read = Arc::new(AtomicU64::new(0));
    let counting: Arc<dyn Store> = Arc::new(Counting {
        inner,
        read: Arc::clone(&read),
    });
    let mut resumed = ProjectionRunner::<TypeCounts>::load(counting)
        .await
        .unwrap();
    assert_eq!(resumed.checkpoint(), Position(EVENTS));
    assert_eq!(resumed.catch_up().await.unwrap(), NEW);
    assert_eq!(
        read.load(Ordering::Relaxed),
        NEW,
        "the catch-up read only the events after its checkpoint"
    );
    assert_eq!(resumed.state().positions.len() as u64, EVENTS + NEW);
}
