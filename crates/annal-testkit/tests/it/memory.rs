// Goal: the in-memory backend honours every rule of the Store API. Method: the full conformance
// suite plus the model test, each test on a fresh MemoryStore.

use annal_core::MemoryStore;
use annal_testkit::Harness;

async fn make() -> Harness {
    Harness::new(MemoryStore::new())
}

annal_testkit::conformance_tests!(make);
