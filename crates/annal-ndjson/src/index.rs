//! The in-memory index of the log: for every readable event its byte offset and length, by
//! position, per stream and by id (`ids.rs`), plus the counters stats need and the postings
//! queries use (`postings.rs`). Never whole events.
//!
//! Built by scanning the log at open (the log is the truth), extended batch by batch after each
//! fsync (O(1) per event), and rebuilt after a compaction. Readers take the read lock just long
//! enough to turn a position or version range into offsets, then read the lines with `pread` on
//! [`Index::file`] outside the lock.
//!
//! Invariants: `entries` is sorted by position and covers exactly the complete batches before
//! `next.offset` of `file`; each stream's `entries` is sorted by version; a stream's `counter`
//! and `last_position` never go down (they also come from `streams.json`, which remembers them
//! past removals).

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use annal_core::{AggregateType, EventId, EventType, Position, Stats, StreamCount, StreamId};

use crate::ids::{IdIndex, id_hash};
use crate::postings::Postings;
use crate::scan::{LineInfo, Start};
use crate::sidecar::{Counters, FORMAT_VERSION};

/// Where one event's line is in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// One stream: its counter and its readable events.
#[derive(Debug)]
pub(crate) struct StreamIndex {
    pub(crate) id: StreamId,
    /// The last version ever assigned (0: none).
    pub(crate) counter: u64,
    pub(crate) entries: Vec<StreamEntry>,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Index {
    /// A read handle on the log generation the offsets refer to.
    pub(crate) file: Arc<File>,
    /// Just after the last indexed batch.
    pub(crate) next: Start,
    pub(crate) entries: Vec<Entry>,
    pub(crate) streams: HashMap<String, StreamIndex>,
    /// The last position ever assigned, removed events included.
    pub(crate) last_position: u64,
    /// Lines up to this position may lack a checksum (see [`Counters::unchecked_through`]).
    pub(crate) unchecked_through: u64,
    by_type: HashMap<String, u64>,
    by_aggregate_type: HashMap<String, u64>,
    oldest_timestamp: Option<i64>,
    newest_timestamp: Option<i64>,
    /// Which entries carry each type, aggregate type, source and link, and time bounds.
    pub(crate) postings: Postings,
    /// The position of every readable event by the hash of its id.
    pub(crate) ids: IdIndex,
}

impl Index {
    /// An index of nothing in `file` yet, with the counters remembered in `streams.json`.
    pub(crate) fn new(file: Arc<File>, counters: &Counters) -> Result<Self, String> {
        let mut index = Self {
            file,
            next: Start::default(),
            entries: Vec::new(),
            streams: HashMap::new(),
            last_position: 0,
            unchecked_through: counters.unchecked_through(),
            by_type: HashMap::new(),
            by_aggregate_type: HashMap::new(),
            oldest_timestamp: None,
            newest_timestamp: None,
            postings: Postings::default(),
            ids: IdIndex::default(),
        };
        index.merge_counters(counters)?;
        Ok(index)
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
            .and_then(|s| s.entries.last())
            .map(|e| e.version);
        if let Some(last) = last_version
            && first.version <= last
        {
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
            return Err("more than 2^32 events in one log".to_owned());
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
        }
        for line in batch {
            self.postings.add(self.entries.len(), line)?;
            self.ids.insert(id_hash(&line.id), line.position);
            self.entries.push(Entry {
                position: line.position,
                offset: line.offset,
                len: line.len,
            });
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

    /// The index in `entries` of the first event at or after `position`.
    pub(crate) fn first_at_or_after(&self, position: u64) -> usize {
        self.entries.partition_point(|e| e.position < position)
    }

    /// The entry of the event at `position`, if it is readable.
    pub(crate) fn locate(&self, position: u64) -> Option<Entry> {
        let at = self.first_at_or_after(position);
        self.entries
            .get(at)
            .filter(|e| e.position == position)
            .copied()
    }

    /// The entries of the readable events whose id hashes as `id` does: the event with this id,
    /// if it is readable, and any other whose id collides with it (the caller compares the ids).
    pub(crate) fn entries_with_id(&self, id: &str) -> Vec<Entry> {
        self.ids
            .candidates(id_hash(id))
            .filter_map(|position| self.locate(position))
            .collect()
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
            .filter(|s| !s.entries.is_empty())
            .map(|s| StreamCount {
                stream: s.id.clone(),
                events: s.entries.len() as u64,
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
            total_events: self.entries.len() as u64,
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
            first_position: self.entries.first().map(|e| Position(e.position)),
            last_position: self.entries.last().map(|e| Position(e.position)),
            snapshot_count: 0,
            bytes_on_disk: None,
        }
    }
}
