//! Deciding one append of a group: look up what the append rule needs (the stream's version,
//! the last position, the stored events of the batch's ids), decide it with
//! `annal_core::decide::append`, then encode its lines into the group's buffer.
//!
//! Invariant: a refused append adds nothing to the group, so its neighbours commit unaffected.

use std::os::unix::fs::FileExt;

use annal_core::backend::PreparedEvent;
use annal_core::decide::{
    self, AppendDecision, AppendState, CounterBounds, Placement, PositionsExhausted, StoredEventRef,
};
use annal_core::{
    AppendError, AppendResult, ExpectedVersion, InvalidEvent, Position, StorageError, StreamId,
    Version,
};

use super::{Writer, read_index};
use crate::index::Entry;
use crate::line::{encode, header};
use crate::scan::{LINE_BYTES_MAX, LineInfo};

/// Versions and positions are written as JSON numbers read back as `u64`, so both go up to
/// `u64::MAX`.
const COUNTER_BOUNDS: CounterBounds = CounterBounds {
    version_max: u64::MAX,
    position_max: u64::MAX,
    positions_exhausted: PositionsExhausted::Overflow,
};

/// The refusal of an event whose line would be longer than the format allows, phrased as the
/// payload limit it implies for this event.
fn line_too_long(event_idx: usize, event: &PreparedEvent, line_bytes: usize) -> AppendError {
    let payload_bytes = event.payload_json.len();
    AppendError::InvalidEvent {
        index: event_idx,
        reason: InvalidEvent::PayloadTooLarge {
            bytes: payload_bytes,
            max: payload_bytes.saturating_sub(line_bytes - LINE_BYTES_MAX),
        },
    }
}

/// About what a line takes beside its payload and metadata, to size the group's buffer.
const LINE_ENVELOPE_BYTES: usize = 256;

impl Writer {
    pub(super) fn decide_append(
        &mut self,
        stream: &StreamId,
        expected: ExpectedVersion,
        batch: Vec<PreparedEvent>,
    ) -> Result<AppendResult, AppendError> {
        let (hashes, in_memory) = {
            let index = read_index(&self.index)?;
            let hashes: Vec<u64> = batch
                .iter()
                .map(|e| index.hasher.hash(e.id.as_str()))
                .collect();
            let in_memory = hashes.iter().any(|hash| {
                self.state.group_ids.candidates(*hash).next().is_some()
                    || index.ids.candidates(*hash).next().is_some()
            });
            (hashes, in_memory)
        };
        // Per id: whether the derived index may hold it (its Bloom filter says maybe). Only
        // those are looked up on disk: a batch of 1,000 new ids meets a false positive more
        // often than not, and it must not send the other 999 to the disk too.
        let on_disk: Vec<bool> = match self.disk.as_mut() {
            Some(disk) => hashes.iter().map(|hash| disk.may_hold(*hash)).collect(),
            None => vec![false; hashes.len()],
        };
        let maybe_stored = in_memory || on_disk.contains(&true);
        let stored = if maybe_stored {
            self.stored_events(&batch, &hashes, &on_disk)?
        } else {
            Vec::new()
        };
        let looked = AppendState {
            current: Version(self.stream_version(stream)),
            last_position: Position(self.state.last_position),
            stored: &stored,
        };
        let placement = match decide::append(stream, expected, &batch, looked, &COUNTER_BOUNDS)? {
            AppendDecision::AlreadyAppended(result) => return Ok(result),
            AppendDecision::Write(placement) => placement,
        };
        let start = self.group.lines.len();
        self.encode_batch(stream, batch, &placement)?;
        debug_assert_eq!(
            self.group.lines.last().map(|line| line.position),
            Some(placement.last_position().0),
            "a batch's lines take consecutive positions ending at its placement's last"
        );
        for (line, hash) in self.group.lines[start..].iter().zip(&hashes) {
            self.state.group_ids.insert(*hash, line.position);
        }
        self.group.batches.push(start..self.group.lines.len());
        self.state.last_position = placement.last_position().0;
        self.state
            .versions
            .insert(stream.as_str().to_owned(), placement.last_version().0);
        Ok(placement.result())
    }

    /// The stream's version: 0 for a stream never written, which has no entry.
    pub(super) fn stream_version(&self, stream: &StreamId) -> u64 {
        self.state
            .versions
            .get(stream.as_str())
            .copied()
            .unwrap_or(0)
    }

    /// Encodes the batch's lines into the group at `placement`; a refused batch leaves the
    /// group as it was. The index's record of each line takes the event's strings rather than
    /// copies of them.
    fn encode_batch(
        &mut self,
        stream: &StreamId,
        batch: Vec<PreparedEvent>,
        placement: &Placement,
    ) -> Result<(), AppendError> {
        let n_events = placement.n_events;
        let start = self.group.lines.len();
        let buf_start = self.group.buf.len();
        // Room for the batch's lines at once rather than by doubling: the envelope's fields
        // beside the payload and metadata take a few hundred bytes.
        let room: usize = batch
            .iter()
            .map(|e| e.payload_json.len() + e.metadata_json.len() + LINE_ENVELOPE_BYTES)
            .sum();
        self.group.buf.reserve(room);
        for (event_idx, event) in batch.into_iter().enumerate() {
            let version = placement.version(event_idx).0;
            let position = placement.position(event_idx).0;
            let offset = self.end + self.group.buf.len() as u64;
            let before = self.group.buf.len();
            encode(
                &mut self.group.buf,
                &event,
                stream,
                version,
                position,
                n_events,
            );
            let line_bytes = self.group.buf.len() - before;
            if line_bytes > LINE_BYTES_MAX {
                // The scanner reads no longer line, so storing it would lose it at the next
                // open: refuse the batch whatever the configured payload limit allows.
                self.group.buf.truncate(buf_start);
                self.group.lines.truncate(start);
                return Err(line_too_long(event_idx, &event, line_bytes));
            }
            self.group.lines.push(LineInfo {
                id: event.id.into(),
                stream: stream.as_str().to_owned(),
                event_type: event.event_type.into(),
                aggregate_type: event.aggregate_type.into(),
                version,
                position,
                timestamp: event.timestamp,
                source: event.source,
                causation_id: event.causation_id,
                correlation_id: event.correlation_id,
                offset,
                // Below LINE_BYTES_MAX, checked above.
                len: u32::try_from(line_bytes - 1).unwrap_or(u32::MAX),
            });
        }
        Ok(())
    }

    /// What is stored under each id of `batch`, in batch order (`None`: not stored; a hash hit
    /// was a collision), confirming each hit against the stored line (in the open group, or
    /// read from the log). A line whose stream name does not validate is damage, never "not
    /// stored": that would write the id a second time.
    fn stored_events(
        &self,
        batch: &[PreparedEvent],
        hashes: &[u64],
        on_disk: &[bool],
    ) -> Result<Vec<Option<StoredEventRef>>, StorageError> {
        let mut stored = Vec::with_capacity(batch.len());
        for ((event, hash), on_disk) in batch.iter().zip(hashes).zip(on_disk) {
            let id = event.id.as_str();
            let mut found = None;
            for candidate in self.id_candidates(*hash, *on_disk)? {
                if let Some((stored_id, stream, version, position)) = self.stored_at(candidate)?
                    && stored_id == id
                {
                    let stream =
                        StreamId::new(&stream).map_err(|error| StorageError::Corrupted {
                            location: format!(
                                "{} at position {position}",
                                self.layout.events().display()
                            ),
                            reason: format!("stream name {stream:?}: {error}"),
                        })?;
                    found = Some(StoredEventRef {
                        stream,
                        version: Version(version),
                        position: Position(position),
                    });
                    break;
                }
            }
            stored.push(found);
        }
        Ok(stored)
    }

    /// Where ids with this hash are stored: on disk (if `on_disk`: the Bloom filter says it may
    /// be there), in the tail of the shared index, and in the open group.
    fn id_candidates(&self, hash: u64, on_disk: bool) -> Result<Vec<Candidate>, StorageError> {
        let (mut candidates, through) = {
            let index = read_index(&self.index)?;
            let tail = index.ids.candidates(hash).filter_map(|p| index.locate(p));
            let through = index.disk.as_ref().map(|d| d.mark.position);
            (tail.map(Candidate::Stored).collect::<Vec<_>>(), through)
        };
        if let (Some(disk), Some(through), true) = (&self.disk, through, on_disk) {
            let on_disk = disk.entries_with_hash(hash, through).map_err(|reason| {
                StorageError::Corrupted {
                    location: self
                        .layout
                        .file(crate::layout::DISK_INDEX_FILE)
                        .display()
                        .to_string(),
                    reason,
                }
            })?;
            candidates.extend(on_disk.into_iter().map(Candidate::Stored));
        }
        let group = self.state.group_ids.candidates(hash);
        candidates.extend(group.map(Candidate::InGroup));
        Ok(candidates)
    }

    /// The id, stream, version and position of a candidate's event, if it is readable.
    fn stored_at(
        &self,
        candidate: Candidate,
    ) -> Result<Option<(String, String, u64, u64)>, StorageError> {
        let entry = match candidate {
            Candidate::InGroup(position) => {
                let first = self.group.lines.first().map_or(u64::MAX, |l| l.position);
                let line = position
                    .checked_sub(first)
                    .and_then(|at| self.group.lines.get(at as usize));
                return Ok(line.map(|l| (l.id.clone(), l.stream.clone(), l.version, position)));
            }
            Candidate::Stored(entry) => entry,
        };
        let file = std::sync::Arc::clone(&read_index(&self.index)?.file);
        let mut bytes = vec![0; entry.len as usize];
        let path = self.layout.events();
        file.read_exact_at(&mut bytes, entry.offset)
            .map_err(|error| StorageError::backend(format!("reading {}", path.display()), error))?;
        let header = header(&bytes).map_err(|reason| StorageError::Corrupted {
            location: format!("{} at byte {}", path.display(), entry.offset),
            reason,
        })?;
        Ok(Some((
            header.id.into_owned(),
            header.aggregate_id.into_owned(),
            header.version,
            entry.position,
        )))
    }
}

/// Where an id may be stored.
#[derive(Clone, Copy, Debug)]
enum Candidate {
    /// In the open group, at this position.
    InGroup(u64),
    /// In the log, at this entry.
    Stored(Entry),
}
