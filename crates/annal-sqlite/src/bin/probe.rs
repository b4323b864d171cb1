//! The child process of the crash, fault, lock and multi-process tests (`tests/it/`): the probe
//! of `annal_testkit::crash` (whose docs list its modes) on an SQLite file; not a user tool.
//!
//! `ANNAL_PROBE_INDEX_EVERY=<n>` opens writers that index every `n` events, so the crash
//! test's kills land inside groups that index too. `ANNAL_PROBE_WAL_COPY_BYTES=<n>` opens
//! writers that ask for a WAL copy every `n` bytes, so faults and power losses land inside
//! WAL copies too.

use std::sync::Arc;

use annal_core::Store;
use annal_sqlite::{Durability, OpenError, OpenOptions, SqliteStore};
use annal_testkit::crash::{
    ProbeBackend, ProbeDurability, ProbeOpenError, ProbeResult, probe_main,
};

fn main() -> ProbeResult<()> {
    probe_main(&Sqlite)
}

struct Sqlite;

impl ProbeBackend for Sqlite {
    async fn open(
        &self,
        path: &str,
        durability: ProbeDurability,
    ) -> Result<Arc<dyn Store>, ProbeOpenError> {
        let store = SqliteStore::open_with(path, writer_options(durability)).map_err(refusal)?;
        Ok(Arc::new(store))
    }

    async fn open_read_only(&self, path: &str) -> Result<Arc<dyn Store>, ProbeOpenError> {
        Ok(Arc::new(
            SqliteStore::open_read_only(path).map_err(refusal)?,
        ))
    }
}

fn writer_options(durability: ProbeDurability) -> OpenOptions {
    let options = OpenOptions::new().durability(match durability {
        ProbeDurability::Durable => Durability::Durable,
        ProbeDurability::Relaxed => Durability::Relaxed,
    });
    let options = match std::env::var("ANNAL_PROBE_INDEX_EVERY")
        .ok()
        .and_then(|every| every.parse().ok())
    {
        Some(every) => options.index_every(every),
        None => options,
    };
    match std::env::var("ANNAL_PROBE_WAL_COPY_BYTES")
        .ok()
        .and_then(|bytes| bytes.parse().ok())
    {
        Some(bytes) => options.wal_copy_after_bytes(bytes),
        None => options,
    }
}

fn refusal(error: OpenError) -> ProbeOpenError {
    match error {
        OpenError::InUse { .. } => ProbeOpenError::InUse(error.into()),
        error => ProbeOpenError::Other(error.into()),
    }
}
