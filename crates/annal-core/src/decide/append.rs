//! The append rule: a batch is a retry, a refusal, or written at consecutive versions of its
//! stream and consecutive positions after the store's last one.
//!
//! Invariants: the checks run in one order, a retry of a stored batch first
//! ([`check_retry`]), then the expected version, then the stream's version bound, then the
//! store's position bound; a batch that is written occupies the versions after `current` and
//! the positions after `last_position`, with no gap, and never beyond the bounds its backend
//! states ([`CounterBounds`]).

use crate::batch::PreparedEvent;
use crate::decide::retry::{RetryCheck, StoredEventRef, check_retry};
use crate::error::{AppendError, StorageError};
use crate::ids::StreamId;
use crate::position::{ExpectedVersion, Position, Version};
use crate::store::AppendResult;

/// How a batch that would pass a backend's last position is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PositionsExhausted {
    /// [`AppendError::PositionOverflow`]: the position type itself has no room left.
    Overflow,
    /// A storage error naming the backend's bound: its counters are narrower than `u64` (SQL
    /// `BIGINT` or SQLite `INTEGER`).
    StorageBound,
}

/// The largest version and position a backend can store, and how it refuses a batch past the
/// positions. Each backend states its own as a named constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterBounds {
    /// The largest version a stream may reach.
    pub version_max: u64,
    /// The largest position the store may assign.
    pub position_max: u64,
    /// The refusal of a batch past `position_max`.
    pub positions_exhausted: PositionsExhausted,
}

impl CounterBounds {
    /// Counters stored as signed 64-bit integers (SQLite `INTEGER`, PostgreSQL `BIGINT`).
    pub const SIGNED_64: CounterBounds = CounterBounds {
        version_max: i64::MAX as u64,
        position_max: i64::MAX as u64,
        positions_exhausted: PositionsExhausted::StorageBound,
    };

    fn positions_exhausted(&self, last_position: Position) -> AppendError {
        match self.positions_exhausted {
            PositionsExhausted::Overflow => AppendError::PositionOverflow,
            PositionsExhausted::StorageBound => AppendError::Storage(StorageError::backend(
                "the store has no position left for this batch",
                format!(
                    "its last position is {last_position}, and positions stop at {}",
                    self.position_max
                ),
            )),
        }
    }
}

/// What a backend looked up for one append.
#[derive(Clone, Copy, Debug)]
pub struct AppendState<'a> {
    /// The stream's current version ([`Version::NONE`] for a stream never written).
    pub current: Version,
    /// The store's last assigned position ([`Position::START`] before the first append).
    pub last_position: Position,
    /// What the id lookup found for each event of the batch, in batch order; empty when the
    /// backend knows that none of the batch's ids is stored.
    pub stored: &'a [Option<StoredEventRef>],
}

/// Where a written batch goes: `n_events` consecutive versions from `first_version` and
/// consecutive positions from `first_position`, all within the backend's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The version of the batch's first event.
    pub first_version: Version,
    /// The position of the batch's first event.
    pub first_position: Position,
    /// The batch's size (at least 1).
    pub n_events: u64,
}

impl Placement {
    /// The version of the batch's event at `index`.
    pub fn version(&self, index: usize) -> Version {
        debug_assert!((index as u64) < self.n_events, "an event of the batch");
        Version(self.first_version.0 + index as u64)
    }

    /// The position of the batch's event at `index`.
    pub fn position(&self, index: usize) -> Position {
        debug_assert!((index as u64) < self.n_events, "an event of the batch");
        Position(self.first_position.0 + index as u64)
    }

    /// The stream's version after the batch.
    pub fn last_version(&self) -> Version {
        Version(self.first_version.0 + self.n_events - 1)
    }

    /// The store's last position after the batch.
    pub fn last_position(&self) -> Position {
        Position(self.first_position.0 + self.n_events - 1)
    }

    /// The caller's answer once the batch is written.
    pub fn result(&self) -> AppendResult {
        AppendResult {
            first_position: self.first_position,
            last_position: self.last_position(),
            stream_version: self.last_version(),
        }
    }
}

/// What to do with an append that is not refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendDecision {
    /// A retry of a stored batch: answer with the original result, write nothing.
    AlreadyAppended(AppendResult),
    /// Write the batch here.
    Write(Placement),
}

/// Decides an append of `batch` to `stream` expecting `expected`, against what the backend
/// looked up (`state`) and the bounds it can store. `Err` is the caller's refusal.
pub fn append(
    stream: &StreamId,
    expected: ExpectedVersion,
    batch: &[PreparedEvent],
    state: AppendState<'_>,
    bounds: &CounterBounds,
) -> Result<AppendDecision, AppendError> {
    let retry = check_retry(stream, expected, state.current, batch, state.stored)?;
    if let RetryCheck::AlreadyAppended(result) = retry {
        return Ok(AppendDecision::AlreadyAppended(result));
    }
    let n_events = batch.len() as u64;
    place(
        stream,
        expected,
        state.current,
        state.last_position,
        n_events,
        bounds,
    )
    .map(AppendDecision::Write)
}

/// Decides where `n_events` new events of `stream` go, once the batch is known not to be a
/// retry: the expected version, then the version bound, then the position bound.
pub fn place(
    stream: &StreamId,
    expected: ExpectedVersion,
    current: Version,
    last_position: Position,
    n_events: u64,
    bounds: &CounterBounds,
) -> Result<Placement, AppendError> {
    if !expected.accepts(current) {
        return Err(AppendError::WrongExpectedVersion {
            stream: stream.clone(),
            expected,
            actual: current,
        });
    }
    let past = |counter: u64, max: u64| counter.checked_add(n_events).is_none_or(|last| last > max);
    if past(current.0, bounds.version_max) {
        return Err(AppendError::VersionOverflow {
            stream: stream.clone(),
        });
    }
    if past(last_position.0, bounds.position_max) {
        return Err(bounds.positions_exhausted(last_position));
    }
    // Both sums were checked above to stay within the bounds.
    Ok(Placement {
        first_version: Version(current.0 + 1),
        first_position: Position(last_position.0 + 1),
        n_events,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::batch::prepare_batch;
    use crate::event::NewEvent;
    use crate::ids::EventType;
    use crate::limits::Limits;

    const U64: CounterBounds = CounterBounds {
        version_max: u64::MAX,
        position_max: u64::MAX,
        positions_exhausted: PositionsExhausted::Overflow,
    };

    fn batch(n: usize) -> Vec<PreparedEvent> {
        let events = (0..n)
            .map(|_| NewEvent::new(EventType::new("note:added").unwrap(), json!({})))
            .collect();
        prepare_batch(events, &Limits::default(), 0).unwrap()
    }

    fn s() -> StreamId {
        StreamId::new("s").unwrap()
    }

    fn state(current: u64, last_position: u64) -> AppendState<'static> {
        AppendState {
            current: Version(current),
            last_position: Position(last_position),
            stored: &[],
        }
    }

    #[test]
    fn a_new_batch_takes_the_next_versions_and_positions() {
        let decision = append(
            &s(),
            ExpectedVersion::Exact(Version(2)),
            &batch(3),
            state(2, 40),
            &U64,
        );
        let Ok(AppendDecision::Write(placement)) = decision else {
            panic!("{decision:?}");
        };
        assert_eq!(placement.version(0), Version(3));
        assert_eq!(placement.position(2), Position(43));
        let result = placement.result();
        assert_eq!(result.first_position, Position(41));
        assert_eq!(result.last_position, Position(43));
        assert_eq!(result.stream_version, Version(5));
    }

    #[test]
    fn a_retry_wins_over_the_expected_version_and_the_bounds() {
        let stored = [Some(StoredEventRef {
            stream: s(),
            version: Version(1),
            position: Position(7),
        })];
        let looked = AppendState {
            current: Version(u64::MAX),
            last_position: Position(u64::MAX),
            stored: &stored,
        };
        let decision = append(&s(), ExpectedVersion::NoStream, &batch(1), looked, &U64);
        let Ok(AppendDecision::AlreadyAppended(result)) = decision else {
            panic!("{decision:?}");
        };
        assert_eq!(result.first_position, Position(7));
    }

    #[test]
    fn the_expected_version_wins_over_the_bounds() {
        let decision = append(
            &s(),
            ExpectedVersion::NoStream,
            &batch(2),
            state(u64::MAX, u64::MAX),
            &U64,
        );
        assert!(
            matches!(decision, Err(AppendError::WrongExpectedVersion { actual, .. }) if actual == Version(u64::MAX)),
            "{decision:?}"
        );
    }

    #[test]
    fn the_version_bound_wins_over_the_position_bound() {
        for bounds in [U64, CounterBounds::SIGNED_64] {
            let current = bounds.version_max - 1;
            let decision = append(
                &s(),
                ExpectedVersion::Any,
                &batch(2),
                state(current, u64::MAX),
                &bounds,
            );
            assert!(
                matches!(decision, Err(AppendError::VersionOverflow { .. })),
                "{decision:?}"
            );
            let decision = append(
                &s(),
                ExpectedVersion::Any,
                &batch(1),
                state(current, 0),
                &bounds,
            );
            assert!(
                decision.is_ok(),
                "the last version itself is allowed: {decision:?}"
            );
        }
    }

    #[test]
    fn positions_stop_at_the_bound_the_backend_states() {
        let decision = append(
            &s(),
            ExpectedVersion::Any,
            &batch(2),
            state(0, u64::MAX - 1),
            &U64,
        );
        assert!(
            matches!(decision, Err(AppendError::PositionOverflow)),
            "{decision:?}"
        );
        let decision = append(
            &s(),
            ExpectedVersion::Any,
            &batch(1),
            state(0, u64::MAX - 1),
            &U64,
        );
        assert!(decision.is_ok(), "{decision:?}");
        let signed = CounterBounds::SIGNED_64;
        let last = i64::MAX as u64 - 1;
        let decision = append(
            &s(),
            ExpectedVersion::Any,
            &batch(2),
            state(0, last),
            &signed,
        );
        let Err(AppendError::Storage(error)) = decision else {
            panic!("{decision:?}");
        };
        assert!(error.to_string().contains("no position left"), "{error}");
        let decision = append(
            &s(),
            ExpectedVersion::Any,
            &batch(1),
            state(0, last),
            &signed,
        );
        assert!(decision.is_ok(), "{decision:?}");
    }

    #[test]
    fn place_is_the_rule_after_the_retry_check() {
        let placed = place(
            &s(),
            ExpectedVersion::StreamExists,
            Version(1),
            Position(9),
            1000,
            &U64,
        );
        assert_eq!(placed.unwrap().last_position(), Position(1009));
        let refused = place(
            &s(),
            ExpectedVersion::StreamExists,
            Version(0),
            Position(9),
            1,
            &U64,
        );
        assert!(
            matches!(refused, Err(AppendError::WrongExpectedVersion { .. })),
            "{refused:?}"
        );
    }
}
