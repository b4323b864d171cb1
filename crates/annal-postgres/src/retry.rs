//! Running a read on a pooled connection, again on a fresh one when the connection was lost.
//!
//! Reads change nothing, so repeating one is always safe. A connection can vanish under a
//! running store (a server restart, `pg_terminate_backend`, a network cut); a subscriber must
//! then resume where it stopped instead of ending, so every read retries a few times with a
//! growing pause before it reports the failure.

use std::future::Future;
use std::time::Duration;

use annal_core::{ReadError, StorageError};
use deadpool_postgres::{Object, Pool, PoolError};
use tokio_postgres::error::SqlState;

/// Attempts per read before the failure is reported.
const READ_ATTEMPTS_MAX: u32 = 8;

/// The first pause after a lost connection; it doubles with each attempt (about 6 s in all).
const FIRST_PAUSE_MS: u64 = 25;

/// Whether `error` means the connection is gone (or the server is going away), rather than
/// that the statement itself failed.
pub(crate) fn is_connection_lost(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        return *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || code.code().starts_with("08");
    }
    // Without a SQLSTATE, only a failure of the socket itself means the connection is gone
    // (a value that does not convert is a plain error).
    std::error::Error::source(error).is_some_and(|source| source.is::<std::io::Error>())
}

fn pool_error_is_transient(error: &PoolError) -> bool {
    match error {
        PoolError::Backend(error) => is_connection_lost(error),
        PoolError::Timeout(_) => true,
        _ => false,
    }
}

/// Wraps a database failure of a read.
pub(crate) fn read_error(
    context: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> ReadError {
    ReadError::Storage(StorageError::backend(context.to_owned(), error))
}

/// Runs `read` on a pooled connection; on a lost connection, waits and runs it again on
/// another one.
pub(crate) async fn read_with_retry<T, F, Fut>(
    pool: &Pool,
    context: &str,
    mut read: F,
) -> Result<T, ReadError>
where
    F: FnMut(Object) -> Fut,
    Fut: Future<Output = Result<T, ReadFailure>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = match pool.get().await {
            Ok(client) => read(client).await,
            Err(error) if pool_error_is_transient(&error) => {
                Err(ReadFailure::Lost(Box::new(error)))
            }
            Err(error) => return Err(read_error(context, error)),
        };
        match outcome {
            Ok(value) => return Ok(value),
            Err(ReadFailure::Lost(_)) if attempt < READ_ATTEMPTS_MAX => {
                tokio::time::sleep(Duration::from_millis(FIRST_PAUSE_MS << (attempt - 1))).await;
            }
            Err(ReadFailure::Lost(error)) => {
                return Err(ReadError::Storage(StorageError::backend(
                    context.to_owned(),
                    error,
                )));
            }
            Err(ReadFailure::Read(error)) => return Err(error),
        }
    }
}

/// How one attempt at a read failed.
#[derive(Debug)]
pub(crate) enum ReadFailure {
    /// The connection was lost: worth another attempt.
    Lost(Box<dyn std::error::Error + Send + Sync>),
    /// Anything else: reported as is.
    Read(ReadError),
}

impl From<tokio_postgres::Error> for ReadFailure {
    fn from(error: tokio_postgres::Error) -> Self {
        if is_connection_lost(&error) {
            ReadFailure::Lost(Box::new(error))
        } else {
            ReadFailure::Read(read_error("reading from PostgreSQL", error))
        }
    }
}

impl From<ReadError> for ReadFailure {
    fn from(error: ReadError) -> Self {
        ReadFailure::Read(error)
    }
}
