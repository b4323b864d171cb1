//! Bad values read from the database on the writer's side, and the failure type of the
//! maintenance requests that can meet them.
//!
//! Invariant: a stored counter the writer cannot use (a negative version, position or count)
//! is never clamped to 0: the request fails with `StorageError::Corrupted` naming the table
//! and the value, its transaction is rolled back, and nothing is written.

use annal_core::StorageError;

/// A stored counter (position, version, count) as `u64`; a negative one is damage.
pub(crate) fn counter(value: i64, location: impl FnOnce() -> String) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::Corrupted {
        location: location(),
        reason: format!("negative counter {value}"),
    })
}

/// Why a maintenance request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The database call failed.
    #[error(transparent)]
    Database(#[from] tokio_postgres::Error),
    /// A stored value cannot be used.
    #[error(transparent)]
    Corrupted(#[from] StorageError),
}

impl Failure {
    /// The caller's error.
    pub(crate) fn into_storage(self) -> StorageError {
        match self {
            Self::Database(error) => {
                StorageError::backend("writing to PostgreSQL failed", error.to_string())
            }
            Self::Corrupted(error) => error,
        }
    }
}
