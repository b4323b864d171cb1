//! The stored part of the writer's id index: sorted id runs of (id hash, position) entries, packed
//! into blobs, written whole and never updated in place.
//!
//! Version 2 kept one `event_ids` row per merged id. Hashes are random, so each merge of 32,768 ids
//! inserted rows all over the table's B-tree, a share of the writer's time that grew as the table
//! outgrew a merge (figures in `BENCHMARKS.md`, "Figures behind constants in the code"). Here a
//! merge writes one new id run: its entries sorted by hash, cut into chunks of [`CHUNK_ENTRIES`]
//! stored as one row each (`id_run_chunks`, keyed by run and the chunk's first hash), so it costs a
//! sort and about one row per 240 ids. Lookups are rare (the writer's Bloom filter answers almost
//! every new id) and cost one indexed read per id run, so runs are kept few: once [`FANOUT`] runs
//! share a level they are merged into one id run of the next level, up to [`MAX_LEVEL`], whose id
//! runs of about two million ids stay as they are.
//!
//! Removed events keep their entries. A stale entry points at a position whose row is gone, and
//! every hit is confirmed against the row at its position (positions are never reused), so it
//! costs a lookup on a rare hit and never a wrong answer; rewriting runs for every removal would
//! cost far more than that.
//!
//! Invariant: within an id run, entries are sorted by hash (as unsigned integers), no chunk is
//! empty, and no hash is split across two chunks, so the one chunk whose first hash is the greatest
//! at or below a hash holds every entry of that hash in the id run. `id_runs.ids` counts an id
//! run's entries.

use rusqlite::types::Type;
use rusqlite::{Connection, params};

use crate::row::to_sql;
use crate::writer::corrupt::counter;

/// Entries per chunk row: a chunk of 240 entries (3,840 bytes) fits in one 4 KiB page.
const CHUNK_ENTRIES: usize = 240;

/// Bytes of one entry: the hash and the position, little-endian.
const ENTRY_BYTES: usize = 16;

/// Runs of one level merged into one of the next.
const FANOUT: usize = 8;

/// The highest level compaction writes; its id runs are never merged again.
const MAX_LEVEL: i64 = 2;

/// About as many ids as a level 0 id run holds (one merge of the in-memory ids).
const LEVEL_0_IDS: u64 = super::ids::IDS_MERGE_EVENTS as u64;

/// One (id hash, position) pair.
pub(crate) type Entry = (u64, u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IdRun {
    id: i64,
    level: i64,
}

/// The runs of the store, oldest first.
#[derive(Debug, Default)]
pub(crate) struct IdRuns {
    runs: Vec<IdRun>,
}

impl IdRuns {
    /// Reads the list of id runs (not their entries).
    pub(crate) fn load(connection: &Connection) -> rusqlite::Result<Self> {
        let mut statement = connection.prepare("SELECT run, level FROM id_runs ORDER BY run")?;
        let runs = statement
            .query_map([], |row| {
                Ok(IdRun {
                    id: row.get(0)?,
                    level: row.get(1)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<IdRun>>>()?;
        Ok(Self { runs })
    }

    /// Whether no id run is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The stored positions of entries with this hash, in every id run.
    pub(crate) fn positions(
        &self,
        connection: &Connection,
        hash: u64,
    ) -> rusqlite::Result<Vec<u64>> {
        let mut found = Vec::new();
        for run in &self.runs {
            positions_in_id_run(connection, run.id, hash, |position| {
                found.push(position);
                true
            })?;
        }
        Ok(found)
    }

    /// Whether some run holds an entry with this hash.
    pub(crate) fn contains(&self, connection: &Connection, hash: u64) -> rusqlite::Result<bool> {
        let mut seen = false;
        // Newest first: a retry is most likely of a recent batch.
        for run in self.runs.iter().rev() {
            positions_in_id_run(connection, run.id, hash, |_| {
                seen = true;
                false
            })?;
            if seen {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Stores `entries` (sorted by hash, then position) as a new id run, then merges runs while a
    /// level below [`MAX_LEVEL`] holds [`FANOUT`] of them.
    pub(crate) fn write(
        &mut self,
        connection: &Connection,
        entries: &[Entry],
    ) -> rusqlite::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let run = write_id_run(connection, entries, level_for(entries.len() as u64))?;
        self.runs.push(run);
        while let Some(level) = self.full_level() {
            self.compact(connection, level)?;
        }
        Ok(())
    }

    /// The lowest level below [`MAX_LEVEL`] with [`FANOUT`] runs or more.
    fn full_level(&self) -> Option<i64> {
        (0..MAX_LEVEL)
            .find(|level| self.runs.iter().filter(|run| run.level == *level).count() >= FANOUT)
    }

    /// Merges every id run of `level` into one id run of a higher level.
    fn compact(&mut self, connection: &Connection, level: i64) -> rusqlite::Result<()> {
        let (merged, kept): (Vec<IdRun>, Vec<IdRun>) =
            self.runs.iter().partition(|run| run.level == level);
        let mut entries: Vec<Entry> = Vec::new();
        let mut read = connection.prepare_cached(
            "SELECT entries FROM id_run_chunks WHERE run = ?1 ORDER BY first_key",
        )?;
        for run in &merged {
            let mut rows = read.query([run.id])?;
            while let Some(row) = rows.next()? {
                entries.extend(decode(row.get_ref(0)?.as_blob()?)?);
            }
        }
        // Each run is sorted: the sort only interleaves them.
        entries.sort_unstable();
        for run in &merged {
            connection
                .prepare_cached("DELETE FROM id_run_chunks WHERE run = ?1")?
                .execute([run.id])?;
            connection
                .prepare_cached("DELETE FROM id_runs WHERE run = ?1")?
                .execute([run.id])?;
        }
        let level = (level + 1).max(level_for(entries.len() as u64));
        let written = write_id_run(connection, &entries, level)?;
        self.runs = kept;
        self.runs.push(written);
        self.runs.sort_by_key(|run| run.id);
        Ok(())
    }
}

/// The level an id run of `ids` entries belongs to: the first whose id runs hold at least that many
/// (with room for the ids a merge takes beyond its threshold), at most [`MAX_LEVEL`].
fn level_for(ids: u64) -> i64 {
    let mut level = 0;
    let mut holds = 2 * LEVEL_0_IDS;
    while level < MAX_LEVEL && ids > holds {
        level += 1;
        holds = holds.saturating_mul(FANOUT as u64);
    }
    level
}

/// Writes `entries` (sorted by hash, then position) as one new id run of the level its size calls
/// for, without compacting (the upgrade that rebuilds the id runs writes just this one).
pub(crate) fn write_one_id_run(connection: &Connection, entries: &[Entry]) -> rusqlite::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    write_id_run(connection, entries, level_for(entries.len() as u64)).map(|_| ())
}

/// Writes `entries` (sorted) as a new id run of `level`.
fn write_id_run(connection: &Connection, entries: &[Entry], level: i64) -> rusqlite::Result<IdRun> {
    let mut writer = IdRunWriter::start(connection)?;
    for entry in entries {
        writer.push(*entry)?;
    }
    writer.finish(level)
}

/// A run being written chunk by chunk from entries that arrive in order, so that an id run of any
/// size takes one chunk of memory.
struct IdRunWriter<'c> {
    connection: &'c Connection,
    run: i64,
    chunk: Vec<Entry>,
    blob: Vec<u8>,
    ids: u64,
}

impl<'c> IdRunWriter<'c> {
    /// Starts a new id run (its level and size are set by [`IdRunWriter::finish`]).
    fn start(connection: &'c Connection) -> rusqlite::Result<Self> {
        connection
            .prepare_cached("INSERT INTO id_runs (level, ids) VALUES (0, 0)")?
            .execute([])?;
        Ok(Self {
            connection,
            run: connection.last_insert_rowid(),
            chunk: Vec::with_capacity(CHUNK_ENTRIES),
            blob: Vec::with_capacity(CHUNK_ENTRIES * ENTRY_BYTES),
            ids: 0,
        })
    }

    /// Adds the next entry (never below the last one).
    fn push(&mut self, entry: Entry) -> rusqlite::Result<()> {
        // Never split a hash: a full chunk takes every further entry with its last hash.
        if self.chunk.len() >= CHUNK_ENTRIES
            && self.chunk.last().is_some_and(|(last, _)| *last != entry.0)
        {
            self.flush()?;
        }
        self.chunk.push(entry);
        self.ids += 1;
        Ok(())
    }

    fn flush(&mut self) -> rusqlite::Result<()> {
        let Some((first, _)) = self.chunk.first() else {
            return Ok(());
        };
        let first_key = ordered_key(*first);
        self.blob.clear();
        for (hash, position) in &self.chunk {
            self.blob.extend_from_slice(&hash.to_le_bytes());
            self.blob.extend_from_slice(&position.to_le_bytes());
        }
        self.connection
            .prepare_cached(
                "INSERT INTO id_run_chunks (run, first_key, entries) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![self.run, first_key, self.blob])?;
        self.chunk.clear();
        Ok(())
    }

    /// Writes the last chunk and records the id run's level and size.
    fn finish(mut self, level: i64) -> rusqlite::Result<IdRun> {
        self.flush()?;
        self.connection
            .prepare_cached("UPDATE id_runs SET level = ?1, ids = ?2 WHERE run = ?3")?
            .execute(params![level, to_sql(self.ids), self.run])?;
        Ok(IdRun {
            id: self.run,
            level,
        })
    }
}

/// Moves the ids of a version 2 store (one row per id in `event_ids`, further positions of a
/// shared hash in `event_ids_more`) into one id run, as the upgrade to version 3 does: the mark
/// stays where it was, so the first write after the upgrade loads only the ids after it. The
/// rows are read in hash order and written as they come, so memory stays at one chunk however
/// large the store.
pub(crate) fn convert_version_2_ids(connection: &Connection) -> rusqlite::Result<()> {
    let mut writer = IdRunWriter::start(connection)?;
    // SQLite orders the keys as signed integers, which puts hashes of 2^63 and more first;
    // the non-negative keys and then the negative ones are the unsigned order.
    for half in ["hash >= 0", "hash < 0"] {
        let mut primary = connection.prepare(&format!(
            "SELECT hash, position FROM event_ids WHERE {half} ORDER BY hash"
        ))?;
        let mut more = connection.prepare(&format!(
            "SELECT hash, position FROM event_ids_more WHERE {half} ORDER BY hash, position"
        ))?;
        let mut primary = primary.query_map([], entry_of_row)?.peekable();
        let mut more = more.query_map([], entry_of_row)?.peekable();
        loop {
            // Merge the two sorted streams; an error ends the loop by being returned.
            let take_primary = match (primary.peek(), more.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(Ok(a)), Some(Ok(b))) => a <= b,
                (Some(Err(_)), _) => true,
                (_, Some(Err(_))) => false,
            };
            let next = if take_primary {
                primary.next()
            } else {
                more.next()
            };
            if let Some(entry) = next {
                writer.push(entry?)?;
            }
        }
    }
    let level = level_for(writer.ids);
    if writer.ids == 0 {
        connection
            .prepare_cached("DELETE FROM id_runs WHERE run = ?1")?
            .execute([writer.run])?;
        return Ok(());
    }
    writer.finish(level).map(|_| ())
}

/// A (hash, position) row of version 2's id tables.
fn entry_of_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let hash: i64 = row.get(0)?;
    let position: i64 = row.get(1)?;
    let position = counter(position, || format!("table event_ids (position of {hash})"))?;
    Ok((u64::from_le_bytes(hash.to_le_bytes()), position))
}

/// Calls `each` with the position of every entry of `run` with this hash, while it returns
/// `true`. Searches the chunk's bytes in place: a lookup decodes nothing else.
fn positions_in_id_run(
    connection: &Connection,
    run: i64,
    hash: u64,
    mut each: impl FnMut(u64) -> bool,
) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached(
        "SELECT entries FROM id_run_chunks WHERE run = ?1 AND first_key <= ?2 \
         ORDER BY first_key DESC LIMIT 1",
    )?;
    let mut rows = statement.query(params![run, ordered_key(hash)])?;
    let Some(row) = rows.next()? else {
        return Ok(());
    };
    let blob = row.get_ref(0)?.as_blob()?;
    check_length(blob)?;
    let entries = blob.len() / ENTRY_BYTES;
    let hash_at = |index: usize| u64_le(&blob[index * ENTRY_BYTES..index * ENTRY_BYTES + 8]);
    let position_at =
        |index: usize| u64_le(&blob[index * ENTRY_BYTES + 8..(index + 1) * ENTRY_BYTES]);
    // The first entry whose hash is not below `hash`, by bisection over the sorted entries.
    let (mut low, mut high) = (0, entries);
    while low < high {
        let middle = low + (high - low) / 2;
        if hash_at(middle) < hash {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    for index in low..entries {
        if hash_at(index) != hash || !each(position_at(index)) {
            break;
        }
    }
    Ok(())
}

/// Refuses a chunk whose length is not a whole number of entries: the file was damaged.
fn check_length(blob: &[u8]) -> rusqlite::Result<()> {
    if blob.len().is_multiple_of(ENTRY_BYTES) {
        return Ok(());
    }
    Err(rusqlite::Error::FromSqlConversionFailure(
        2,
        Type::Blob,
        format!(
            "an id_run_chunks row holds {} bytes, not a whole number of {ENTRY_BYTES}-byte entries",
            blob.len()
        )
        .into(),
    ))
}

/// A chunk's entries; a blob of the wrong length means the file was damaged.
fn decode(blob: &[u8]) -> rusqlite::Result<Vec<Entry>> {
    check_length(blob)?;
    Ok(blob
        .chunks_exact(ENTRY_BYTES)
        .map(|entry| {
            let (hash, position) = entry.split_at(8);
            (u64_le(hash), u64_le(position))
        })
        .collect())
}

fn u64_le(bytes: &[u8]) -> u64 {
    let mut array = [0u8; 8];
    array.copy_from_slice(bytes);
    u64::from_le_bytes(array)
}

/// A hash as a key that sorts like the unsigned hash under SQLite's signed integer order.
fn ordered_key(hash: u64) -> i64 {
    i64::from_le_bytes((hash ^ (1 << 63)).to_le_bytes())
}

/// Calls `each` with every stored hash (for the writer's Bloom filter).
pub(crate) fn each_hash(
    connection: &Connection,
    mut each: impl FnMut(u64),
) -> rusqlite::Result<()> {
    let mut statement = connection.prepare("SELECT entries FROM id_run_chunks")?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let blob = row.get_ref(0)?.as_blob()?;
        decode(blob)?.into_iter().for_each(|(hash, _)| each(hash));
    }
    Ok(())
}

/// The number of stored entries.
pub(crate) fn stored_entries(connection: &Connection) -> rusqlite::Result<u64> {
    let stored: i64 =
        connection.query_row("SELECT coalesce(sum(ids), 0) FROM id_runs", [], |row| {
            row.get(0)
        })?;
    counter(stored, || "table id_runs (ids)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        crate::schema::migrated_in_memory()
    }

    fn run_count(connection: &Connection) -> i64 {
        connection
            .query_row("SELECT count(*) FROM id_runs", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn ordered_keys_sort_like_unsigned_hashes() {
        let hashes = [0, 1, (1 << 63) - 1, 1 << 63, u64::MAX - 1, u64::MAX];
        for pair in hashes.windows(2) {
            assert!(ordered_key(pair[0]) < ordered_key(pair[1]), "{pair:?}");
        }
    }

    #[test]
    fn every_entry_is_found_in_its_chunk_and_no_other_hash_is() {
        let connection = store();
        let mut runs = IdRuns::default();
        // Spread over the whole range, including both ends, with a hash shared by entries that
        // straddle a chunk boundary.
        let mut entries: Vec<Entry> = (0..1_000u64)
            .map(|n| (n.wrapping_mul(0x9E37_79B9_7F4A_7C15), n + 1))
            .collect();
        entries.extend([(0, 5_000), (u64::MAX, 5_001)]);
        let shared = entries[CHUNK_ENTRIES].0;
        entries.extend((0..5).map(|n| (shared, 6_000 + n)));
        entries.sort_unstable();
        runs.write(&connection, &entries).unwrap();

        assert_every_entry_found(&runs, &connection, &entries);
        for (hash, _) in &entries {
            assert!(runs.contains(&connection, *hash).unwrap());
        }
        for absent in [2u64, 1 << 40, u64::MAX - 7] {
            assert!(!runs.contains(&connection, absent).unwrap(), "{absent:#x}");
            assert!(runs.positions(&connection, absent).unwrap().is_empty());
        }
        let reloaded = IdRuns::load(&connection).unwrap();
        assert_eq!(reloaded.runs, runs.runs);
        assert_eq!(stored_entries(&connection).unwrap(), entries.len() as u64);
        let mut hashes = Vec::new();
        each_hash(&connection, |hash| hashes.push(hash)).unwrap();
        assert_eq!(hashes.len(), entries.len());
    }

    #[test]
    fn a_full_level_is_merged_into_one_run_of_the_next_that_keeps_every_entry() {
        let connection = store();
        let mut runs = IdRuns::default();
        let mut all = Vec::new();
        for run in 0..FANOUT as u64 {
            let mut entries: Vec<Entry> = (0..500u64)
                .map(|n| {
                    let position = run * 500 + n + 1;
                    (position.wrapping_mul(0xD6E8_FEB8_6659_FD93), position)
                })
                .collect();
            entries.sort_unstable();
            all.extend(entries.iter().copied());
            runs.write(&connection, &entries).unwrap();
            let expected_runs = if run + 1 == FANOUT as u64 {
                1
            } else {
                run as i64 + 1
            };
            assert_eq!(run_count(&connection), expected_runs, "after run {run}");
        }
        assert_eq!(runs.runs.len(), 1);
        assert_eq!(runs.runs[0].level, 1);
        assert_eq!(stored_entries(&connection).unwrap(), all.len() as u64);
        for (hash, position) in all {
            assert_eq!(runs.positions(&connection, hash).unwrap(), vec![position]);
        }
    }

    #[test]
    fn a_damaged_chunk_is_an_error_not_a_wrong_answer() {
        let connection = store();
        let mut runs = IdRuns::default();
        runs.write(&connection, &[(7, 1), (9, 2)]).unwrap();
        connection
            .execute("UPDATE id_run_chunks SET entries = x'0102'", [])
            .unwrap();
        let error = runs.contains(&connection, 7).unwrap_err();
        assert!(error.to_string().contains("whole number"), "{error}");
    }

    #[test]
    fn version_2_ids_become_one_run_in_unsigned_hash_order() {
        let connection = store();
        create_version_2_tables(&connection);
        // Hashes on both sides of 2^63 (negative keys), a shared hash with further positions,
        // and enough rows for several chunks.
        let mut stored: Vec<Entry> = (0..1_000u64)
            .map(|n| (n.wrapping_mul(0x9E37_79B9_7F4A_7C15), n + 1))
            .collect();
        stored.extend([(0, 2_000), (u64::MAX, 2_001), (1 << 63, 2_002)]);
        let shared = stored[10].0;
        stored.extend([(shared, 3_000), (shared, 3_001)]);
        let mut seen = std::collections::HashSet::new();
        for (hash, position) in &stored {
            let key = i64::from_le_bytes(hash.to_le_bytes());
            let table = if seen.insert(*hash) {
                "event_ids"
            } else {
                "event_ids_more"
            };
            connection
                .execute(
                    &format!("INSERT INTO {table} (hash, position) VALUES (?1, ?2)"),
                    params![key, *position as i64],
                )
                .unwrap();
        }

        convert_version_2_ids(&connection).unwrap();

        let runs = IdRuns::load(&connection).unwrap();
        assert_eq!(runs.runs.len(), 1);
        assert_eq!(stored_entries(&connection).unwrap(), stored.len() as u64);
        assert_every_entry_found(&runs, &connection, &stored);
        // The chunks are in unsigned order: each chunk's first hash is above the last chunk's.
        let mut firsts: Vec<u64> = Vec::new();
        each_chunk_first_hash(&connection, |hash| firsts.push(hash));
        assert!(firsts.len() > 1, "{} chunks", firsts.len());
        assert!(
            firsts.windows(2).all(|pair| pair[0] < pair[1]),
            "{firsts:x?}"
        );
    }

    #[test]
    fn an_empty_version_2_index_leaves_no_run() {
        let connection = store();
        create_version_2_tables(&connection);
        convert_version_2_ids(&connection).unwrap();
        assert_eq!(run_count(&connection), 0);
    }

    /// Checks that the id runs give, for every hash of `entries`, exactly its positions there.
    #[track_caller]
    fn assert_every_entry_found(runs: &IdRuns, connection: &Connection, entries: &[Entry]) {
        for (hash, _) in entries {
            let mut expected: Vec<u64> = entries
                .iter()
                .filter(|(h, _)| h == hash)
                .map(|(_, p)| *p)
                .collect();
            let mut found = runs.positions(connection, *hash).unwrap();
            expected.sort_unstable();
            found.sort_unstable();
            assert_eq!(found, expected, "hash {hash:#x}");
        }
    }

    /// Version 2's id tables, as its schema created them.
    fn create_version_2_tables(connection: &Connection) {
        connection
            .execute_batch(
                "CREATE TABLE event_ids (hash INTEGER PRIMARY KEY, position INTEGER NOT NULL);
                 CREATE TABLE event_ids_more (hash INTEGER NOT NULL, position INTEGER NOT NULL,
                     PRIMARY KEY (hash, position)) WITHOUT ROWID;",
            )
            .unwrap();
    }

    /// The first hash of every chunk, in the order the chunks were written.
    fn each_chunk_first_hash(connection: &Connection, mut each: impl FnMut(u64)) {
        let mut statement = connection
            .prepare("SELECT entries FROM id_run_chunks ORDER BY rowid")
            .unwrap();
        let mut rows = statement.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let entries = decode(row.get_ref(0).unwrap().as_blob().unwrap()).unwrap();
            each(entries[0].0);
        }
    }

    #[test]
    fn levels_follow_the_size_of_a_run() {
        assert_eq!(level_for(1), 0);
        assert_eq!(level_for(LEVEL_0_IDS + 500), 0);
        assert_eq!(level_for(FANOUT as u64 * LEVEL_0_IDS), 1);
        assert_eq!(level_for(u64::MAX), MAX_LEVEL);
    }
}
