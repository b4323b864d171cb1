//! Deciding one append of a group: the idempotent-retry check, the expected-version check, then
//! encoding its lines into the group's buffer.
//!
//! Invariant: a refused append adds nothing to the group, so its neighbours commit unaffected.
//! The order of the checks is the reference backend's: a retry of a stored batch wins over the
//! expected-version check, which wins over everything else.

use std::os::unix::fs::FileExt;

use annal_core::backend::PreparedEvent;
use annal_core::{
    AppendError, AppendResult, ExpectedVersion, InvalidEvent, Position, RetryCheck, StorageError,
    StoredEventRef, StreamId, Version, check_retry,
};

use super::{Writer, read_index};
use crate::ids::id_hash;
use crate::line::{encode, header};
use crate::scan::{LINE_BYTES_MAX, LineInfo};

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

impl Writer {
    pub(super) fn decide_append(
        &mut self,
        stream: &StreamId,
        expected: ExpectedVersion,
        batch: &[PreparedEvent],
    ) -> Result<AppendResult, AppendError> {
        let current = self
            .state
            .versions
            .get(stream.as_str())
            .copied()
            .unwrap_or(0);
        let hashes: Vec<u64> = batch.iter().map(|e| id_hash(e.id.as_str())).collect();
        let maybe_stored = hashes
            .iter()
            .any(|hash| self.state.ids.candidates(*hash).next().is_some());
        if maybe_stored {
            let verdict = self.check_stored(stream, expected, Version(current), batch)?;
            if let RetryCheck::AlreadyAppended(result) = verdict {
                return Ok(result);
            }
        }
        if !expected.accepts(Version(current)) {
            return Err(AppendError::WrongExpectedVersion {
                stream: stream.clone(),
                expected,
                actual: Version(current),
            });
        }
        let n_events = batch.len() as u64;
        if current.checked_add(n_events).is_none() {
            return Err(AppendError::VersionOverflow {
                stream: stream.clone(),
            });
        }
        if self.state.last_position.checked_add(n_events).is_none() {
            return Err(AppendError::PositionOverflow);
        }
        let first_position = self.state.last_position + 1;
        let start = self.group.lines.len();
        self.encode_batch(stream, batch, current, first_position)?;
        for (line, hash) in self.group.lines[start..].iter().zip(&hashes) {
            self.state.ids.insert(*hash, line.position);
        }
        self.group.batches.push(start..self.group.lines.len());
        self.state.last_position += n_events;
        self.state
            .versions
            .insert(stream.as_str().to_owned(), current + n_events);
        Ok(AppendResult {
            first_position: Position(first_position),
            last_position: Position(self.state.last_position),
            stream_version: Version(current + n_events),
        })
    }

    /// Encodes the batch's lines into the group, after version `current` and position
    /// `first_position - 1`; a refused batch leaves the group as it was.
    fn encode_batch(
        &mut self,
        stream: &StreamId,
        batch: &[PreparedEvent],
        current: u64,
        first_position: u64,
    ) -> Result<(), AppendError> {
        let n_events = batch.len() as u64;
        let start = self.group.lines.len();
        let buf_start = self.group.buf.len();
        for (event_idx, event) in batch.iter().enumerate() {
            let version = current + 1 + event_idx as u64;
            let position = first_position + event_idx as u64;
            let offset = self.end + self.group.buf.len() as u64;
            let before = self.group.buf.len();
            encode(
                &mut self.group.buf,
                event,
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
                return Err(line_too_long(event_idx, event, line_bytes));
            }
            self.group.lines.push(LineInfo {
                id: event.id.as_str().to_owned(),
                stream: stream.as_str().to_owned(),
                event_type: event.event_type.as_str().to_owned(),
                aggregate_type: event.aggregate_type.as_str().to_owned(),
                version,
                position,
                timestamp: event.timestamp,
                source: event.source.clone(),
                causation_id: event.causation_id.clone(),
                correlation_id: event.correlation_id.clone(),
                offset,
                // Below LINE_BYTES_MAX, checked above.
                len: u32::try_from(line_bytes - 1).unwrap_or(u32::MAX),
            });
        }
        Ok(())
    }

    /// Classifies a batch some of whose id hashes are stored, confirming each hit against the
    /// stored line (in the open group, or read from the log).
    fn check_stored(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        current: Version,
        batch: &[PreparedEvent],
    ) -> Result<RetryCheck, AppendError> {
        let mut failure: Option<StorageError> = None;
        let verdict = check_retry(stream, expected, current, batch, |id| {
            for position in self.state.ids.candidates(id_hash(id.as_str())) {
                match self.stored_at(position) {
                    Ok(Some((stored_id, stored_stream, version))) if stored_id == id.as_str() => {
                        return Some(StoredEventRef {
                            stream: StreamId::new(stored_stream).ok()?,
                            version: Version(version),
                            position: Position(position),
                        });
                    }
                    Ok(_) => {}
                    Err(error) => {
                        failure.get_or_insert(error);
                        return None;
                    }
                }
            }
            None
        });
        match failure {
            Some(error) => Err(error.into()),
            None => verdict,
        }
    }

    /// The id, stream and version of the event at `position`, if it is readable.
    fn stored_at(&self, position: u64) -> Result<Option<(String, String, u64)>, StorageError> {
        if let Some(first) = self.group.lines.first()
            && position >= first.position
        {
            let line = self.group.lines.get((position - first.position) as usize);
            return Ok(line.map(|l| (l.id.clone(), l.stream.clone(), l.version)));
        }
        let (file, entry) = {
            let index = read_index(&self.index)?;
            match index.locate(position) {
                Some(entry) => (std::sync::Arc::clone(&index.file), entry),
                None => return Ok(None),
            }
        };
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
        )))
    }
}
