//! The in-memory store's data, and every operation on it as plain synchronous code.
//!
//! Invariants: `events` holds every readable event by position; each stream's `versions` maps
//! its readable versions to positions; `ids` holds exactly the readable events' ids. A stream's
//! `version` counter never goes down, even when its events are removed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::batch::PreparedEvent;
use crate::decide::{
    self, AppendDecision, AppendState, CounterBounds, PositionsExhausted, RetentionPass,
    RetentionVerdict, StoredEventRef,
};
use crate::error::{AppendError, RetentionError, SnapshotError};
use crate::event::RecordedEvent;
use crate::filter::{Direction, Filter};
use crate::ids::{EventId, ProjectionName, StreamId};
use crate::position::{ExpectedVersion, Position, Version};
use crate::snapshot::Snapshot;
use crate::stats::{Stats, StreamCount};
use crate::store::{
    AppendResult, ReadStreamOptions, RetentionPolicy, RetentionReport, SavedProjection,
};

/// The in-memory store's counters are `u64`; position `u64::MAX` is never assigned, so a reader
/// resuming after the last position always has somewhere to go.
const COUNTER_BOUNDS: CounterBounds = CounterBounds {
    version_max: u64::MAX,
    position_max: u64::MAX - 1,
    positions_exhausted: PositionsExhausted::Overflow,
};

#[derive(Default)]
pub(super) struct MemoryState {
    events: BTreeMap<Position, Arc<RecordedEvent>>,
    streams: HashMap<StreamId, StreamEntry>,
    ids: HashMap<EventId, StoredEventRef>,
    snapshots: HashMap<StreamId, Snapshot>,
    projections: HashMap<ProjectionName, SavedProjection>,
    last_position: Position,
}

#[derive(Default)]
struct StreamEntry {
    version: Version,
    versions: BTreeMap<Version, Position>,
}

/// Where a query page resumes.
#[derive(Clone, Copy, Debug)]
pub(super) struct QueryCursor {
    /// The next position to look at (forward: lowest not yet seen; backward: highest).
    pub(super) next: Option<Position>,
    pub(super) skipped: u64,
    pub(super) taken: u64,
}

impl MemoryState {
    pub(super) fn last_position(&self) -> Position {
        self.last_position
    }

    pub(super) fn stream_version(&self, stream: &StreamId) -> Version {
        self.streams
            .get(stream)
            .map_or(Version::NONE, |entry| entry.version)
    }

    pub(super) fn append(
        &mut self,
        stream: &StreamId,
        expected: ExpectedVersion,
        batch: Vec<PreparedEvent>,
    ) -> Result<AppendResult, AppendError> {
        let stored: Vec<Option<StoredEventRef>> = batch
            .iter()
            .map(|event| self.ids.get(&event.id).cloned())
            .collect();
        let looked = AppendState {
            current: self.stream_version(stream),
            last_position: self.last_position,
            stored: &stored,
        };
        let placement = match decide::append(stream, expected, &batch, looked, &COUNTER_BOUNDS)? {
            AppendDecision::AlreadyAppended(result) => return Ok(result),
            AppendDecision::Write(placement) => placement,
        };
        let entry = self.streams.entry(stream.clone()).or_default();
        for (index, event) in batch.into_iter().enumerate() {
            let (version, position) = (placement.version(index), placement.position(index));
            let recorded = event.record(stream, version, position);
            entry.versions.insert(version, position);
            let stored = StoredEventRef {
                stream: stream.clone(),
                version,
                position,
            };
            self.ids.insert(recorded.id.clone(), stored);
            self.events.insert(position, Arc::new(recorded));
        }
        entry.version = placement.last_version();
        self.last_position = placement.last_position();
        Ok(placement.result())
    }

    /// Up to `page` events of `stream` after `cursor` (a version, exclusive of ones returned).
    pub(super) fn stream_page(
        &self,
        stream: &StreamId,
        options: &ReadStreamOptions,
        after: Option<Version>,
        page: usize,
    ) -> Vec<RecordedEvent> {
        let Some(entry) = self.streams.get(stream) else {
            return Vec::new();
        };
        let positions: Box<dyn Iterator<Item = (&Version, &Position)>> = match options.direction {
            Direction::Forward => {
                let from = match after {
                    None => options.from.unwrap_or(Version(1)),
                    Some(after) => match after.checked_next() {
                        Some(from) => from,
                        // The page ended at the largest version: nothing follows it.
                        None => return Vec::new(),
                    },
                };
                Box::new(entry.versions.range(from..))
            }
            Direction::Backward => {
                let to = match after {
                    Some(after) => Version(after.0.saturating_sub(1)),
                    None => options.from.unwrap_or(entry.version),
                };
                Box::new(entry.versions.range(..=to).rev())
            }
        };
        positions
            .take(page)
            .filter_map(|(_, position)| self.events.get(position).map(|event| (**event).clone()))
            .collect()
    }

    /// Up to `page` events at or after `from`.
    pub(super) fn all_page(&self, from: Position, page: usize) -> Vec<RecordedEvent> {
        self.events
            .range(from..)
            .take(page)
            .map(|(_, event)| (**event).clone())
            .collect()
    }

    /// The next page of a query, and the cursor after it; `None` when the query is done.
    pub(super) fn query_page(
        &self,
        filter: &Filter,
        cursor: QueryCursor,
        page: usize,
    ) -> Option<(Vec<RecordedEvent>, QueryCursor)> {
        let mut cursor = cursor;
        let next = cursor.next?;
        let candidates: Box<dyn Iterator<Item = (&Position, &Arc<RecordedEvent>)>> =
            match filter.direction {
                Direction::Forward => Box::new(self.events.range(next..)),
                Direction::Backward => Box::new(self.events.range(..=next).rev()),
            };
        let mut events = Vec::new();
        cursor.next = None;
        for (scanned, (position, event)) in candidates.enumerate() {
            if filter.limit.is_some_and(|limit| cursor.taken >= limit) {
                break;
            }
            // Bound the work per page even when few events match.
            if events.len() >= page || scanned >= page * 16 {
                cursor.next = Some(*position);
                break;
            }
            if !filter.matches(event) {
                continue;
            }
            if cursor.skipped < filter.offset {
                cursor.skipped += 1;
                continue;
            }
            cursor.taken += 1;
            events.push((**event).clone());
        }
        if events.is_empty() && cursor.next.is_none() {
            return None;
        }
        Some((events, cursor))
    }

    pub(super) fn save_snapshot(&mut self, snapshot: Snapshot) -> Result<(), SnapshotError> {
        let stream = &snapshot.aggregate_id;
        let stored = self.snapshots.get(stream).map(|stored| stored.version);
        decide::save_snapshot(
            stream,
            snapshot.version,
            self.stream_version(stream),
            stored,
        )?;
        self.snapshots
            .insert(snapshot.aggregate_id.clone(), snapshot);
        Ok(())
    }

    pub(super) fn load_snapshot(&self, stream: &StreamId) -> Option<Snapshot> {
        self.snapshots.get(stream).cloned()
    }

    pub(super) fn truncate_before(
        &mut self,
        stream: &StreamId,
        before: Version,
        force: bool,
    ) -> Result<RetentionReport, RetentionError> {
        let snapshot = self.snapshots.get(stream).map(|snapshot| snapshot.version);
        decide::truncate_before(stream, before, force, snapshot)?;
        let doomed: Vec<Position> = match self.streams.get(stream) {
            Some(entry) => entry
                .versions
                .range(..before)
                .map(|(_, position)| *position)
                .collect(),
            None => Vec::new(),
        };
        self.remove(&doomed);
        Ok(RetentionReport {
            removed: doomed.len() as u64,
            protected: 0,
        })
    }

    pub(super) fn delete_stream(
        &mut self,
        stream: &StreamId,
        expected: ExpectedVersion,
    ) -> Result<RetentionReport, RetentionError> {
        decide::delete_stream(stream, expected, self.stream_version(stream))?;
        let doomed: Vec<Position> = match self.streams.get(stream) {
            Some(entry) => entry.versions.values().copied().collect(),
            None => Vec::new(),
        };
        self.remove(&doomed);
        self.snapshots.remove(stream);
        Ok(RetentionReport {
            removed: doomed.len() as u64,
            protected: 0,
        })
    }

    /// Removes what `policy` selects: a prefix of each stream (`RetentionPass`).
    pub(super) fn retain(&mut self, policy: RetentionPolicy) -> RetentionReport {
        let mut pass = RetentionPass::new(policy, self.events.len() as u64);
        let mut doomed = Vec::new();
        let mut protected = 0u64;
        for (position, event) in &self.events {
            let snapshot = self
                .snapshots
                .get(&event.aggregate_id)
                .map(|snapshot| snapshot.version);
            let stream = event.aggregate_id.as_str();
            match pass.decide(stream, event.version, event.timestamp, snapshot) {
                RetentionVerdict::Keep => {}
                RetentionVerdict::Remove => doomed.push(*position),
                RetentionVerdict::Protected => protected += 1,
            }
        }
        self.remove(&doomed);
        RetentionReport {
            removed: doomed.len() as u64,
            protected,
        }
    }

    fn remove(&mut self, positions: &[Position]) {
        for position in positions {
            let Some(event) = self.events.remove(position) else {
                continue;
            };
            self.ids.remove(&event.id);
            if let Some(entry) = self.streams.get_mut(&event.aggregate_id) {
                entry.versions.remove(&event.version);
            }
        }
    }

    pub(super) fn stats(&self, top_streams: usize) -> Stats {
        let mut stats = Stats {
            total_events: self.events.len() as u64,
            ..Stats::default()
        };
        for event in self.events.values() {
            *stats
                .events_by_type
                .entry(event.event_type.to_string())
                .or_default() += 1;
            *stats
                .events_by_aggregate_type
                .entry(event.aggregate_type.to_string())
                .or_default() += 1;
            stats.oldest_timestamp = Some(
                stats
                    .oldest_timestamp
                    .map_or(event.timestamp, |t| t.min(event.timestamp)),
            );
            stats.newest_timestamp = Some(
                stats
                    .newest_timestamp
                    .map_or(event.timestamp, |t| t.max(event.timestamp)),
            );
        }
        stats.first_position = self.events.keys().next().copied();
        stats.last_position = self.events.keys().next_back().copied();
        let mut streams: Vec<StreamCount> = self
            .streams
            .iter()
            .filter(|(_, entry)| !entry.versions.is_empty())
            .map(|(stream, entry)| StreamCount {
                stream: stream.clone(),
                events: entry.versions.len() as u64,
            })
            .collect();
        stats.stream_count = streams.len() as u64;
        streams.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then_with(|| a.stream.cmp(&b.stream))
        });
        streams.truncate(top_streams);
        stats.top_streams = streams;
        stats.snapshot_count = self.snapshots.len() as u64;
        stats
    }

    pub(super) fn save_projection(&mut self, name: &ProjectionName, saved: &SavedProjection) {
        self.projections.insert(name.clone(), saved.clone());
    }

    pub(super) fn load_projection(&self, name: &ProjectionName) -> Option<SavedProjection> {
        self.projections.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::batch::prepare_batch;
    use crate::event::NewEvent;
    use crate::ids::EventType;
    use crate::limits::Limits;

    fn batch(n: usize) -> Vec<PreparedEvent> {
        let events = (0..n)
            .map(|_| NewEvent::new(EventType::new("note:added").unwrap(), json!({})))
            .collect();
        prepare_batch(events, &Limits::default(), 0).unwrap()
    }

    #[test]
    fn counters_at_their_limit_refuse_instead_of_overflowing() {
        let stream = StreamId::new("s").unwrap();
        let mut state = MemoryState::default();
        state.streams.entry(stream.clone()).or_default().version = Version(u64::MAX - 1);
        let error = state
            .append(&stream, ExpectedVersion::Any, batch(2))
            .unwrap_err();
        assert!(
            matches!(error, AppendError::VersionOverflow { .. }),
            "{error}"
        );
        let mut state = MemoryState {
            last_position: Position(u64::MAX - 1),
            ..MemoryState::default()
        };
        let error = state
            .append(&stream, ExpectedVersion::Any, batch(1))
            .unwrap_err();
        assert!(matches!(error, AppendError::PositionOverflow), "{error}");
        assert!(state.events.is_empty(), "a refused append stored nothing");
    }

    #[test]
    fn a_stream_page_after_the_largest_version_is_empty() {
        let stream = StreamId::new("s").unwrap();
        let mut state = MemoryState::default();
        state
            .append(&stream, ExpectedVersion::Any, batch(1))
            .unwrap();
        let page = state.stream_page(
            &stream,
            &ReadStreamOptions::forward(),
            Some(Version(u64::MAX)),
            10,
        );
        assert!(page.is_empty());
    }
}
