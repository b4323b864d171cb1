// Goal: show the suite catches broken backends. Method: wrap the in-memory store in faulty
// decorators (one ignores expected versions, one reorders batches, one drops live events from
// subscriptions) and check that the rules they break fail, while an honest wrapper passes.

use std::sync::Arc;

use annal_core::{
    AppendError, AppendResult, CheckpointError, EventStream, ExpectedVersion, Filter, MemoryStore,
    NewEvent, Position, ProjectionName, ReadError, ReadStreamOptions, RetentionError,
    RetentionPolicy, RetentionReport, SavedProjection, Snapshot, SnapshotError, Stats, Store,
    StreamId, Version,
};
use annal_testkit::rules;
use async_trait::async_trait;
use futures::StreamExt;

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    IgnoresExpectedVersion,
    ReversesBatches,
    SubscriptionStopsAtHistory,
}

#[derive(Clone)]
struct Faulty {
    inner: MemoryStore,
    fault: Fault,
}

#[async_trait]
impl Store for Faulty {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        mut events: Vec<NewEvent>,
    ) -> Result<AppendResult, AppendError> {
        let expected = if self.fault == Fault::IgnoresExpectedVersion {
            ExpectedVersion::Any
        } else {
            expected
        };
        if self.fault == Fault::ReversesBatches {
            events.reverse();
        }
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
        self.inner.read_stream(stream, options).await
    }
    async fn read_all(&self, from: Position) -> Result<EventStream, ReadError> {
        self.inner.read_all(from).await
    }
    async fn query(&self, filter: &Filter) -> Result<EventStream, ReadError> {
        self.inner.query(filter).await
    }
    async fn subscribe(&self, from: Position, filter: Filter) -> Result<EventStream, ReadError> {
        if self.fault == Fault::SubscriptionStopsAtHistory {
            // Delivers the history as of now, then ends instead of following live commits.
            let history = annal_core::collect(self.inner.read_all(from).await?).await?;
            let selected: Vec<_> = history
                .into_iter()
                .filter(|e| filter.matches(e))
                .map(Ok)
                .collect();
            return Ok(futures::stream::iter(selected).boxed());
        }
        self.inner.subscribe(from, filter).await
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

fn store(fault: Fault) -> Arc<dyn Store> {
    Arc::new(Faulty {
        inner: MemoryStore::new(),
        fault,
    })
}

/// Runs `rule` on a store with `fault`; true when the rule panicked (failed).
fn fails<F, Fut>(fault: Fault, rule: F) -> bool
where
    F: FnOnce(Arc<dyn Store>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    annal_testkit::block_on(async move { tokio::spawn(rule(store(fault))).await })
        .is_err_and(|error| error.is_panic())
}

#[test]
fn honest_wrapper_passes_the_rules_below() {
    assert!(!fails(Fault::None, rules::append::expected_exact));
    assert!(!fails(Fault::None, rules::append::expected_no_stream));
    assert!(!fails(
        Fault::None,
        rules::append::append_assigns_versions_and_positions
    ));
    assert!(!fails(
        Fault::None,
        rules::subscribe::subscribe_history_then_live
    ));
}

#[test]
fn skipping_the_expected_version_check_is_caught() {
    assert!(fails(
        Fault::IgnoresExpectedVersion,
        rules::append::expected_exact
    ));
    assert!(fails(
        Fault::IgnoresExpectedVersion,
        rules::append::expected_no_stream
    ));
    assert!(fails(
        Fault::IgnoresExpectedVersion,
        rules::append::concurrent_expected_version_has_one_winner
    ));
}

#[test]
fn reordering_a_batch_is_caught() {
    assert!(fails(
        Fault::ReversesBatches,
        rules::append::append_assigns_versions_and_positions
    ));
}

#[test]
fn a_subscription_that_stops_following_is_caught() {
    assert!(fails(
        Fault::SubscriptionStopsAtHistory,
        rules::subscribe::subscribe_history_then_live
    ));
}
