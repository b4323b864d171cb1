//! Fuzz target: a seed run ledger directory, read by `annal_ndjson::read_seed_ledger` and
//! imported by `annal import --format seed-ledger`.
//!
//! The bytes are `events.ndjson`, then optional `@@ index.json` and `@@ .lock` sections
//! (`annal_fuzz::sections`). Every line must be accounted for by the reader, the import must end
//! with a report, leave a readable log, and add nothing when run again.

#![no_main]

use std::sync::Arc;

use annal_cli::ImportFormat;
use annal_cli::fuzzing::import;
use annal_core::{MemoryStore, Store};
use annal_fuzz::{read_everything, runtime, sections, write_sections};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (events, named) = sections(data);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("events.ndjson"), events).unwrap();
    write_sections(dir.path(), &named, &["index.json", ".lock"], &[]);

    let ledger = annal_ndjson::read_seed_ledger(dir.path()).unwrap();
    let lines = events.split(|&b| b == b'\n').count();
    let mut seen = 0;
    for line in ledger {
        line.unwrap();
        seen += 1;
    }
    assert!(seen <= lines, "{seen} lines from {lines}");

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    runtime().block_on(async {
        let first = import(Arc::clone(&store), ImportFormat::SeedLedger, dir.path())
            .await
            .unwrap();
        let events = read_everything(&*store).await.unwrap();
        assert_eq!(events.len() as u64, first.imported, "{first:?}");
        let again = import(Arc::clone(&store), ImportFormat::SeedLedger, dir.path())
            .await
            .unwrap();
        assert_eq!(
            again.imported, 0,
            "a second import added events: {first:?} then {again:?}"
        );
    });
});
