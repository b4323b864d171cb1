// Goal: the PostgreSQL backend honours every rule of the Store API, exactly like the in-memory
// reference backend. Method: the annal-testkit suite, each test (and each model-test case) on
// a fresh database of the binary's throwaway cluster.

use annal_postgres::PostgresStore;
use annal_testkit::Harness;

use crate::cluster::cluster;

async fn make() -> Harness {
    let url = cluster().fresh_database().await;
    Harness::new(PostgresStore::connect(&url).await.unwrap())
}

annal_testkit::conformance_tests!(make);
