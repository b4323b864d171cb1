//! Fuzz target: opening an arbitrary directory as an NDJSON store, read-only and for writing.
//!
//! The bytes are `events.ndjson`, then optional sections (`annal_fuzz::sections`) for
//! `index.json`, `streams.json`, `.lock`, `events.ndjson.compact` and files under
//! `snapshots/` and `projections/`. Each open either fails with an error or gives a store whose
//! whole log reads back in order. A writer that opened must then take an append, and a reopen
//! must find every event the writer read, plus the new one, at the same positions: nothing
//! acknowledged is cut, no position is reused.

#![no_main]

use annal_core::{EventType, ExpectedVersion, NewEvent, Store, StreamId};
use annal_fuzz::{read_everything, runtime, sections, write_sections};
use annal_ndjson::{NdjsonStore, OpenOptions};
use libfuzzer_sys::fuzz_target;

const FILES: &[&str] = &[
    "index.json",
    "streams.json",
    ".lock",
    "events.ndjson.compact",
];
const SUBDIRS: &[&str] = &["snapshots", "projections"];

fuzz_target!(|data: &[u8]| {
    let (events, named) = sections(data);
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    std::fs::create_dir(&store_dir).unwrap();
    std::fs::write(store_dir.join("events.ndjson"), events).unwrap();
    write_sections(&store_dir, &named, FILES, SUBDIRS);
    runtime().block_on(async {
        if let Ok(store) = NdjsonStore::open_read_only(&store_dir) {
            let _ = read_everything(&store).await;
        }
        let options = OpenOptions::new().lock_timeout(std::time::Duration::ZERO);
        let Ok(store) = NdjsonStore::open_with(&store_dir, options.clone()) else {
            return;
        };
        let Ok(before) = read_everything(&store).await else {
            return;
        };
        let stream = StreamId::new("fuzz-probe").unwrap();
        let event = NewEvent::new(EventType::new("fuzz:probe").unwrap(), serde_json::json!({}));
        let appended = store
            .append(&stream, ExpectedVersion::Any, vec![event])
            .await;
        drop(store);
        let reopened = NdjsonStore::open_with(&store_dir, options)
            .unwrap_or_else(|error| panic!("a store this writer left must reopen: {error}"));
        let after = read_everything(&reopened).await.unwrap();
        assert!(after.len() >= before.len(), "events were lost on reopen");
        assert_eq!(
            &after[..before.len()],
            &before[..],
            "events changed on reopen"
        );
        if let Ok(appended) = appended {
            let last = after.last().unwrap();
            assert_eq!(last.position, appended.last_position);
            assert!(
                before
                    .iter()
                    .all(|event| event.position < appended.first_position)
            );
            assert_eq!(after.len(), before.len() + 1);
        }
    });
});
