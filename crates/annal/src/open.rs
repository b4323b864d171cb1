//! [`open`]: any backend, chosen at run time from a [`Location`], as an `Arc<dyn Store>`.
//!
//! This is the one place that maps a location string to a backend crate, so the CLI, the
//! server and the MCP tools open stores the same way and never name a backend themselves. A
//! read-only open never creates a store: a missing one is [`OpenError::NotFound`].

use std::sync::Arc;
use std::time::Duration;

use annal_core::Store;

use crate::location::{Location, LocationError};

/// Whether the opener writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Takes the writer lock of an embedded store, creating the store if it does not exist.
    Write,
    /// Reads while another process may write; the store must exist.
    Read,
}

/// How [`open_with`] opens a store.
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    access: Access,
    lock_timeout: Duration,
}

impl OpenOptions {
    /// A writer that fails at once if another writer holds an embedded store.
    pub fn write() -> Self {
        OpenOptions {
            access: Access::Write,
            lock_timeout: Duration::ZERO,
        }
    }

    /// A reader.
    pub fn read() -> Self {
        OpenOptions {
            access: Access::Read,
            lock_timeout: Duration::ZERO,
        }
    }

    /// Options for `access`.
    pub fn new(access: Access) -> Self {
        match access {
            Access::Write => Self::write(),
            Access::Read => Self::read(),
        }
    }

    /// How long a writer waits for another writer of an embedded store to let go.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// The access these options ask for.
    pub fn access(&self) -> Access {
        self.access
    }
}

/// Why [`open`] failed. Every variant names the store, never with its password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The location string was refused.
    #[error(transparent)]
    Location(#[from] LocationError),
    /// A read-only open (or a backup) of a store that does not exist.
    #[error(
        "no store at {location}: create one with `annal init` or point the location at an \
         existing store"
    )]
    NotFound {
        /// The location, without its password.
        location: String,
    },
    /// The location names a backend that this build leaves out.
    #[error(
        "{location} needs the `{feature}` feature of the annal crate, which this build leaves out"
    )]
    BackendNotBuilt {
        /// The location, without its password.
        location: String,
        /// The cargo feature that brings the backend in.
        feature: &'static str,
    },
    /// The embedded SQLite store refused to open.
    #[cfg(feature = "sqlite")]
    #[error("opening {location}")]
    Sqlite {
        /// The file.
        location: String,
        /// What the backend said.
        #[source]
        source: Box<annal_sqlite::OpenError>,
    },
    /// The NDJSON store refused to open.
    #[cfg(feature = "ndjson")]
    #[error("opening {location}")]
    Ndjson {
        /// The directory.
        location: String,
        /// What the backend said.
        #[source]
        source: Box<annal_ndjson::OpenError>,
    },
    /// The PostgreSQL store could not be reached or opened.
    #[cfg(feature = "postgres")]
    #[error("opening {location}")]
    Postgres {
        /// The URL, without its password.
        location: String,
        /// What the backend said.
        #[source]
        source: Box<annal_postgres::ConnectError>,
    },
    /// The blocking task that opened an embedded store died.
    #[error("opening {location}: the opening task failed")]
    Task {
        /// The location.
        location: String,
        /// What the runtime said.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Opens the store at `location` (a path, `ndjson:DIR` or a `postgres://` URL) with `access`.
///
/// Must be called inside a tokio runtime: embedded stores open on a blocking thread, since
/// opening may scan a log or wait for a lock.
pub async fn open(location: &str, access: Access) -> Result<Arc<dyn Store>, OpenError> {
    open_with(&Location::parse(location)?, OpenOptions::new(access)).await
}

/// Opens the store at an already parsed `location`.
pub async fn open_with(
    location: &Location,
    options: OpenOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    match location {
        Location::Sqlite(path) => open_sqlite(location, path.clone(), options).await,
        Location::Ndjson(dir) => open_ndjson(location, dir.clone(), options).await,
        Location::Postgres(url) => open_postgres(location, url, options).await,
    }
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "ndjson", feature = "postgres")),
    allow(dead_code)
)]
fn not_found(location: &Location) -> OpenError {
    OpenError::NotFound {
        location: location.to_string(),
    }
}

#[cfg_attr(not(any(feature = "sqlite", feature = "ndjson")), allow(dead_code))]
async fn blocking<T: Send + 'static>(
    location: &Location,
    work: impl FnOnce() -> Result<T, OpenError> + Send + 'static,
) -> Result<T, OpenError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|source| OpenError::Task {
            location: location.to_string(),
            source,
        })?
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(
    location: &Location,
    path: std::path::PathBuf,
    options: OpenOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    if options.access == Access::Read
        && path.as_os_str() != annal_sqlite::MEMORY_PATH
        && !path.exists()
    {
        return Err(not_found(location));
    }
    let backend_options = match options.access {
        Access::Write => annal_sqlite::OpenOptions::new().lock_timeout(options.lock_timeout),
        Access::Read => annal_sqlite::OpenOptions::new().read_only(),
    };
    let shown = location.to_string();
    let store = blocking(location, move || {
        annal_sqlite::SqliteStore::open_with(&path, backend_options).map_err(|source| {
            OpenError::Sqlite {
                location: shown,
                source: Box::new(source),
            }
        })
    })
    .await?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(
    location: &Location,
    _path: std::path::PathBuf,
    _options: OpenOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    Err(not_built(location, "sqlite"))
}

#[cfg(feature = "ndjson")]
async fn open_ndjson(
    location: &Location,
    dir: std::path::PathBuf,
    options: OpenOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    if options.access == Access::Read && !dir.exists() {
        return Err(not_found(location));
    }
    let backend_options = match options.access {
        Access::Write => annal_ndjson::OpenOptions::new().lock_timeout(options.lock_timeout),
        Access::Read => annal_ndjson::OpenOptions::new().read_only(),
    };
    let shown = location.to_string();
    let store = blocking(location, move || {
        annal_ndjson::NdjsonStore::open_with(&dir, backend_options).map_err(|source| {
            OpenError::Ndjson {
                location: shown,
                source: Box::new(source),
            }
        })
    })
    .await?;
    Ok(Arc::new(store))
}

#[cfg(not(feature = "ndjson"))]
async fn open_ndjson(
    location: &Location,
    _dir: std::path::PathBuf,
    _options: OpenOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    Err(not_built(location, "ndjson"))
}

#[cfg(feature = "postgres")]
async fn open_postgres(
    location: &Location,
    url: &str,
    options: OpenOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    use annal_postgres::{ConnectError, PostgresOptions, PostgresStore};
    let backend_options = match options.access {
        Access::Write => PostgresOptions::new(),
        Access::Read => PostgresOptions::new().read_only(),
    };
    let failed = |source| OpenError::Postgres {
        location: location.to_string(),
        source: Box::new(source),
    };
    let (config, tls) = annal_postgres::parse_connection_string(url).map_err(failed)?;
    match PostgresStore::connect_with(config, backend_options.tls(tls)).await {
        Ok(store) => Ok(Arc::new(store)),
        Err(ConnectError::NotFound) => Err(not_found(location)),
        Err(source) => Err(failed(source)),
    }
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(
    location: &Location,
    _url: &str,
    _options: OpenOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    Err(not_built(location, "postgres"))
}

#[cfg_attr(
    all(feature = "sqlite", feature = "ndjson", feature = "postgres"),
    allow(dead_code)
)]
fn not_built(location: &Location, feature: &'static str) -> OpenError {
    OpenError::BackendNotBuilt {
        location: location.to_string(),
        feature,
    }
}
