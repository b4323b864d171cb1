//! Loading one aggregate from its snapshot plus the events after it, and the snapshot policy.
//!
//! Any [`Projection`] can serve as the state of one aggregate: folding a single stream into
//! [`TaskHistory`](crate::projections::TaskHistory) gives that task's history. [`load`] starts
//! from the newest snapshot and applies only events with a *later* version (the seed's resume
//! example re-applied the snapshot's own event). [`append`] appends and, every
//! [`SnapshotPolicy::every_versions`] versions, recommends a snapshot or saves one.

use annal_core::{
    AggregateType, AppendError, AppendResult, ExpectedVersion, NewEvent, Projection, ReadError,
    Snapshot, SnapshotError, Store, StreamId, Timestamp, Version,
};
use futures::StreamExt;

/// The seed's `snapshotThreshold`.
pub const DEFAULT_SNAPSHOT_EVERY_VERSIONS: u64 = 100;

/// Errors from loading, appending to or snapshotting an aggregate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AggregateError {
    /// Reading the snapshot or the events failed.
    #[error("loading aggregate {stream} failed")]
    Read {
        /// The aggregate.
        stream: StreamId,
        /// What failed.
        #[source]
        source: ReadError,
    },
    /// The snapshot's state does not decode into the aggregate's type (its shape changed).
    #[error("the snapshot of aggregate {stream} does not decode")]
    State {
        /// The aggregate.
        stream: StreamId,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// Appending failed.
    #[error("appending to aggregate {stream} failed")]
    Append {
        /// The aggregate.
        stream: StreamId,
        /// What failed.
        #[source]
        source: AppendError,
    },
    /// Saving a snapshot failed.
    #[error("saving a snapshot of aggregate {stream} failed")]
    Snapshot {
        /// The aggregate.
        stream: StreamId,
        /// What failed.
        #[source]
        source: SnapshotError,
    },
}

/// What to do when an aggregate reaches a multiple of `every_versions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Snapshot at every multiple of this version (at least 1).
    pub every_versions: u64,
    /// Save the snapshot, or only recommend it.
    pub action: SnapshotAction,
}

/// Whether [`append`] saves a due snapshot itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotAction {
    /// Report that a snapshot is due; the caller decides (the seed emitted an event).
    Recommend,
    /// Load the aggregate and save its snapshot.
    Save,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self {
            every_versions: DEFAULT_SNAPSHOT_EVERY_VERSIONS,
            action: SnapshotAction::Recommend,
        }
    }
}

impl SnapshotPolicy {
    /// Snapshots every `versions` versions (0 counts as 1), recommending only.
    pub fn every(versions: u64) -> Self {
        Self {
            every_versions: versions.max(1),
            action: SnapshotAction::Recommend,
        }
    }

    /// The same policy, but saving snapshots.
    pub fn saving(mut self) -> Self {
        self.action = SnapshotAction::Save;
        self
    }

    /// Whether a stream that moved from `before` to `after` passed a multiple of the interval.
    ///
    /// A batch can jump over the exact multiple (the seed only checked `version % N == 0` for
    /// single appends), so this compares interval numbers.
    pub fn is_due(&self, before: Version, after: Version) -> bool {
        let every = self.every_versions.max(1);
        after.0 / every > before.0 / every
    }
}

/// An aggregate's state as loaded.
#[derive(Clone, Debug)]
pub struct Loaded<A> {
    /// The folded state.
    pub state: A,
    /// The last version folded into `state` (0 for a stream without events).
    pub version: Version,
    /// The version of the snapshot it started from, if any.
    pub snapshot_version: Option<Version>,
    /// Events applied on top of the snapshot.
    pub replayed: u64,
    /// The aggregate type, from the snapshot or the events.
    pub aggregate_type: Option<AggregateType>,
}

/// Loads `stream` as an `A`: the newest snapshot, then every event after its version.
pub async fn load<A: Projection>(
    store: &dyn Store,
    stream: &StreamId,
) -> Result<Loaded<A>, AggregateError> {
    let read_error = |source| AggregateError::Read {
        stream: stream.clone(),
        source,
    };
    let loaded = store.load_aggregate(stream).await.map_err(read_error)?;
    let (mut state, snapshot_version, mut aggregate_type) = match loaded.snapshot {
        Some(snapshot) => {
            let state = serde_json::from_value::<A>(snapshot.state).map_err(|source| {
                AggregateError::State {
                    stream: stream.clone(),
                    source,
                }
            })?;
            (state, Some(snapshot.version), Some(snapshot.aggregate_type))
        }
        None => (A::default(), None, None),
    };
    let mut version = snapshot_version.unwrap_or(Version::NONE);
    let mut replayed = 0;
    let mut events = loaded.events;
    while let Some(event) = events.next().await {
        let event = event.map_err(read_error)?;
        // The snapshot already holds its own version; a backend that returned it again would
        // otherwise have it applied twice.
        if event.version <= version {
            continue;
        }
        state.apply(&event);
        version = event.version;
        replayed += 1;
        aggregate_type.get_or_insert(event.aggregate_type);
    }
    Ok(Loaded {
        state,
        version,
        snapshot_version,
        replayed,
        aggregate_type,
    })
}

/// Saves `loaded` as the snapshot of `stream`, stamped `at`. A stream without events has
/// nothing to snapshot; that is a no-op returning `false`.
pub async fn save_snapshot<A: Projection>(
    store: &dyn Store,
    stream: &StreamId,
    loaded: &Loaded<A>,
    at: Timestamp,
) -> Result<bool, AggregateError> {
    let snapshot_error = |source| AggregateError::Snapshot {
        stream: stream.clone(),
        source,
    };
    let Some(aggregate_type) = loaded.aggregate_type.clone() else {
        return Ok(false);
    };
    if loaded.version == Version::NONE {
        return Ok(false);
    }
    let state = serde_json::to_value(&loaded.state).map_err(|source| AggregateError::State {
        stream: stream.clone(),
        source,
    })?;
    let snapshot = Snapshot {
        aggregate_id: stream.clone(),
        aggregate_type,
        version: loaded.version,
        state,
        timestamp: at,
    };
    store
        .save_snapshot(snapshot)
        .await
        .map_err(snapshot_error)?;
    Ok(true)
}

/// What [`append`] did about snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotAdvice {
    /// No multiple of the interval was passed.
    NotDue,
    /// A snapshot is due at this version; the policy only recommends.
    Recommended(Version),
    /// A snapshot was saved at this version.
    Saved(Version),
}

/// Appends `events` to `stream` and applies `policy`.
pub async fn append<A: Projection>(
    store: &dyn Store,
    stream: &StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    policy: SnapshotPolicy,
    at: Timestamp,
) -> Result<(AppendResult, SnapshotAdvice), AggregateError> {
    let batch_len = events.len() as u64;
    let result = store
        .append(stream, expected, events)
        .await
        .map_err(|source| AggregateError::Append {
            stream: stream.clone(),
            source,
        })?;
    let before = Version(result.stream_version.0.saturating_sub(batch_len));
    if !policy.is_due(before, result.stream_version) {
        return Ok((result, SnapshotAdvice::NotDue));
    }
    match policy.action {
        SnapshotAction::Recommend => {
            Ok((result, SnapshotAdvice::Recommended(result.stream_version)))
        }
        SnapshotAction::Save => {
            let loaded = load::<A>(store, stream).await?;
            save_snapshot(store, stream, &loaded, at).await?;
            Ok((result, SnapshotAdvice::Saved(loaded.version)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(every: u64, before: u64, after: u64, due: bool) {
        let policy = SnapshotPolicy::every(every);
        assert_eq!(
            policy.is_due(Version(before), Version(after)),
            due,
            "{before}->{after}"
        );
    }

    #[test]
    fn due_when_a_multiple_is_reached_or_jumped() {
        check(100, 98, 99, false);
        check(100, 99, 100, true);
        check(100, 100, 101, false);
        check(100, 95, 105, true);
        check(100, 0, 250, true);
        check(1, 4, 5, true);
        check(0, 4, 5, true);
        assert_eq!(SnapshotPolicy::default().every_versions, 100);
    }
}
