// Goal: an acknowledged append survives kill -9 of the writer process, and a crash never leaves a
// partial batch or a gap. Method: annal_testkit's SIGKILL test (20 random kills of the probe's
// `write` mode, every acknowledged id, whole batches and gap-free versions and positions checked
// after each); this backend adds, after each kill, that recovery told a torn tail from damage by
// head.json, and counts the torn tails it cut.

use std::path::{Path, PathBuf};

use annal_ndjson::{HeadStatus, NdjsonStore};
use annal_testkit::crash::KillTarget;

#[derive(Default)]
struct Ndjson {
    torn_tails: usize,
}

impl KillTarget for Ndjson {
    type Store = NdjsonStore;

    fn probe(&self) -> PathBuf {
        env!("CARGO_BIN_EXE_annal-ndjson-probe").into()
    }

    fn store_name(&self) -> &'static str {
        "store"
    }

    async fn reopen(&mut self, path: &Path) -> NdjsonStore {
        let store = NdjsonStore::open(path).unwrap();
        self.torn_tails += usize::from(store.recovery().torn_tail.is_some());
        // A kill loses no page cache: head.json names the log and its synced length, so a torn
        // tail was told from damage by it. Only a kill during the first open, before it wrote
        // head.json, leaves none, and then nothing was appended.
        let recovery = store.recovery();
        let first_open_killed = recovery.head == HeadStatus::Missing && recovery.events == 0;
        assert!(
            matches!(recovery.head, HeadStatus::Current { .. }) || first_open_killed,
            "{:?}",
            store.recovery()
        );
        store
    }

    async fn finish(&mut self, _path: &Path) {
        println!("{} torn tails cut", self.torn_tails);
    }
}

annal_testkit::sigkill_tests!(Ndjson::default());
