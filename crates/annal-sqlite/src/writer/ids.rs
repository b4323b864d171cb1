//! The writer's index of stored event ids, for idempotent retries and duplicate detection.
//!
//! A unique index on ids, written with every commit, cost a large share of append throughput (each
//! commit dirtied one random index page per event; `docs/sqlite-schema.md`), and no read looks
//! events up by id: only the writer needs it. So the index has two parts. Recent ids live in
//! memory, as a map from a 64-bit hash of the id to its position. Once `IDS_MERGE_EVENTS` of them
//! have gathered, the whole map is written, sorted by hash, as a new id run of the stored part
//! ([`IdRuns`], `writer/id_runs.rs`) in the same transaction as the group that filled it, and
//! `meta.ids_indexed_through` moves to the last position. A write after open loads only the ids
//! after `ids_indexed_through`, at most about `IDS_MERGE_EVENTS` rows, however large the store
//! (only a store upgraded from version 1, which stored no ids, loads all of them once). A hash hit
//! is confirmed by reading the row at that position, so collisions and stale entries cost a lookup,
//! never a wrong answer. An in-memory Bloom filter over the stored hashes ([`BloomFilter`]) spares
//! that lookup for almost every new id; after an open it is built by a background reader, and until
//! it is ready every check reads the id runs.
//!
//! Invariant: once loaded, the memory part holds exactly the positions above
//! `ids_indexed_through` of the stored rows (including the open group's rows), and the id runs hold
//! every stored row at or below it (and perhaps entries of rows removed since), all keyed by
//! the store's keyed hash ([`IdHasher`]).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;
use std::sync::mpsc;

use rusqlite::Connection;

use crate::row::to_sql;
use crate::writer::corrupt::{corrupt, counter};
use crate::writer::id_hash::IdHasher;
use crate::writer::id_runs::{self, Entry, IdRuns};
use annal_core::backend::BloomFilter;

/// The keys are already hashes: hashing them again (SipHash, the std default) showed as several
/// per cent of the writer's time per batched event.
type HashKeyed<V> = HashMap<u64, V, BuildHasherDefault<HashKeyHasher>>;

/// Passes a `u64` key through unchanged.
#[derive(Default)]
struct HashKeyHasher(u64);

impl Hasher for HashKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else so the hasher stays total.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

/// Ids in memory before they are merged into an id run. The bound keeps the scan after an open
/// short (about a millisecond per thousand rows) and the id runs few.
pub(crate) const IDS_MERGE_EVENTS: usize = 32 * 1024;

/// The stored ids: recent ones in memory, older ones in id runs.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    /// Ids at positions above this are in memory; the others are in the id runs.
    indexed_through: u64,
    first: HashKeyed<u64>,
    /// Further positions for hashes that more than one recent id shares (rare).
    more: HashKeyed<Vec<u64>>,
    /// Entries in `first` and `more`.
    len: usize,
    /// The stored id runs.
    runs: IdRuns,
    /// Which hashes the id runs may hold.
    stored_bloom: StoredIdsBloom,
}

/// The Bloom filter over the hashes in the id runs, and how far it is from ready.
#[derive(Debug)]
enum StoredIdsBloom {
    /// A background reader is filling it from the tables. It reads one read snapshot taken
    /// after it started, so hashes merged since then are kept here and added when it is done.
    Building {
        built: mpsc::Receiver<Option<BloomFilter>>,
        merged_since: Vec<u64>,
    },
    /// Holds every hash the tables hold (and perhaps some removed since).
    Ready(BloomFilter),
    /// The build failed: every check reads the id runs, which is slower but as correct.
    Unavailable,
}

impl Default for StoredIdsBloom {
    /// The Bloom filter of empty tables.
    fn default() -> Self {
        Self::Ready(BloomFilter::with_capacity(0))
    }
}

impl StoredIdsBloom {
    /// Starts filling a Bloom filter from the tables of the store at `path` on a background thread.
    fn build(path: &Path) -> Self {
        let (sender, built) = mpsc::sync_channel(1);
        let path = path.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("annal-sqlite-ids".into())
            .spawn(move || {
                // The writer may have stopped meanwhile; then nobody needs the Bloom filter.
                let _ = sender.send(read_bloom(&path).ok());
            });
        match spawned {
            Ok(_) => Self::Building {
                built,
                merged_since: Vec::new(),
            },
            Err(_) => Self::Unavailable,
        }
    }

    /// Whether the tables may hold `hash`: `false` only when the Bloom filter is ready and says no.
    fn may_contain(&mut self, hash: u64) -> bool {
        if let Self::Building {
            built,
            merged_since,
        } = self
        {
            match built.try_recv() {
                Ok(Some(mut bloom)) => {
                    merged_since.iter().for_each(|hash| bloom.insert(*hash));
                    *self = Self::Ready(bloom);
                }
                Ok(None) | Err(mpsc::TryRecvError::Disconnected) => *self = Self::Unavailable,
                Err(mpsc::TryRecvError::Empty) => {}
            }
        }
        match self {
            Self::Ready(bloom) => bloom.may_contain(hash),
            Self::Building { .. } | Self::Unavailable => true,
        }
    }

    /// Records a hash just merged into the tables.
    fn insert(&mut self, hash: u64) {
        match self {
            Self::Building { merged_since, .. } => merged_since.push(hash),
            Self::Ready(bloom) => bloom.insert(hash),
            Self::Unavailable => {}
        }
    }
}

/// Reads every stored hash of the store at `path` into a new Bloom filter.
fn read_bloom(path: &Path) -> rusqlite::Result<BloomFilter> {
    let connection = crate::connection::open_reader(path)?;
    // Sized by the entries, not by the indexed mark: after retention removed most events the mark
    // (a position) can be far above the number of ids, and the Bloom filter takes 4 bytes per key
    // of capacity.
    let stored = id_runs::stored_entries(&connection)?;
    let capacity = usize::try_from(stored)
        .map_err(|_| corrupt("table id_runs (ids)", format!("{stored} entries")))?;
    let mut bloom = BloomFilter::with_capacity(capacity);
    id_runs::each_hash(&connection, |hash| bloom.insert(hash))?;
    Ok(bloom)
}

impl IdIndex {
    /// Loads the ids that are not yet in an id run, hashed by `hasher`. `last_position` is the
    /// store's head: a mark above it is damage (the next ids would land below the mark).
    pub(crate) fn load(
        connection: &Connection,
        hasher: &IdHasher,
        last_position: u64,
    ) -> rusqlite::Result<Self> {
        let indexed_through: i64 = connection.query_row(
            "SELECT coalesce((SELECT value FROM meta WHERE key = 'ids_indexed_through'), 0)",
            [],
            |row| row.get(0),
        )?;
        let location = || "meta row ids_indexed_through".to_owned();
        let indexed_through = counter(indexed_through, location)?;
        if indexed_through > last_position {
            return Err(corrupt(
                location(),
                format!("{indexed_through} is above the last position {last_position}"),
            ));
        }
        let runs = IdRuns::load(connection)?;
        // With no id run there is no stored hash. Otherwise the Bloom filter is read from the file,
        // whose path SQLite gives back only as UTF-8 text (`None` for any other path): without it
        // every check reads the id runs, since an empty Bloom filter would call every merged id new
        // and let a retried batch be written twice.
        let stored_bloom = match connection.path() {
            _ if runs.is_empty() => StoredIdsBloom::default(),
            Some(path) if !path.is_empty() => StoredIdsBloom::build(Path::new(path)),
            _ => StoredIdsBloom::Unavailable,
        };
        let mut index = Self {
            indexed_through,
            runs,
            stored_bloom,
            ..Self::default()
        };
        let mut statement =
            connection.prepare("SELECT position, id FROM events WHERE position > ?1")?;
        let mut rows = statement.query([to_sql(indexed_through)])?;
        while let Some(row) = rows.next()? {
            let position: i64 = row.get(0)?;
            let position = counter(position, || "table events (position)".into())?;
            index.insert(hasher.hash(row.get_ref(1)?.as_str()?), position);
        }
        Ok(index)
    }

    /// Whether some stored id may have this hash.
    pub(crate) fn contains(
        &mut self,
        connection: &Connection,
        hash: u64,
    ) -> rusqlite::Result<bool> {
        if self.first.contains_key(&hash) {
            return Ok(true);
        }
        if !self.stored_bloom.may_contain(hash) {
            return Ok(false);
        }
        self.runs.contains(connection, hash)
    }

    /// The positions of the stored ids with this hash.
    pub(crate) fn candidates(
        &self,
        connection: &Connection,
        hash: u64,
    ) -> rusqlite::Result<Vec<u64>> {
        let mut found: Vec<u64> = self.first.get(&hash).copied().into_iter().collect();
        found.extend(self.more.get(&hash).into_iter().flatten().copied());
        found.extend(self.runs.positions(connection, hash)?);
        Ok(found)
    }

    /// Records a stored id (its position is above every indexed one).
    pub(crate) fn insert(&mut self, hash: u64, position: u64) {
        assert!(
            position > self.indexed_through,
            "new ids are above the indexed positions"
        );
        self.len += 1;
        if let Some(existing) = self.first.insert(hash, position) {
            // Keep both: the older position moves to the overflow list.
            self.first.insert(hash, existing);
            self.more.entry(hash).or_default().push(position);
        }
    }

    /// The last position whose id is in the id runs rather than in memory.
    pub(crate) fn indexed_through(&self) -> u64 {
        self.indexed_through
    }

    /// Forgets a removed id. An id in memory leaves it; an id in the id runs keeps its entry, which
    /// from now on points at a missing row and so never confirms a hit (`writer/id_runs.rs`).
    pub(crate) fn remove(&mut self, hash: u64, position: u64) {
        if position > self.indexed_through {
            self.remove_recent(hash, position);
        }
    }

    fn remove_recent(&mut self, hash: u64, position: u64) {
        if let Some(list) = self.more.get_mut(&hash) {
            if let Some(index) = list.iter().position(|p| *p == position) {
                list.swap_remove(index);
                if list.is_empty() {
                    self.more.remove(&hash);
                }
                self.len -= 1;
                return;
            }
            if self.first.get(&hash) == Some(&position) {
                // Promote an overflow entry into the primary slot.
                let promoted = list.swap_remove(0);
                if list.is_empty() {
                    self.more.remove(&hash);
                }
                self.first.insert(hash, promoted);
                self.len -= 1;
                return;
            }
        }
        if self.first.get(&hash) == Some(&position) {
            self.first.remove(&hash);
            self.len -= 1;
        }
    }

    /// Once enough ids gathered in memory, writes them as a new id run in hash order and marks
    /// every position up to `last_position` as indexed; inside the group's transaction, so the
    /// run and the mark commit with the rows they describe.
    pub(crate) fn merge_if_due(
        &mut self,
        connection: &Connection,
        last_position: u64,
    ) -> rusqlite::Result<()> {
        if self.len < IDS_MERGE_EVENTS {
            return Ok(());
        }
        self.merge(connection, last_position)
    }

    /// Writes whatever ids are in memory as a new id run, however few (at a clean close).
    pub(crate) fn merge_all(
        &mut self,
        connection: &Connection,
        last_position: u64,
    ) -> rusqlite::Result<()> {
        if self.len == 0 {
            return Ok(());
        }
        self.merge(connection, last_position)
    }

    fn merge(&mut self, connection: &Connection, last_position: u64) -> rusqlite::Result<()> {
        let mut entries: Vec<Entry> = self.first.iter().map(|(h, p)| (*h, *p)).collect();
        for (hash, positions) in &self.more {
            entries.extend(positions.iter().map(|position| (*hash, *position)));
        }
        entries.sort_unstable();
        self.runs.write(connection, &entries)?;
        entries
            .iter()
            .for_each(|(hash, _)| self.stored_bloom.insert(*hash));
        connection
            .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'ids_indexed_through'")?
            .execute([to_sql(last_position)])?;
        self.indexed_through = last_position;
        self.first.clear();
        self.more.clear();
        self.len = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::id_hash::{test_hash, test_hasher};

    fn store() -> Connection {
        crate::schema::migrated_in_memory()
    }

    #[track_caller]
    fn check(index: &mut IdIndex, connection: &Connection, hash: u64, expected: &[u64]) {
        let mut found = index.candidates(connection, hash).unwrap();
        found.sort_unstable();
        assert_eq!(found, expected);
        assert_eq!(
            index.contains(connection, hash).unwrap(),
            !expected.is_empty()
        );
    }

    #[test]
    fn colliding_hashes_keep_every_position_in_memory_and_in_the_runs() {
        let connection = store();
        let mut index = IdIndex::default();
        index.insert(7, 1);
        index.insert(7, 2);
        index.insert(9, 3);
        index.merge(&connection, 3).unwrap();
        assert_eq!(index.len, 0);
        index.insert(7, 4);
        index.insert(7, 5);
        check(&mut index, &connection, 7, &[1, 2, 4, 5]);
        check(&mut index, &connection, 9, &[3]);
        check(&mut index, &connection, 8, &[]);
        // Removing a recent entry forgets it, whichever slot holds it.
        index.remove(7, 4);
        check(&mut index, &connection, 7, &[1, 2, 5]);
        index.remove(7, 5);
        check(&mut index, &connection, 7, &[1, 2]);
        // A merged entry stays: it points at a removed row, which can no longer confirm a hit.
        index.remove(7, 1);
        check(&mut index, &connection, 7, &[1, 2]);
    }

    #[test]
    fn a_filter_being_built_keeps_the_hashes_merged_meanwhile() {
        let (sender, built) = mpsc::sync_channel(1);
        let mut stored_bloom = StoredIdsBloom::Building {
            built,
            merged_since: Vec::new(),
        };
        stored_bloom.insert(test_hash("merged-while-building"));
        // Not ready yet: everything may be stored, so every check reads the table.
        assert!(stored_bloom.may_contain(test_hash("anything")));
        let mut built_bloom = BloomFilter::with_capacity(0);
        built_bloom.insert(test_hash("in-the-tables"));
        sender.send(Some(built_bloom)).unwrap();
        assert!(stored_bloom.may_contain(test_hash("in-the-tables")));
        assert!(matches!(stored_bloom, StoredIdsBloom::Ready(_)));
        assert!(stored_bloom.may_contain(test_hash("merged-while-building")));
        let others = (0..1_000)
            .filter(|n| stored_bloom.may_contain(test_hash(&format!("other-{n}"))))
            .count();
        assert!(others < 20, "{others} of 1,000 unknown ids may be stored");
    }

    #[test]
    fn a_failed_build_falls_back_to_reading_the_table() {
        let (sender, built) = mpsc::sync_channel(1);
        let mut stored_bloom = StoredIdsBloom::Building {
            built,
            merged_since: Vec::new(),
        };
        sender.send(None).unwrap();
        assert!(stored_bloom.may_contain(test_hash("anything")));
        assert!(matches!(stored_bloom, StoredIdsBloom::Unavailable));
        let (sender, built) = mpsc::sync_channel(1);
        let mut stored_bloom = StoredIdsBloom::Building {
            built,
            merged_since: Vec::new(),
        };
        drop(sender);
        assert!(stored_bloom.may_contain(test_hash("anything")));
        assert!(matches!(stored_bloom, StoredIdsBloom::Unavailable));
    }

    #[test]
    fn after_an_open_the_filter_is_built_from_the_runs_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.db");
        let mut connection = Connection::open(&path).unwrap();
        crate::schema::migrate(&mut connection, &path).unwrap();
        let stored: Vec<String> = (0..5_000).map(|n| format!("evt-{n}")).collect();
        {
            let transaction = connection.transaction().unwrap();
            let mut index = IdIndex::default();
            for (offset, id) in stored.iter().enumerate() {
                index.insert(test_hash(id), offset as u64 + 1);
            }
            index.merge(&transaction, stored.len() as u64).unwrap();
            transaction.commit().unwrap();
        }
        let mut index = IdIndex::load(&connection, &test_hasher(), u64::MAX).unwrap();
        assert!(matches!(
            index.stored_bloom,
            StoredIdsBloom::Building { .. }
        ));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !matches!(index.stored_bloom, StoredIdsBloom::Ready(_)) {
            assert!(
                std::time::Instant::now() < deadline,
                "the Bloom filter was never built"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
            index.contains(&connection, 0).unwrap();
        }
        for id in &stored {
            assert!(index.contains(&connection, test_hash(id)).unwrap(), "{id}");
        }
        let unknown = (0..5_000)
            .filter(|n| {
                index
                    .contains(&connection, test_hash(&format!("new-{n}")))
                    .unwrap()
            })
            .count();
        assert_eq!(unknown, 0, "hash hits are confirmed in the runs");
    }

    /// Loads the index over `connection` and waits until its Bloom filter is built (or failed).
    fn load_with_filter(connection: &Connection) -> IdIndex {
        let mut index = IdIndex::load(connection, &test_hasher(), u64::MAX).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while matches!(index.stored_bloom, StoredIdsBloom::Building { .. }) {
            assert!(
                std::time::Instant::now() < deadline,
                "the Bloom filter was never built"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
            index.contains(connection, 0).unwrap();
        }
        index
    }

    #[test]
    fn the_filter_is_sized_by_the_stored_ids_not_by_the_positions_ever_used() {
        // Retention removed almost every event: 5,000 ids are left below a mark of 100 million.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retained.db");
        let mut connection = Connection::open(&path).unwrap();
        crate::schema::migrate(&mut connection, &path).unwrap();
        {
            let transaction = connection.transaction().unwrap();
            let mut index = IdIndex::default();
            for n in 0..5_000u64 {
                index.insert(test_hash(&format!("evt-{n}")), 99_995_001 + n);
            }
            index.merge(&transaction, 100_000_000).unwrap();
            transaction.commit().unwrap();
        }
        let index = load_with_filter(&connection);
        let StoredIdsBloom::Ready(bloom) = &index.stored_bloom else {
            panic!("the Bloom filter build failed: {:?}", index.stored_bloom);
        };
        // The smallest Bloom filter holds 65,536 keys at 4 bytes each; sized by the mark it took
        // 512 MiB.
        assert!(bloom.bytes() <= 256 * 1024, "{} bytes", bloom.bytes());
    }

    #[test]
    fn load_reads_only_the_ids_after_the_indexed_mark() {
        let connection = store();
        connection
            .execute_batch(
                "INSERT INTO events (position, stream_id, version, type_id, aggregate_type_id,
                     timestamp, id, source, payload, metadata)
                 VALUES (1, 1, 1, 1, 1, 0, 'a', '', '{}', '{}'),
                        (2, 1, 2, 1, 1, 0, 'b', '', '{}', '{}');",
            )
            .unwrap();
        // The row at position 1 merged under hash 0; the mark moves past it.
        let mut runs = IdRuns::default();
        runs.write(&connection, &[(0, 1)]).unwrap();
        connection
            .execute_batch("UPDATE meta SET value = 1 WHERE key = 'ids_indexed_through';")
            .unwrap();
        let mut index = IdIndex::load(&connection, &test_hasher(), u64::MAX).unwrap();
        assert_eq!(index.indexed_through, 1);
        assert_eq!(index.len, 1, "only the row after the mark is scanned");
        check(&mut index, &connection, test_hash("b"), &[2]);
        check(&mut index, &connection, 0, &[1]);
    }
}
