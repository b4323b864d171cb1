//! [`Names`]: each read connection's memory of the dictionary tables (stream, type and aggregate
//! type names by id), so event rows are read without joining three tables per row.
//!
//! Safe to cache because a dictionary row never changes once committed: the writer only inserts
//! names, never renames, deletes or reuses an id (a deleted stream keeps its row, flagged). A
//! reader only ever sees ids from committed rows, so an id it resolves stays bound to that name.
//! Each pooled connection has its own `Names`, so readers never contend on a lock; each map is
//! capped and simply cleared when full, which bounds memory on stores with millions of streams.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use annal_core::{AggregateType, EventType, InvalidName, ReadError, StorageError, StreamId};
use rusqlite::{Connection, OptionalExtension, params};

use crate::row::read_failed;

/// Names kept per map before it is cleared; at ~100 B an entry, about 6 MiB per connection.
const NAMES_MAX: usize = 64 * 1024;

/// Hashes dictionary ids with one multiply. The ids come from annal's own file, so SipHash's
/// resistance to chosen keys buys nothing, and its cost showed in profiles of full reads; the
/// multiply (by 2^64 / golden ratio) spreads dense ids over the high bits the table probes with.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(GOLDEN);
        }
    }

    fn write_i64(&mut self, id: i64) {
        self.0 = id.cast_unsigned().wrapping_mul(GOLDEN);
    }
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// One dictionary table's names by id.
#[derive(Debug)]
struct Dictionary<T> {
    table: &'static str,
    by_id: HashMap<i64, T, BuildHasherDefault<IdHasher>>,
}

impl<T: Clone> Dictionary<T> {
    fn new(table: &'static str) -> Self {
        Self {
            table,
            by_id: HashMap::default(),
        }
    }

    fn resolve(
        &mut self,
        connection: &Connection,
        id: i64,
        build: fn(String) -> Result<T, InvalidName>,
    ) -> Result<T, ReadError> {
        if let Some(name) = self.by_id.get(&id) {
            return Ok(name.clone());
        }
        let sql = format!("SELECT name FROM {} WHERE id = ?1", self.table);
        let failed = |source| read_failed(self.table, source);
        let name: Option<String> = connection
            .prepare_cached(&sql)
            .map_err(failed)?
            .query_row(params![id], |row| row.get(0))
            .optional()
            .map_err(failed)?;
        let corrupted = |reason: String| {
            ReadError::Storage(StorageError::Corrupted {
                location: format!("{} row {id}", self.table),
                reason,
            })
        };
        let Some(name) = name else {
            return Err(corrupted(
                "an event refers to it, but it does not exist".into(),
            ));
        };
        let name = build(name).map_err(|error| corrupted(error.to_string()))?;
        if self.by_id.len() >= NAMES_MAX {
            self.by_id.clear();
        }
        self.by_id.insert(id, name.clone());
        Ok(name)
    }
}

/// The three dictionaries of one read connection.
#[derive(Debug)]
pub(crate) struct Names {
    streams: Dictionary<StreamId>,
    types: Dictionary<EventType>,
    aggregate_types: Dictionary<AggregateType>,
}

impl Names {
    pub(crate) fn new() -> Self {
        Self {
            streams: Dictionary::new("streams"),
            types: Dictionary::new("types"),
            aggregate_types: Dictionary::new("aggregate_types"),
        }
    }

    /// The stream named by `id`.
    pub(crate) fn stream(
        &mut self,
        connection: &Connection,
        id: i64,
    ) -> Result<StreamId, ReadError> {
        self.streams.resolve(connection, id, StreamId::new)
    }

    /// The event type named by `id`.
    pub(crate) fn event_type(
        &mut self,
        connection: &Connection,
        id: i64,
    ) -> Result<EventType, ReadError> {
        self.types.resolve(connection, id, EventType::new)
    }

    /// The aggregate type named by `id`.
    pub(crate) fn aggregate_type(
        &mut self,
        connection: &Connection,
        id: i64,
    ) -> Result<AggregateType, ReadError> {
        self.aggregate_types
            .resolve(connection, id, AggregateType::new)
    }
}
