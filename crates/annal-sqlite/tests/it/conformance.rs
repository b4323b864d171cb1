// Goal: the SQLite backend honours every rule of the Store API, including durability across
// reopen and read-only followers. Method: the annal-testkit suite, each test on a fresh file in
// its own temp dir, plus the `:memory:` path on the same suite.

use std::sync::Arc;

use annal_core::Store;
use annal_sqlite::{OpenOptions, SqliteStore};
use annal_testkit::{Harness, Reopen};
use futures::future::BoxFuture;

// Every few events go into the derived index, so queries and stats read both the index and
// the unindexed tail above its watermark (the `:memory:` path below keeps the default).
async fn make() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions::new().index_every(3);
    let store = SqliteStore::open_with(dir.path().join("annal.db"), options).unwrap();
    Harness::new(store).keeping(dir)
}

annal_testkit::conformance_tests!(make);

mod memory_path {
    use super::*;

    async fn make() -> Harness {
        Harness::new(SqliteStore::open(annal_sqlite::MEMORY_PATH).unwrap())
    }

    annal_testkit::conformance_tests!(make);
}

struct Location {
    dir: tempfile::TempDir,
}

impl Reopen for Location {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        let path = self.dir.path().join("annal.db");
        Box::pin(async move {
            let store = SqliteStore::open_with(path, OpenOptions::new().index_every(2)).unwrap();
            Arc::new(store) as Arc<dyn Store>
        })
    }

    fn open_read_only(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        let path = self.dir.path().join("annal.db");
        Box::pin(
            async move { Arc::new(SqliteStore::open_read_only(path).unwrap()) as Arc<dyn Store> },
        )
    }
}

fn make_reopen() -> impl Reopen {
    Location {
        dir: tempfile::tempdir().unwrap(),
    }
}

annal_testkit::reopen_tests!(make_reopen);
