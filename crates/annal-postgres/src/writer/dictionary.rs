//! The writer's cache of name → id for streams, event types and aggregate types.
//!
//! Invariant: a cached id is the id of a committed row. Rows of these tables are never
//! deleted or renamed, so a cached id stays right however many processes write. A name not in
//! the cache is inserted with `ON CONFLICT DO NOTHING` in its own short statement, outside the
//! append transaction, so a new name never holds a lock that other writers wait on; a name
//! created for an append that then fails is a harmless unused row (a stream at version 0).

use std::collections::HashMap;

use deadpool_postgres::Object;

/// The cache for one table.
#[derive(Debug)]
pub(crate) struct Dictionary {
    table: &'static str,
    ids: HashMap<String, i64>,
}

impl Dictionary {
    /// An empty cache of `table` (which has `id` and a unique `name`).
    pub(crate) fn new(table: &'static str) -> Self {
        Self {
            table,
            ids: HashMap::new(),
        }
    }

    /// The cached id of `name`; [`Self::ensure`] must have seen it.
    pub(crate) fn get(&self, name: &str) -> Option<i64> {
        self.ids.get(name).copied()
    }

    /// Makes sure every name has a row and a cached id.
    pub(crate) async fn ensure<'a>(
        &mut self,
        client: &Object,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), tokio_postgres::Error> {
        let mut missing: Vec<&str> = names
            .into_iter()
            .filter(|name| !self.ids.contains_key(*name))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        let columns = if self.table == "streams" {
            "(name, version) SELECT name, 0"
        } else {
            "(name) SELECT name"
        };
        let insert = format!(
            "INSERT INTO {} {columns} FROM unnest($1::text[]) AS n(name) ORDER BY name \
             ON CONFLICT (name) DO NOTHING",
            self.table
        );
        let statement = client.prepare_cached(&insert).await?;
        client.execute(&statement, &[&missing]).await?;
        let select = format!("SELECT name, id FROM {} WHERE name = ANY($1)", self.table);
        let statement = client.prepare_cached(&select).await?;
        for row in client.query(&statement, &[&missing]).await? {
            self.ids.insert(row.get(0), row.get(1));
        }
        Ok(())
    }
}
