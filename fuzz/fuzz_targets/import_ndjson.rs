//! Fuzz target: `annal import --format ndjson` of an arbitrary file.
//!
//! The bytes are the export file. The import must finish with a report (bad lines skipped, not
//! fatal), leave a log every reader accepts, and be idempotent: importing the same file again
//! adds nothing.

#![no_main]

use std::sync::Arc;

use annal_cli::ImportFormat;
use annal_cli::fuzzing::import;
use annal_core::{MemoryStore, Store};
use annal_fuzz::{read_everything, runtime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.ndjson");
    std::fs::write(&path, data).unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    runtime().block_on(async {
        let first = import(Arc::clone(&store), ImportFormat::Ndjson, &path)
            .await
            .unwrap();
        let events = read_everything(&*store).await.unwrap();
        assert_eq!(events.len() as u64, first.imported, "{first:?}");
        let again = import(Arc::clone(&store), ImportFormat::Ndjson, &path)
            .await
            .unwrap();
        assert_eq!(
            again.imported, 0,
            "a second import added events: {first:?} then {again:?}"
        );
        assert_eq!(read_everything(&*store).await.unwrap(), events);
    });
});
