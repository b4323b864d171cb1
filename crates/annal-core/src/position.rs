//! Where an event sits: its [`Version`] within its stream and its [`Position`] in the whole store,
//! and the [`ExpectedVersion`] an append asserts about its stream.
//!
//! Both counters start at 1 for the first event; 0 means "before the first event" (an empty
//! stream, or a checkpoint that has processed nothing).

use std::fmt;

use serde::{Deserialize, Serialize};

/// An event's place in its stream: 1 for the first event, then gap-free.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(pub u64);

/// An event's place in the whole store, assigned at commit and strictly increasing in commit
/// order. Positions are never reused, even after events are deleted.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Position(pub u64);

impl Version {
    /// The version of a stream that holds no events.
    pub const NONE: Version = Version(0);

    /// The version after this one. Saturates at `u64::MAX` instead of wrapping to 0, so a
    /// caller's `u64::MAX` can never send a read back to the start.
    pub fn next(self) -> Version {
        Version(self.0.saturating_add(1))
    }

    /// The version after this one, or `None` past `u64::MAX`.
    pub fn checked_next(self) -> Option<Version> {
        self.0.checked_add(1).map(Version)
    }
}

impl Position {
    /// Before the first event: reading from here reads everything.
    pub const START: Position = Position(0);

    /// The position after this one; a checkpoint `p` resumes reading at `p.next()`. Saturates at
    /// `u64::MAX` instead of wrapping to 0, so a caller's `u64::MAX` never rereads the log.
    pub fn next(self) -> Position {
        Position(self.0.saturating_add(1))
    }

    /// The position after this one, or `None` past `u64::MAX`.
    pub fn checked_next(self) -> Option<Position> {
        self.0.checked_add(1).map(Position)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            f.write_str("no stream")
        } else {
            write!(f, "version {}", self.0)
        }
    }
}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.0)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "position {}", self.0)
    }
}

/// What an append asserts about its stream's current version (optimistic concurrency).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "version")]
pub enum ExpectedVersion {
    /// No check: append at the end, whatever it is.
    #[default]
    Any,
    /// The stream must never have held an event.
    NoStream,
    /// The stream must hold at least one event (it may since have been truncated or deleted).
    StreamExists,
    /// The stream's current version must be exactly this (0 is the same as `NoStream`).
    Exact(Version),
}

impl ExpectedVersion {
    /// Whether a stream whose last assigned version is `current` satisfies this expectation.
    pub fn accepts(self, current: Version) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current == Version::NONE,
            ExpectedVersion::StreamExists => current != Version::NONE,
            ExpectedVersion::Exact(version) => current == version,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::StreamExists => f.write_str("an existing stream"),
            ExpectedVersion::Exact(version) => write!(f, "version {}", version.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(expected: ExpectedVersion, current: u64, accepted: bool) {
        assert_eq!(
            expected.accepts(Version(current)),
            accepted,
            "{expected:?} vs {current}"
        );
    }

    #[test]
    fn expected_version_rules() {
        check(ExpectedVersion::Any, 0, true);
        check(ExpectedVersion::Any, 7, true);
        check(ExpectedVersion::NoStream, 0, true);
        check(ExpectedVersion::NoStream, 1, false);
        check(ExpectedVersion::StreamExists, 0, false);
        check(ExpectedVersion::StreamExists, 3, true);
        check(ExpectedVersion::Exact(Version(3)), 3, true);
        check(ExpectedVersion::Exact(Version(3)), 4, false);
        check(ExpectedVersion::Exact(Version(0)), 0, true);
    }

    #[test]
    fn next_never_overflows() {
        assert_eq!(Version(u64::MAX).next(), Version(u64::MAX));
        assert_eq!(Version(u64::MAX).checked_next(), None);
        assert_eq!(Version(6).checked_next(), Some(Version(7)));
        assert_eq!(Position(u64::MAX).next(), Position(u64::MAX));
        assert_eq!(Position(u64::MAX).checked_next(), None);
        assert_eq!(Position(0).next(), Position(1));
    }

    #[test]
    fn display_names_the_state() {
        assert_eq!(Version(0).to_string(), "no stream");
        assert_eq!(Version(4).to_string(), "version 4");
        assert_eq!(ExpectedVersion::Exact(Version(2)).to_string(), "version 2");
    }
}
