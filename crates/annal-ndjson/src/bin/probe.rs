//! The child process of the crash, fault, lock and multi-process tests (`tests/it/`): the probe
//! of `annal_testkit::crash` (whose docs list its modes) on an NDJSON directory; not a user
//! tool.

use std::sync::Arc;

use annal_core::Store;
use annal_ndjson::{Durability, NdjsonStore, OpenError, OpenOptions};
use annal_testkit::crash::{
    ProbeBackend, ProbeDurability, ProbeOpenError, ProbeResult, probe_main,
};

fn main() -> ProbeResult<()> {
    probe_main(&Ndjson)
}

struct Ndjson;

/// Passes every few events instead of every 65,536, so the kills of the crash tests land
/// before, during and after moves of the tail to the derived index, and reopens trust and scan
/// across its watermark. Durable stores only: a pass syncs the log first, so in a relaxed
/// store it would make nearly every append durable, and the test that shows relaxed appends
/// can be lost would find none.
const INDEX_EVERY: usize = 40;

impl ProbeBackend for Ndjson {
    async fn open(
        &self,
        dir: &str,
        durability: ProbeDurability,
    ) -> Result<Arc<dyn Store>, ProbeOpenError> {
        let options = match durability {
            ProbeDurability::Durable => OpenOptions::new().index_every(INDEX_EVERY),
            ProbeDurability::Relaxed => OpenOptions::new().durability(Durability::Relaxed),
        };
        Ok(Arc::new(
            NdjsonStore::open_with(dir, options).map_err(refusal)?,
        ))
    }

    async fn open_read_only(&self, dir: &str) -> Result<Arc<dyn Store>, ProbeOpenError> {
        Ok(Arc::new(NdjsonStore::open_read_only(dir).map_err(refusal)?))
    }
}

fn refusal(error: OpenError) -> ProbeOpenError {
    match error {
        OpenError::InUse { .. } => ProbeOpenError::InUse(error.into()),
        error => ProbeOpenError::Other(error.into()),
    }
}
