// Goal: an acknowledged append survives kill -9 of the writer process, and a crash never leaves a
// partial batch or a gap. Method: annal_testkit's SIGKILL test (20 random kills of the probe's
// `write` mode, every acknowledged id, whole batches and gap-free versions and positions checked
// after each); this backend adds, after each kill, that the derived index and its maintained
// statistics equal a recount (the probe indexes every 7 events, so kills land in groups that
// index), and at the end the same after a retention pass.

use std::path::{Path, PathBuf};

use annal_core::{RetentionPolicy, Store};
use annal_sqlite::{OpenOptions, SqliteStore};
use annal_testkit::crash::KillTarget;

use crate::support::{everything, stream};

struct Sqlite;

impl KillTarget for Sqlite {
    type Store = SqliteStore;

    fn probe(&self) -> PathBuf {
        env!("CARGO_BIN_EXE_annal-sqlite-probe").into()
    }

    fn store_name(&self) -> &'static str {
        "annal.db"
    }

    fn probe_env(&self) -> Vec<(&'static str, &'static str)> {
        vec![("ANNAL_PROBE_INDEX_EVERY", "7")]
    }

    async fn reopen(&mut self, path: &Path) -> SqliteStore {
        let store = SqliteStore::open(path).unwrap();
        check_index(&store).await;
        store
    }

    async fn finish(&mut self, path: &Path) {
        let store = SqliteStore::open_with(path, OpenOptions::new().index_every(7)).unwrap();
        let policy = RetentionPolicy {
            max_events: Some(everything(&store).await.len() as u64 / 2),
            ..RetentionPolicy::default()
        };
        store.retain(policy).await.unwrap();
        store
            .truncate_before(&stream("w1"), annal_core::Version(5), true)
            .await
            .unwrap();
        check_index(&store).await;
    }
}

annal_testkit::sigkill_tests!(Sqlite);

/// The derived index agrees with the log, and the maintained statistics with a recount.
async fn check_index(store: &SqliteStore) {
    assert_eq!(store.check_index().await.unwrap(), Vec::<String>::new());
    let events = everything(store).await;
    let mut stats = store.stats(3).await.unwrap();
    stats.bytes_on_disk = None;
    stats.snapshot_count = 0;
    assert_eq!(stats, annal_testkit::rules::indexed::recount(&events, 3));
}
