// Goal: the NDJSON backend honours every rule of the Store API, including durability across
// reopen and read-only followers. Method: the annal-testkit suite, each test on a fresh store
// directory in its own temp dir.

use std::sync::Arc;

use annal_core::Store;
use annal_ndjson::{NdjsonStore, OpenOptions};
use annal_testkit::{Harness, Reopen};
use futures::future::BoxFuture;

async fn make() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = NdjsonStore::open(dir.path().join("store")).unwrap();
    Harness::new(store).keeping(dir)
}

annal_testkit::conformance_tests!(make);

/// A store directory reopened with the options `options` gives.
struct Location {
    dir: tempfile::TempDir,
    options: fn() -> OpenOptions,
}

impl Reopen for Location {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        let path = self.dir.path().join("store");
        let options = (self.options)();
        Box::pin(async move {
            Arc::new(NdjsonStore::open_with(path, options).unwrap()) as Arc<dyn Store>
        })
    }

    fn open_read_only(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        let path = self.dir.path().join("store");
        let options = (self.options)().read_only();
        Box::pin(async move {
            Arc::new(NdjsonStore::open_with(path, options).unwrap()) as Arc<dyn Store>
        })
    }
}

fn make_reopen() -> impl Reopen {
    Location {
        dir: tempfile::tempdir().unwrap(),
        options: OpenOptions::new,
    }
}

annal_testkit::reopen_tests!(make_reopen);

/// The same rules with a pass every 3 events (the default is 65,536), so most reads cross the
/// derived index's watermark and most reopens scan a tail after it.
mod with_a_pass_every_3_events {
    use annal_ndjson::{NdjsonStore, OpenOptions};
    use annal_testkit::{Harness, Reopen};

    use super::Location;

    fn options() -> OpenOptions {
        OpenOptions::new().index_every(3)
    }

    async fn make() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = NdjsonStore::open_with(dir.path().join("store"), options()).unwrap();
        Harness::new(store).keeping(dir)
    }

    annal_testkit::conformance_tests!(make);

    fn make_reopen() -> impl Reopen {
        Location {
            dir: tempfile::tempdir().unwrap(),
            options,
        }
    }

    annal_testkit::reopen_tests!(make_reopen);
}
