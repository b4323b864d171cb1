//! The in-memory index of the log: for every readable event after the derived index's
//! watermark (the *tail*; every event when there is no derived index) its byte offset and
//! length, by position, per stream and by id (`ids.rs`), and the postings queries use
//! (`postings.rs`); for the whole log, the counters stats need. Never whole events.
//!
//! Built at open from the derived index on disk (`disk/`) and a scan of the log after its
//! watermark, or from a scan of the whole log (the log is the truth); extended batch by batch
//! after each fsync (O(1) per event); emptied of its tail when the writer moves the tail to
//! disk; rebuilt after a compaction. Readers take the read lock just long enough to turn a
//! position or version range into offsets (and the watermark, for the part on disk), then read
//! the lines with `pread` on [`Index::file`] outside the lock.
//!
//! Invariants: `entries` is sorted by position and covers exactly the complete batches after
//! the watermark and before `next.offset` of `file`; each stream's `entries` is sorted by
//! version; a stream's `counter` and `last_position` never go down (they also come from
//! `streams.json`, which remembers them past removals); the counters of stats cover every
//! readable event, on disk or not.

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use annal_core::{AggregateType, EventId, EventType, Position, Stats, StreamCount, StreamId};

use crate::disk::{DiskIndex, Loaded, Mark, Totals};
use crate::ids::{IdHasher, IdIndex};
use crate::postings::Postings;
use crate::scan::{LineInfo, Start};
use crate::sidecar::{Counters, FORMAT_VERSION};

/// Where one event's line is in the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) position: u64,
    pub(crate) offset: u64,
    pub(crate) len: u32,
}

/// One event of a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamEntry {
    pub(crate) version: u64,
    pub(crate) entry: Entry,
}

/// One stream: its counter, its readable events' count and last version, and its events in
/// the tail.
#[derive(Clone, Debug)]
pub(crate) struct StreamIndex {
    pub(crate) id: StreamId,
    /// The last version ever assigned (0: none).
    pub(crate) counter: u64,
    /// The version of its last readable event (0: none).
    pub(crate) last_version: u64,
    /// Its readable events, on disk or not.
    pub(crate) events: u64,
    /// Its events in the tail.
    pub(crate) entries: Vec<StreamEntry>,
}

/// The derived index on disk and where it stands, as this index was built or last moved on.
#[derive(Clone, Debug)]
pub(crate) struct DiskPart {
    pub(crate) index: Arc<DiskIndex>,
    pub(crate) mark: Mark,
}

/// See the module documentation. A clone is what a pass running beside the writer writes.
#[derive(Clone, Debug)]
pub(crate) struct Index {
    /// A read handle on the log generation the offsets refer to.
    pub(crate) file: Arc<File>,
    /// Just after the last indexed batch.
    pub(crate) next: Start,
    /// The tail's entries.
    pub(crate) entries: Vec<Entry>,
    /// The timestamp of each of the tail's entries.
    pub(crate) timestamps: Vec<i64>,
    /// The id hash of each of the tail's entries, so a pass writes them in the tail's order.
    pub(crate) hashes: Vec<u64>,
    pub(crate) streams: HashMap<String, StreamIndex>,
    /// The last position ever assigned, removed events included.
    pub(crate) last_position: u64,
    /// Lines up to this position may lack a checksum (see [`Counters::unchecked_through`]).
    pub(crate) unchecked_through: u64,
    by_type: HashMap<String, u64>,
    by_aggregate_type: HashMap<String, u64>,
    oldest_timestamp: Option<i64>,
    newest_timestamp: Option<i64>,
    /// Readable events, on disk or not.
    total_events: u64,
    /// The first readable position, on disk or not.
    first_position: Option<u64>,
    /// Which tail entries carry each type, aggregate type, source and link, and time bounds.
    pub(crate) postings: Postings,
    /// The position of every event of the tail by the hash of its id.
    pub(crate) ids: IdIndex,
    pub(crate) hasher: IdHasher,
    /// The derived index holding the events before the tail, if there is one.
    pub(crate) disk: Option<DiskPart>,
}

impl Index {
    /// An index of nothing in `file` yet, with the counters remembered in `streams.json`.
    pub(crate) fn new(
        file: Arc<File>,
        counters: &Counters,
        hasher: IdHasher,
    ) -> Result<Self, String> {
        let mut index = Self {
            file,
            next: Start::default(),
            entries: Vec::new(),
            timestamps: Vec::new(),
            hashes: Vec::new(),
            streams: HashMap::new(),
            last_position: 0,
            unchecked_through: counters.unchecked_through(),
            by_type: HashMap::new(),
            by_aggregate_type: HashMap::new(),
            oldest_timestamp: None,
            newest_timestamp: None,
            total_events: 0,
            first_position: None,
            postings: Postings::default(),
            ids: IdIndex::default(),
            hasher,
            disk: None,
        };
        index.merge_counters(counters)?;
        Ok(index)
    }

    /// An index of the events `loaded` describes in `disk`, with an empty tail that starts at
    /// its watermark, and the counters remembered in `streams.json`.
    pub(crate) fn on_disk(
        file: Arc<File>,
        counters: &Counters,
        disk: Arc<DiskIndex>,
        loaded: &Loaded,
    ) -> Result<Self, String> {
        let mut index = Self::new(file, counters, loaded.hasher)?;
        let mark = loaded.mark;
        index.next = Start {
            offset: mark.offset,
            line: mark.line,
            last_position: mark.position,
        };
        index.last_position = index.last_position.max(mark.position);
        index.by_type = loaded.by_type.iter().cloned().collect();
        index.by_aggregate_type = loaded.by_aggregate_type.iter().cloned().collect();
        index.total_events = loaded.totals.events;
        index.first_position = loaded.totals.first_position;
        index.oldest_timestamp = loaded.totals.oldest_timestamp;
        index.newest_timestamp = loaded.totals.newest_timestamp;
        for row in &loaded.streams {
            let stream = index.stream_mut(&row.name)?;
            stream.counter = stream.counter.max(row.last_version);
            stream.last_version = row.last_version;
            stream.events = row.events;
        }
        index.disk = Some(DiskPart { index: disk, mark });
        Ok(index)
    }

    /// Forgets the tail, which a pass has just moved to disk up to `mark`.
    pub(crate) fn moved_to_disk(&mut self, disk: Arc<DiskIndex>, mark: Mark) {
        let all = self.entries.len();
        self.moved_to_disk_through(disk, mark, all);
    }

    /// Forgets the first `moved` entries of the tail, which a pass running beside the writer
    /// has just moved to disk up to `mark`, and keeps those appended since the pass began;
    /// returns the id hashes it forgot. The tail's positions in the postings shift down by
    /// `moved`.
    pub(crate) fn moved_to_disk_through(
        &mut self,
        disk: Arc<DiskIndex>,
        mark: Mark,
        moved: usize,
    ) -> Vec<u64> {
        let moved = moved.min(self.entries.len());
        self.entries.drain(..moved);
        self.timestamps.drain(..moved);
        for stream in self.streams.values_mut() {
            let on_disk = stream
                .entries
                .partition_point(|e| e.entry.position <= mark.position);
            stream.entries.drain(..on_disk);
        }
        self.postings.forget_first(moved, &self.timestamps);
        let forgotten: Vec<u64> = self.hashes.drain(..moved).collect();
        // Rebuilt from the few entries appended while the pass ran, rather than emptied of
        // the many it moved.
        self.ids = IdIndex::default();
        for (hash, entry) in self.hashes.iter().zip(&self.entries) {
            self.ids.insert(*hash, entry.position);
        }
        self.disk = Some(DiskPart { index: disk, mark });
        forgotten
    }

    /// The derived index and its mark, if the events before the tail are on disk.
    pub(crate) fn disk_part(&self) -> Option<DiskPart> {
        self.disk.clone()
    }

    /// Readable events, on disk or not.
    pub(crate) fn total_events(&self) -> u64 {
        self.total_events
    }

    /// The last readable position, on disk or not.
    pub(crate) fn last_readable(&self) -> Option<u64> {
        self.entries.last().map(|e| e.position).or_else(|| {
            self.disk
                .as_ref()
                .map(|d| d.mark.position)
                .filter(|_| self.total_events > 0)
        })
    }

    /// Raises counters to those remembered in `streams.json`.
    pub(crate) fn merge_counters(&mut self, counters: &Counters) -> Result<(), String> {
        self.last_position = self.last_position.max(counters.last_position);
        // A writer open that upgrades a store narrows what may lack a checksum; never widen it.
        self.unchecked_through = self.unchecked_through.min(counters.unchecked_through());
        for (name, version) in &counters.streams {
            let stream = self.stream_mut(name)?;
            stream.counter = stream.counter.max(*version);
        }
        Ok(())
    }

    fn stream_mut(&mut self, name: &str) -> Result<&mut StreamIndex, String> {
        if !self.streams.contains_key(name) {
            let id = StreamId::new(name).map_err(|error| error.to_string())?;
            let stream = StreamIndex {
                id,
                counter: 0,
                last_version: 0,
                events: 0,
                entries: Vec::new(),
            };
            self.streams.insert(name.to_owned(), stream);
        }
        self.streams
            .get_mut(name)
            .ok_or_else(|| "the stream was just inserted".to_owned())
    }

    /// Adds a whole batch (consecutive lines of one stream, as the scanner checked), after
    /// checking what only the index can see: valid names, and versions that increase within the
    /// stream. A refused batch changes nothing.
    pub(crate) fn add_batch(&mut self, batch: &[LineInfo]) -> Result<(), String> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let last_version = self
            .streams
            .get(&first.stream)
            .map_or(0, |s| s.last_version);
        if last_version > 0 && first.version <= last_version {
            let last = last_version;
            return Err(format!(
                "version {} of stream {} does not follow version {last}",
                first.version, first.stream
            ));
        }
        for line in batch {
            EventId::new(line.id.as_str()).map_err(|error| error.to_string())?;
            if !self.by_type.contains_key(&line.event_type) {
                EventType::new(line.event_type.as_str()).map_err(|error| error.to_string())?;
            }
            if !self.by_aggregate_type.contains_key(&line.aggregate_type) {
                AggregateType::new(line.aggregate_type.as_str())
                    .map_err(|error| error.to_string())?;
            }
        }
        if self.entries.len() + batch.len() > u32::MAX as usize {
            return Err("more than 2^32 events in the index's memory".to_owned());
        }
        let stream = self.stream_mut(&first.stream)?;
        for line in batch {
            let entry = Entry {
                position: line.position,
                offset: line.offset,
                len: line.len,
            };
            stream.entries.push(StreamEntry {
                version: line.version,
                entry,
            });
            stream.counter = stream.counter.max(line.version);
            stream.last_version = line.version;
            stream.events += 1;
        }
        for line in batch {
            self.postings.add(self.entries.len(), line)?;
            let hash = self.hasher.hash(&line.id);
            self.ids.insert(hash, line.position);
            self.hashes.push(hash);
            self.entries.push(Entry {
                position: line.position,
                offset: line.offset,
                len: line.len,
            });
            self.timestamps.push(line.timestamp);
            self.total_events += 1;
            self.first_position.get_or_insert(line.position);
            self.last_position = self.last_position.max(line.position);
            *self.by_type.entry(line.event_type.clone()).or_default() += 1;
            *self
                .by_aggregate_type
                .entry(line.aggregate_type.clone())
                .or_default() += 1;
            self.oldest_timestamp = Some(
                self.oldest_timestamp
                    .map_or(line.timestamp, |t| t.min(line.timestamp)),
            );
            self.newest_timestamp = Some(
                self.newest_timestamp
                    .map_or(line.timestamp, |t| t.max(line.timestamp)),
            );
        }
        Ok(())
    }

    /// The stream's counter (0 if it never held an event).
    pub(crate) fn stream_version(&self, stream: &str) -> u64 {
        self.streams.get(stream).map_or(0, |s| s.counter)
    }

    /// The index in the tail's `entries` of the first event at or after `position`.
    pub(crate) fn first_at_or_after(&self, position: u64) -> usize {
        self.entries.partition_point(|e| e.position < position)
    }

    /// The entry of the event at `position`, if it is readable in the tail.
    pub(crate) fn locate(&self, position: u64) -> Option<Entry> {
        let at = self.first_at_or_after(position);
        self.entries
            .get(at)
            .filter(|e| e.position == position)
            .copied()
    }

    /// The entries of the tail's events whose id hashes as `id` does: the event with this id,
    /// if it is in the tail, and any other whose id collides with it (the caller compares the
    /// ids).
    pub(crate) fn entries_with_id(&self, id: &str) -> Vec<Entry> {
        self.ids
            .candidates(self.hasher.hash(id))
            .filter_map(|position| self.locate(position))
            .collect()
    }

    /// The totals a pass stores with the watermark.
    pub(crate) fn totals(&self) -> Totals {
        Totals {
            events: self.total_events,
            first_position: self.first_position,
            oldest_timestamp: self.oldest_timestamp,
            newest_timestamp: self.newest_timestamp,
        }
    }

    /// Readable events per event type and per aggregate type.
    pub(crate) fn type_counts(&self) -> [&HashMap<String, u64>; 2] {
        [&self.by_type, &self.by_aggregate_type]
    }

    /// The counters to remember in `streams.json`.
    pub(crate) fn counters(&self) -> Counters {
        Counters {
            last_position: self.last_position,
            streams: self
                .streams
                .iter()
                .filter(|(_, s)| s.counter > 0)
                .map(|(name, s)| (name.clone(), s.counter))
                .collect(),
            format_version: FORMAT_VERSION,
            unchecked_through: self.unchecked_through,
        }
    }

    /// Stats over the readable events (`snapshot_count` and `bytes_on_disk` are the caller's).
    pub(crate) fn stats(&self, top_streams: usize) -> Stats {
        let mut streams: Vec<StreamCount> = self
            .streams
            .values()
            .filter(|s| s.events > 0)
            .map(|s| StreamCount {
                stream: s.id.clone(),
                events: s.events,
            })
            .collect();
        let stream_count = streams.len() as u64;
        streams.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then_with(|| a.stream.cmp(&b.stream))
        });
        streams.truncate(top_streams);
        Stats {
            total_events: self.total_events,
            events_by_type: self.by_type.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            events_by_aggregate_type: self
                .by_aggregate_type
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            top_streams: streams,
            stream_count,
            oldest_timestamp: self.oldest_timestamp,
            newest_timestamp: self.newest_timestamp,
            first_position: self.first_position.map(Position),
            last_position: self.last_readable().map(Position),
            snapshot_count: 0,
            bytes_on_disk: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdHasher;

    fn line(position: u64, version: u64) -> LineInfo {
        LineInfo {
            id: format!("e-{position}"),
            stream: "s".to_owned(),
            event_type: "task:created".to_owned(),
            aggregate_type: "task".to_owned(),
            version,
            position,
            offset: position * 100,
            len: 99,
            ..LineInfo::default()
        }
    }

    #[test]
    fn locating_finds_each_position_across_gaps_and_nothing_between() {
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut index = Index::new(file, &Counters::default(), IdHasher::random()).unwrap();
        // Positions 3 and 4 were removed: the slots after them are no longer at their distance.
        for (position, version) in [(1, 1), (2, 2), (5, 3), (6, 4), (9, 5)] {
            index.add_batch(&[line(position, version)]).unwrap();
        }
        for position in [1, 2, 5, 6, 9] {
            let entry = index.locate(position).unwrap();
            assert_eq!((entry.position, entry.offset), (position, position * 100));
        }
        for position in [0, 3, 4, 7, 8, 10, u64::MAX] {
            assert_eq!(
                index.locate(position).map(|e| e.position),
                None,
                "{position}"
            );
        }
    }
}
