//! How a writer transaction failed, and whether running it again is safe and useful.
//!
//! Invariant: a failure is `committed_unknown` only when `COMMIT` was sent and no answer
//! came back; every other failure left nothing committed (PostgreSQL rolls back a transaction
//! whose connection dies before `COMMIT`).

use tokio_postgres::error::SqlState;

use crate::retry::is_connection_lost;

/// A failed group transaction.
#[derive(Debug)]
pub(crate) struct GroupFailure {
    /// What went wrong.
    pub(crate) error: Box<dyn std::error::Error + Send + Sync>,
    /// Whether `COMMIT` may have taken effect.
    pub(crate) committed_unknown: bool,
    /// Whether the same group, run again from the start, can succeed: a lost connection, or a
    /// conflict with another process (an id it committed meanwhile, a deadlock).
    pub(crate) retryable: bool,
    /// Where and why a stored value could not be used (`StorageError::Corrupted`).
    pub(crate) corrupted: Option<(String, String)>,
}

impl GroupFailure {
    /// A failure before `COMMIT` was sent: nothing was committed.
    pub(crate) fn before_commit(error: tokio_postgres::Error) -> Self {
        let retryable = is_connection_lost(&error)
            || error.code().is_some_and(|code| {
                *code == SqlState::UNIQUE_VIOLATION
                    || *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
            });
        Self {
            error: Box::new(error),
            committed_unknown: false,
            retryable,
            corrupted: None,
        }
    }

    /// A stored value the writer cannot use, found before `COMMIT`: never retried.
    pub(crate) fn corrupted(error: annal_core::StorageError) -> Self {
        let corrupted = match &error {
            annal_core::StorageError::Corrupted { location, reason } => {
                Some((location.clone(), reason.clone()))
            }
            _ => None,
        };
        Self {
            error: Box::new(error),
            committed_unknown: false,
            retryable: false,
            corrupted,
        }
    }

    /// A failure of `COMMIT` itself: with the connection gone, the outcome is unknown; with an
    /// answer from the server, the transaction was rolled back.
    pub(crate) fn at_commit(error: tokio_postgres::Error) -> Self {
        if is_connection_lost(&error) {
            return Self {
                error: Box::new(error),
                committed_unknown: true,
                retryable: false,
                corrupted: None,
            };
        }
        Self::before_commit(error)
    }

    /// A name the cache should hold is missing: a bug, never retried.
    pub(crate) fn missing_name(name: &str) -> Self {
        Self {
            error: format!("name {name:?} is not in the writer's dictionary").into(),
            committed_unknown: false,
            retryable: false,
            corrupted: None,
        }
    }

    /// A state the writer's own locks rule out: a bug, never retried.
    pub(crate) fn impossible(what: &str) -> Self {
        Self {
            error: what.to_owned().into(),
            committed_unknown: false,
            retryable: false,
            corrupted: None,
        }
    }

    /// A pool failure before anything was sent.
    pub(crate) fn no_connection(error: deadpool_postgres::PoolError) -> Self {
        let retryable = match &error {
            deadpool_postgres::PoolError::Backend(error) => is_connection_lost(error),
            deadpool_postgres::PoolError::Timeout(_) => true,
            _ => false,
        };
        Self {
            error: Box::new(error),
            committed_unknown: false,
            retryable,
            corrupted: None,
        }
    }
}
