//! The key of an event id in the writer's id index: SipHash-1-3 of the id's bytes under a
//! random 128-bit key drawn once per store and kept in `meta` (`id_hash_key_0`, `_1`).
//!
//! Ids come from callers, and the server takes them from strangers. An unkeyed hash (version 3
//! used FNV-1a) lets anyone compute ids that share one hash, and every append of such an id
//! then reads the id runs and the rows of all its twins. Under a secret key the hashes cannot be
//! predicted, so collisions stay as rare as chance makes them. A collision still costs only a
//! lookup: every hit is confirmed against the stored row before it answers a retry or a
//! duplicate (`writer/append.rs`).
//!
//! Invariant: a store's key never changes once drawn (its hashes are stored in the id runs);
//! the upgrade to schema version 4 draws it and rewrites the id runs under it ([`rekey_ids`]).

use std::hash::Hasher;

use rusqlite::{Connection, OptionalExtension};
use siphasher::sip::SipHasher13;

use crate::writer::corrupt::{corrupt, counter};
use crate::writer::id_runs;

/// The meta keys of the two halves of the key.
const KEY_ROWS: [&str; 2] = ["id_hash_key_0", "id_hash_key_1"];

/// Hashes ids under one store's key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdHasher(SipHasher13);

impl IdHasher {
    /// A hasher under the key `(k0, k1)`.
    pub(crate) fn with_key(k0: u64, k1: u64) -> Self {
        Self(SipHasher13::new_with_keys(k0, k1))
    }

    /// The store's hasher, under the key in `meta`; a store without one is damaged.
    pub(crate) fn load(connection: &Connection) -> rusqlite::Result<Self> {
        let mut halves = [0u64; 2];
        for (half, key) in halves.iter_mut().zip(KEY_ROWS) {
            let value: Option<i64> = connection
                .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
                .query_row([key], |row| row.get(0))
                .optional()?;
            let Some(value) = value else {
                return Err(corrupt(
                    format!("meta row {key}"),
                    "the id index's key is missing",
                ));
            };
            *half = u64::from_le_bytes(value.to_le_bytes());
        }
        Ok(Self::with_key(halves[0], halves[1]))
    }

    /// The index key of `id`.
    pub(crate) fn hash(&self, id: &str) -> u64 {
        let mut hasher = self.0;
        hasher.write(id.as_bytes());
        hasher.finish()
    }
}

/// The conversion of schema version 4: the id runs held unkeyed hashes, so they are dropped and
/// the ids at or below the mark are hashed under the new key and written as one id run. The
/// entries are sorted in memory (16 bytes per event at or below the mark); the mark stays.
pub(crate) fn rekey_ids(connection: &Connection) -> rusqlite::Result<()> {
    let hasher = IdHasher::load(connection)?;
    connection.execute_batch("DELETE FROM id_run_chunks; DELETE FROM id_runs;")?;
    let mark: i64 = connection.query_row(
        "SELECT coalesce((SELECT value FROM meta WHERE key = 'ids_indexed_through'), 0)",
        [],
        |row| row.get(0),
    )?;
    let mut entries = Vec::new();
    let mut statement =
        connection.prepare("SELECT position, id FROM events WHERE position <= ?1")?;
    let mut rows = statement.query([mark])?;
    while let Some(row) = rows.next()? {
        let position: i64 = row.get(0)?;
        let position = counter(position, || "table events (position)".into())?;
        entries.push((hasher.hash(row.get_ref(1)?.as_str()?), position));
    }
    entries.sort_unstable();
    id_runs::write_one_id_run(connection, &entries)
}

/// A hasher under a fixed key, for tests.
#[cfg(test)]
pub(crate) fn test_hasher() -> IdHasher {
    IdHasher::with_key(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210)
}

/// The hash of `id` under [`test_hasher`]'s key, for tests that need uniform 64-bit keys.
#[cfg(test)]
pub(crate) fn test_hash(id: &str) -> u64 {
    test_hasher().hash(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_depends_on_the_key_and_is_pinned_for_one() {
        // Stored in the id runs: SipHash-1-3 must stay what it was for a given key.
        let pinned = IdHasher::with_key(1, 2).hash("evt-1");
        assert_eq!(pinned, PINNED);
        assert_ne!(IdHasher::with_key(1, 3).hash("evt-1"), pinned);
        assert_ne!(IdHasher::with_key(1, 2).hash("evt-2"), pinned);
    }

    #[test]
    fn each_store_draws_its_own_key() {
        let first = IdHasher::load(&crate::schema::migrated_in_memory()).unwrap();
        let second = IdHasher::load(&crate::schema::migrated_in_memory()).unwrap();
        // An unkeyed hash gives every store the same value, which strangers can compute.
        assert_ne!(first.hash("evt-1"), second.hash("evt-1"));
    }

    #[test]
    fn a_store_without_a_key_is_corrupted() {
        let connection = crate::schema::migrated_in_memory();
        connection
            .execute("DELETE FROM meta WHERE key = 'id_hash_key_1'", [])
            .unwrap();
        let error = IdHasher::load(&connection).unwrap_err();
        let corrupt = crate::writer::corrupt::as_corrupt(&error).unwrap();
        assert!(corrupt.location.contains("id_hash_key_1"), "{corrupt}");
    }

    /// SipHash-1-3 of "evt-1" under the key (1, 2), computed by an implementation written
    /// apart from this crate's dependency and checked against SipHash-2-4's published vector.
    const PINNED: u64 = 13_890_001_955_619_539_678;
}
