//! Opening the store that `--store` names: the backend is chosen at run time, so every command
//! works on an `Arc<dyn Store>`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use annal_core::Store;
use annal_sqlite::{OpenOptions, SqliteStore};
use anyhow::{Context, bail};

/// Whether the command writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Takes the writer lock, creating the store if it does not exist.
    Write,
    /// Reads while another process may write; the store must exist.
    Read,
}

/// Where a store lives, parsed from `--store`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// The embedded SQLite file.
    Sqlite(PathBuf),
}

impl Location {
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            bail!("--store {text:?}: the PostgreSQL backend is not part of this build yet");
        }
        if let Some(dir) = text.strip_prefix("ndjson:") {
            bail!(
                "--store ndjson:{dir}: the NDJSON directory backend is not part of this build yet"
            );
        }
        if text.is_empty() {
            bail!("--store is empty; give a file path");
        }
        Ok(Location::Sqlite(PathBuf::from(text)))
    }

    /// The file of an embedded store.
    pub(crate) fn sqlite_path(&self) -> &Path {
        match self {
            Location::Sqlite(path) => path,
        }
    }
}

/// Opens the store at `location`.
pub(crate) async fn open(
    location: Location,
    access: Access,
    lock_timeout: Duration,
) -> anyhow::Result<Arc<dyn Store>> {
    match location {
        Location::Sqlite(path) => {
            if access == Access::Read && !path.exists() && path.as_os_str() != ":memory:" {
                bail!(
                    "no store at {}: create one with `annal init` or point --store (or \
                     ANNAL_STORE) at an existing store",
                    path.display()
                );
            }
            let options = match access {
                Access::Write => OpenOptions::new().lock_timeout(lock_timeout),
                Access::Read => OpenOptions::new().read_only(),
            };
            // Opening may wait for the writer lock, so it runs off the async threads.
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || {
                SqliteStore::open_with(&path, options)
                    .with_context(|| format!("opening {}", path.display()))
            })
            .await??;
            Ok(Arc::new(store))
        }
    }
}
