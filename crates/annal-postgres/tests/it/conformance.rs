// Goal: the PostgreSQL backend honours every rule of the Store API, exactly like the in-memory
// reference backend, including durability across reconnects and read-only followers. Method:
// the annal-testkit suite, each test (and each model-test case) on a fresh database of the
// binary's throwaway cluster.

use std::sync::Arc;

use annal_core::Store;
use annal_postgres::{PostgresOptions, PostgresStore};
use annal_testkit::{Harness, Reopen};
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use annal_testkit::pg_cluster::cluster;

async fn make() -> Harness {
    let url = cluster().fresh_database().await;
    Harness::new(PostgresStore::connect(&url).await.unwrap())
}

annal_testkit::conformance_tests!(make);

/// One database, created on first use; every open is a new connection pool to it.
struct Database {
    url: OnceCell<String>,
}

impl Database {
    async fn url(&self) -> &str {
        self.url
            .get_or_init(|| cluster().fresh_database())
            .await
            .as_str()
    }

    async fn connect(&self, options: PostgresOptions) -> Arc<dyn Store> {
        let config = self.url().await.parse().unwrap();
        Arc::new(PostgresStore::connect_with(config, options).await.unwrap())
    }
}

impl Reopen for Database {
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        Box::pin(self.connect(PostgresOptions::new()))
    }

    fn open_read_only(&self) -> BoxFuture<'_, Arc<dyn Store>> {
        Box::pin(self.connect(PostgresOptions::new().read_only()))
    }
}

fn make_reopen() -> impl Reopen {
    Database {
        url: OnceCell::new(),
    }
}

annal_testkit::reopen_tests!(make_reopen);
