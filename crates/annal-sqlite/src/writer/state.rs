//! What the writer keeps in memory: the dictionaries that code names as integers, each stream's
//! version counter, and the last assigned position.
//!
//! Invariant: between groups, this mirrors the committed tables exactly (the single writer is
//! the only one that changes them). Within a group it runs ahead of the database; if the group
//! fails, the store is poisoned and this state is never used again.

use std::collections::HashMap;
use std::hash::Hash;

use annal_core::{AggregateType, EventType, StreamId};
use rusqlite::{Connection, params};

use crate::row::to_sql;
use crate::writer::corrupt::{counter, next_id};
use crate::writer::id_hash::IdHasher;
use crate::writer::ids::IdIndex;

#[derive(Debug, Clone, Copy)]
struct StreamEntry {
    id: i64,
    version: u64,
}

/// A name dictionary: name to integer id, mirrored in one table.
#[derive(Debug)]
struct Dictionary<K> {
    table: &'static str,
    ids: HashMap<K, i64>,
    next_id: i64,
}

impl<K: Eq + Hash + Clone + AsRef<str>> Dictionary<K> {
    fn load(
        connection: &Connection,
        table: &'static str,
        parse: impl Fn(String) -> Option<K>,
    ) -> rusqlite::Result<Self> {
        let mut statement = connection.prepare(&format!("SELECT id, name FROM {table}"))?;
        let mut rows = statement.query([])?;
        let mut ids = HashMap::new();
        let mut next = 1;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            next = next.max(next_id(table, id)?);
            // A name that no longer validates can never be looked up by a caller; skipping it
            // keeps its id reserved through next_id.
            if let Some(name) = parse(row.get(1)?) {
                ids.insert(name, id);
            }
        }
        Ok(Self {
            table,
            ids,
            next_id: next,
        })
    }

    fn id(&mut self, connection: &Connection, name: &K) -> rusqlite::Result<i64> {
        if let Some(id) = self.ids.get(name) {
            return Ok(*id);
        }
        let id = self.next_id;
        let following = next_id(self.table, id)?;
        let sql = format!("INSERT INTO {} (id, name) VALUES (?1, ?2)", self.table);
        connection
            .prepare_cached(&sql)?
            .execute(params![id, name.as_ref()])?;
        self.next_id = following;
        self.ids.insert(name.clone(), id);
        Ok(id)
    }
}

/// The writer's in-memory view of the store.
#[derive(Debug)]
pub(crate) struct WriterState {
    streams: HashMap<StreamId, StreamEntry>,
    next_stream_id: i64,
    types: Dictionary<EventType>,
    aggregate_types: Dictionary<AggregateType>,
    /// The last position assigned (committed or in the current group).
    pub(crate) last_position: u64,
    /// The value of `meta.head_floor` in the database.
    pub(crate) head_floor: u64,
    /// Streams whose version moved in the current group, with their new version.
    touched: HashMap<i64, u64>,
    /// The stored ids, loaded by the first write that needs them (a bounded scan).
    ids: Option<IdIndex>,
    /// Hashes ids under the store's key.
    hasher: IdHasher,
    /// While an append runs inside a savepoint: the names it created, so that rolling it back
    /// forgets them too (their rows go with the savepoint).
    created: Option<Vec<Created>>,
    /// The derived index's watermark (`derived.rs`); `None` until the open prepared it.
    indexed_through: Option<i64>,
    /// Events left above the watermark before a group indexes them.
    index_every: u64,
}

/// A name the writer added to a dictionary.
#[derive(Debug)]
enum Created {
    Stream(StreamId),
    Type(EventType),
    AggregateType(AggregateType),
}

impl WriterState {
    /// Loads the dictionaries, counters and head from the database.
    pub(crate) fn load(connection: &Connection) -> rusqlite::Result<Self> {
        let mut streams = HashMap::new();
        let mut next_stream_id = 1;
        {
            let mut statement = connection.prepare("SELECT id, name, version FROM streams")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                next_stream_id = next_stream_id.max(next_id("streams", id)?);
                let version: i64 = row.get(2)?;
                let version = counter(version, || format!("streams row {id} (version)"))?;
                if let Ok(name) = StreamId::new(row.get::<_, String>(1)?) {
                    streams.insert(name, StreamEntry { id, version });
                }
            }
        }
        let types = Dictionary::load(connection, "types", |name| EventType::new(name).ok())?;
        let aggregate_types = Dictionary::load(connection, "aggregate_types", |name| {
            AggregateType::new(name).ok()
        })?;
        let max_position: i64 =
            connection.query_row("SELECT coalesce(max(position), 0) FROM events", [], |row| {
                row.get(0)
            })?;
        let head_floor: i64 = connection.query_row(
            "SELECT coalesce((SELECT value FROM meta WHERE key = 'head_floor'), 0)",
            [],
            |row| row.get(0),
        )?;
        let max_position = counter(max_position, || "table events (position)".into())?;
        let hasher = IdHasher::load(connection)?;
        let head_floor = counter(head_floor, || "meta row head_floor".into())?;
        Ok(Self {
            streams,
            next_stream_id,
            types,
            aggregate_types,
            last_position: max_position.max(head_floor),
            head_floor,
            touched: HashMap::new(),
            ids: None,
            hasher,
            created: None,
            indexed_through: None,
            index_every: crate::derived::INDEX_EVERY_DEFAULT,
        })
    }

    /// The stream's last assigned version (0 if unknown).
    pub(crate) fn version(&self, stream: &StreamId) -> u64 {
        self.streams.get(stream).map_or(0, |entry| entry.version)
    }

    /// The stream's integer id, if it was ever created.
    pub(crate) fn known_stream_id(&self, stream: &StreamId) -> Option<i64> {
        self.streams.get(stream).map(|entry| entry.id)
    }

    /// The stream's integer id, creating its row (at version 0) when it is new.
    pub(crate) fn stream_id(
        &mut self,
        connection: &Connection,
        stream: &StreamId,
    ) -> rusqlite::Result<i64> {
        if let Some(entry) = self.streams.get(stream) {
            return Ok(entry.id);
        }
        let id = self.next_stream_id;
        let following = next_id("streams", id)?;
        connection
            .prepare_cached("INSERT INTO streams (id, name, version) VALUES (?1, ?2, 0)")?
            .execute(params![id, stream.as_str()])?;
        self.next_stream_id = following;
        self.streams
            .insert(stream.clone(), StreamEntry { id, version: 0 });
        self.note(|| Created::Stream(stream.clone()));
        Ok(id)
    }

    /// Starts noting the names created from now on (an append entered its savepoint).
    pub(crate) fn begin_undo(&mut self) {
        self.created = Some(Vec::new());
    }

    /// Stops noting created names. When the savepoint was rolled back (`kept` is false), forgets
    /// them: their rows are gone, and a later write must create them again. Their ids stay
    /// used, which only leaves a gap.
    pub(crate) fn end_undo(&mut self, kept: bool) {
        let Some(created) = self.created.take() else {
            return;
        };
        if kept {
            return;
        }
        for name in created {
            match name {
                Created::Stream(stream) => drop(self.streams.remove(&stream)),
                Created::Type(name) => drop(self.types.ids.remove(&name)),
                Created::AggregateType(name) => drop(self.aggregate_types.ids.remove(&name)),
            }
        }
    }

    fn note(&mut self, created: impl FnOnce() -> Created) {
        if let Some(log) = &mut self.created {
            log.push(created());
        }
    }

    /// The event type's integer id, adding it to the dictionary when new.
    pub(crate) fn type_id(
        &mut self,
        connection: &Connection,
        event_type: &EventType,
    ) -> rusqlite::Result<i64> {
        let before = self.types.next_id;
        let id = self.types.id(connection, event_type)?;
        if self.types.next_id != before {
            self.note(|| Created::Type(event_type.clone()));
        }
        Ok(id)
    }

    /// The aggregate type's integer id, adding it to the dictionary when new.
    pub(crate) fn aggregate_type_id(
        &mut self,
        connection: &Connection,
        aggregate_type: &AggregateType,
    ) -> rusqlite::Result<i64> {
        let before = self.aggregate_types.next_id;
        let id = self.aggregate_types.id(connection, aggregate_type)?;
        if self.aggregate_types.next_id != before {
            self.note(|| Created::AggregateType(aggregate_type.clone()));
        }
        Ok(id)
    }

    /// Records that `stream` now stands at `version`; persisted by [`Self::write_versions`].
    pub(crate) fn set_version(&mut self, stream: &StreamId, version: u64) {
        if let Some(entry) = self.streams.get_mut(stream) {
            assert!(
                version >= entry.version,
                "a stream's version never goes down"
            );
            entry.version = version;
            self.touched.insert(entry.id, version);
        }
    }

    /// Writes the versions of the streams the group moved: one row update per stream per group,
    /// however many events the group appended to it.
    pub(crate) fn write_versions(&mut self, connection: &Connection) -> rusqlite::Result<()> {
        if self.touched.is_empty() {
            return Ok(());
        }
        let mut statement = connection
            .prepare_cached("UPDATE streams SET version = ?2, deleted = 0 WHERE id = ?1")?;
        for (id, version) in self.touched.drain() {
            statement.execute(params![id, to_sql(version)])?;
        }
        Ok(())
    }

    /// Before removing events, pins the head in `meta`, so removing the newest events never
    /// lets a later open reuse their positions.
    pub(crate) fn pin_head(&mut self, connection: &Connection) -> rusqlite::Result<()> {
        if self.head_floor == self.last_position {
            return Ok(());
        }
        connection
            .prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'head_floor'")?
            .execute([to_sql(self.last_position)])?;
        self.head_floor = self.last_position;
        Ok(())
    }

    /// Prepares the derived index at open (`writer/index.rs`): created, rebuilt or caught up
    /// so that fewer than `every` events are left above its watermark.
    pub(crate) fn prepare_index(
        &mut self,
        connection: &Connection,
        every: u64,
    ) -> rusqlite::Result<()> {
        let head = to_sql(self.last_position);
        self.indexed_through = Some(super::index::prepare_at_open(connection, head, every)?);
        self.index_every = every;
        Ok(())
    }

    /// Inside the group, before its commit: indexes the events above the watermark once at
    /// least `index_every` of them gathered.
    pub(crate) fn index_if_due(&mut self, connection: &Connection) -> rusqlite::Result<()> {
        let Some(mark) = self.indexed_through else {
            return Ok(());
        };
        let head = to_sql(self.last_position);
        if head.saturating_sub(mark) < i64::try_from(self.index_every).unwrap_or(i64::MAX) {
            return Ok(());
        }
        super::index::index_range(connection, mark, head)?;
        self.indexed_through = Some(head);
        Ok(())
    }

    /// Before rows are deleted: takes them out of the derived index. `condition` is the
    /// deleting statement's `WHERE` clause over `events`, with the same parameters.
    pub(crate) fn forget_indexed<P: rusqlite::Params + Copy>(
        &mut self,
        connection: &Connection,
        condition: &str,
        params: P,
    ) -> rusqlite::Result<()> {
        self.forget_ids(connection, condition, params)?;
        match self.indexed_through {
            Some(mark) => super::index::forget(connection, mark, condition, params),
            None => Ok(()),
        }
    }

    /// The hasher of ids under the store's key.
    pub(crate) fn hasher(&self) -> &IdHasher {
        &self.hasher
    }

    /// The index of stored ids, built on first use.
    pub(crate) fn ids(&mut self, connection: &Connection) -> rusqlite::Result<&mut IdIndex> {
        if self.ids.is_none() {
            self.ids = Some(IdIndex::load(connection, &self.hasher, self.last_position)?);
        }
        // Just filled if it was empty.
        Ok(self.ids.get_or_insert_with(IdIndex::default))
    }

    /// Writes every in-memory id as an id run, in a transaction of its own: at a clean close,
    /// so that the next open has no id to read back from the events table before its first
    /// append. Ids not loaded since the open are left for the next open to load.
    pub(crate) fn merge_ids_before_close(
        &mut self,
        connection: &Connection,
    ) -> rusqlite::Result<()> {
        let last_position = self.last_position;
        let Some(ids) = self.ids.as_mut() else {
            return Ok(());
        };
        connection.execute_batch("BEGIN IMMEDIATE")?;
        let merged = ids.merge_all(connection, last_position);
        match merged.and_then(|()| connection.execute_batch("COMMIT")) {
            Ok(()) => Ok(()),
            Err(error) => {
                let _ = connection.execute_batch("ROLLBACK");
                // The memory part no longer matches the table; nothing uses it after a close.
                self.ids = None;
                Err(error)
            }
        }
    }

    /// Writes the in-memory ids as a new id run once enough gathered (inside the group).
    pub(crate) fn merge_ids(&mut self, connection: &Connection) -> rusqlite::Result<()> {
        let last_position = self.last_position;
        match self.ids.as_mut() {
            Some(ids) => ids.merge_if_due(connection, last_position),
            None => Ok(()),
        }
    }

    /// Before rows are deleted: drops their ids from the index. `condition` is the deleting
    /// statement's `WHERE` clause over `events`, with the same parameters.
    pub(crate) fn forget_ids(
        &mut self,
        connection: &Connection,
        condition: &str,
        params: impl rusqlite::Params,
    ) -> rusqlite::Result<()> {
        // Only the ids in memory need forgetting: merged ones keep entries that can no longer
        // confirm a hit, and an index not loaded yet will read only the rows that remain.
        let Some(ids) = self.ids.as_mut() else {
            return Ok(());
        };
        let hasher = &self.hasher;
        let mut statement = connection.prepare(&format!(
            "SELECT position, id FROM events WHERE ({condition}) AND position > {}",
            ids.indexed_through()
        ))?;
        let mut rows = statement.query(params)?;
        while let Some(row) = rows.next()? {
            let position: i64 = row.get(0)?;
            let id = row.get_ref(1)?.as_str()?;
            let position = counter(position, || "table events (position)".into())?;
            ids.remove(hasher.hash(id), position);
        }
        Ok(())
    }
}
