//! Why a PostgreSQL store could not be opened.
//!
//! Errors of the store's operations are annal-core's per-operation enums; database failures
//! inside them are [`annal_core::StorageError::Backend`] with what the store was doing.

/// Errors from [`PostgresStore::connect`](crate::PostgresStore::connect).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The connection string did not parse.
    #[error("invalid PostgreSQL connection string")]
    InvalidUrl {
        /// What the driver said.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The pool could not be built from the configuration.
    #[error("building the connection pool")]
    Pool {
        /// What deadpool said.
        #[source]
        source: deadpool_postgres::BuildError,
    },
    /// Connecting or talking to the server failed.
    #[error("{context}")]
    Database {
        /// What the store was doing.
        context: &'static str,
        /// What the server or driver said.
        #[source]
        source: tokio_postgres::Error,
    },
    /// No connection could be had from the pool.
    #[error("getting a connection from the pool")]
    NoConnection {
        /// What the pool said.
        #[source]
        source: deadpool_postgres::PoolError,
    },
    /// The database holds a newer annal schema than this build understands.
    #[error("the database has annal schema version {found}; this build supports up to {supported}")]
    NewerSchema {
        /// The schema version found.
        found: i32,
        /// The newest version this build knows.
        supported: i32,
    },
    /// A read-only connection found no annal store in the database.
    #[error("the database holds no annal store; a writing connection creates one")]
    NotFound,
    /// A read-only connection found an older annal schema, which only a writer may migrate.
    #[error(
        "the database has annal schema version {found}, older than this build's {supported}; \
         connect once for writing to upgrade it"
    )]
    OlderSchema {
        /// The schema version found.
        found: i32,
        /// The version this build reads.
        supported: i32,
    },
    /// The TLS settings are unusable (an unknown `sslmode`, a verifying mode without
    /// `sslrootcert`, a root certificate file that does not read).
    #[error("TLS: {reason}")]
    Tls {
        /// What is wrong.
        reason: String,
    },
    /// The database holds tables named like annal's without annal's migration record.
    #[error("the database is not an annal store: {reason}")]
    NotAnnalStore {
        /// What gave it away.
        reason: String,
    },
}
