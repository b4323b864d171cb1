//! The rules of removing a stream's events on request: truncation keeps what its snapshot does
//! not cover, and deletion checks the expected version.
//!
//! Invariant: without `force`, a truncation never removes an event after the stream's snapshot,
//! so the snapshot plus the remaining events still rebuild the aggregate.

use crate::error::RetentionError;
use crate::ids::StreamId;
use crate::position::{ExpectedVersion, Version};

/// Decides whether the events of `stream` before `before` may be removed, given the version of
/// its stored snapshot, if any: refused when they reach past the snapshot, unless `force`.
pub fn truncate_before(
    stream: &StreamId,
    before: Version,
    force: bool,
    snapshot: Option<Version>,
) -> Result<(), RetentionError> {
    match snapshot {
        Some(snapshot) if !force && before > snapshot.next() => {
            Err(RetentionError::ProtectedBySnapshot {
                stream: stream.clone(),
                snapshot,
                before,
            })
        }
        _ => Ok(()),
    }
}

/// Decides whether `stream`, at version `actual`, may be deleted by a caller expecting
/// `expected`.
pub fn delete_stream(
    stream: &StreamId,
    expected: ExpectedVersion,
    actual: Version,
) -> Result<(), RetentionError> {
    if expected.accepts(actual) {
        return Ok(());
    }
    Err(RetentionError::WrongExpectedVersion {
        stream: stream.clone(),
        expected,
        actual,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> StreamId {
        StreamId::new("s").unwrap()
    }

    #[test]
    fn a_truncation_may_reach_just_past_the_snapshot() {
        let snapshot = Some(Version(4));
        assert!(truncate_before(&s(), Version(5), false, snapshot).is_ok());
        let refused = truncate_before(&s(), Version(6), false, snapshot);
        assert!(
            matches!(
                refused,
                Err(RetentionError::ProtectedBySnapshot {
                    snapshot: Version(4),
                    before: Version(6),
                    ..
                })
            ),
            "{refused:?}"
        );
        assert!(truncate_before(&s(), Version(6), true, snapshot).is_ok());
        assert!(truncate_before(&s(), Version(u64::MAX), false, None).is_ok());
        let at_the_end = truncate_before(&s(), Version(u64::MAX), false, Some(Version(u64::MAX)));
        assert!(at_the_end.is_ok(), "{at_the_end:?}");
    }

    #[test]
    fn a_deletion_checks_the_expected_version() {
        assert!(delete_stream(&s(), ExpectedVersion::Any, Version(0)).is_ok());
        assert!(delete_stream(&s(), ExpectedVersion::Exact(Version(3)), Version(3)).is_ok());
        let refused = delete_stream(&s(), ExpectedVersion::NoStream, Version(3));
        assert!(
            matches!(
                refused,
                Err(RetentionError::WrongExpectedVersion {
                    actual: Version(3),
                    ..
                })
            ),
            "{refused:?}"
        );
    }
}
