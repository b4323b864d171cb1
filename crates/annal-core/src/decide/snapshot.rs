//! The snapshot rules: what a snapshot must be to be offered at all, and whether an offered
//! snapshot replaces the stored one.
//!
//! Invariant: a store keeps the newest snapshot of each stream, never one ahead of its stream:
//! an older snapshot than the stored one is refused (`Stale`), an equal one replaces it.

use crate::error::SnapshotError;
use crate::ids::StreamId;
use crate::position::Version;
use crate::snapshot::Snapshot;

/// Checks what needs no lookup: the snapshot covers at least one event, and its state is a JSON
/// object.
pub fn snapshot_well_formed(snapshot: &Snapshot) -> Result<(), SnapshotError> {
    if snapshot.version == Version::NONE {
        return Err(SnapshotError::VersionZero);
    }
    if !snapshot.state.is_object() {
        return Err(SnapshotError::StateNotObject);
    }
    Ok(())
}

/// Decides whether a snapshot of `stream` at `offered` is saved, given the stream's current
/// version (`actual`) and the version of its stored snapshot, if any (`stored`). A snapshot
/// ahead of its stream is refused before a stale one.
pub fn save_snapshot(
    stream: &StreamId,
    offered: Version,
    actual: Version,
    stored: Option<Version>,
) -> Result<(), SnapshotError> {
    if offered > actual {
        return Err(SnapshotError::AheadOfStream {
            stream: stream.clone(),
            offered,
            actual,
        });
    }
    if let Some(stored) = stored
        && stored > offered
    {
        return Err(SnapshotError::Stale {
            stream: stream.clone(),
            stored,
            offered,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ids::AggregateType;

    fn s() -> StreamId {
        StreamId::new("s").unwrap()
    }

    fn snapshot(version: u64, state: serde_json::Value) -> Snapshot {
        Snapshot {
            aggregate_id: s(),
            aggregate_type: AggregateType::new("task").unwrap(),
            version: Version(version),
            state,
            timestamp: 0,
        }
    }

    #[test]
    fn a_snapshot_needs_a_version_and_an_object() {
        assert!(snapshot_well_formed(&snapshot(1, json!({}))).is_ok());
        let zero = snapshot_well_formed(&snapshot(0, json!([])));
        assert!(matches!(zero, Err(SnapshotError::VersionZero)), "{zero:?}");
        let array = snapshot_well_formed(&snapshot(1, json!([1])));
        assert!(
            matches!(array, Err(SnapshotError::StateNotObject)),
            "{array:?}"
        );
    }

    #[test]
    fn ahead_of_the_stream_wins_over_stale() {
        let refused = save_snapshot(&s(), Version(5), Version(4), Some(Version(9)));
        assert!(
            matches!(
                refused,
                Err(SnapshotError::AheadOfStream {
                    actual: Version(4),
                    ..
                })
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn an_older_snapshot_is_stale_and_an_equal_one_replaces() {
        let stale = save_snapshot(&s(), Version(3), Version(4), Some(Version(4)));
        assert!(
            matches!(
                stale,
                Err(SnapshotError::Stale {
                    stored: Version(4),
                    ..
                })
            ),
            "{stale:?}"
        );
        assert!(save_snapshot(&s(), Version(4), Version(4), Some(Version(4))).is_ok());
        assert!(save_snapshot(&s(), Version(4), Version(4), None).is_ok());
    }
}
