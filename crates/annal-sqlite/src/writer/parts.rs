//! A large batch appended part by part, while its caller is still checking the later parts at
//! the boundary, so that the caller's checks and the writer's inserts run at the same time.
//!
//! Checking an event at the boundary (serializing its payload, the limits, duplicate ids) costs
//! about as much as inserting it. Done in turn, a batch of 1,000 waited for both; done in parts,
//! the writer inserts the first part while the caller checks the second.
//!
//! Invariant: the outcome is exactly that of [`append::append`] on the whole batch. Whatever
//! can refuse the batch at its first part (a stored id, the expected version, an overflow)
//! sends the whole batch down that path. The parts are inserted inside a savepoint; a later
//! part whose ids may be stored rolls the savepoint back (names created meanwhile are forgotten
//! with it), and the batch is then decided whole. A part the caller's check refused is never
//! sent: the caller stops sending and answers with the refusal itself (whatever the writer would
//! say, a failed store included, as for a batch checked whole), and the writer, finding the
//! parts ended early, rolls the savepoint back.

use std::sync::mpsc::Receiver;

use annal_core::backend::PreparedEvent;
use annal_core::{AppendError, ExpectedVersion, StorageError, StreamId, Version};
use rusqlite::Connection;

use crate::writer::MoreParts;
use crate::writer::append::{
    self, Outcome, id_hashes, insert_rows, maybe_stored, overflows, record_appended,
};
use crate::writer::state::WriterState;

/// How a write of the parts ended.
enum Parts {
    /// Every part is inserted.
    Written {
        hashes: Vec<u64>,
        received: Vec<Vec<PreparedEvent>>,
    },
    /// A part stopped the write: the parts received so far, and why.
    Stopped {
        received: Vec<Vec<PreparedEvent>>,
        why: Stop,
    },
}

enum Stop {
    /// The caller stopped sending parts: its check refused the batch.
    Refused(AppendError),
    /// Only the whole batch can be decided (some id may be stored).
    NeedsWhole,
}

/// Appends the batch whose first part is `first` and whose other parts come from `more`. The
/// parts go to `spent` when they are all written, to be handed back to the caller with the
/// answer; on the other paths the writer frees them.
pub(crate) fn append_in_parts(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    expected: ExpectedVersion,
    first: Vec<PreparedEvent>,
    more: MoreParts,
    spent: &mut Vec<Vec<PreparedEvent>>,
) -> Outcome {
    let current = state.version(stream);
    let first_hashes = id_hashes(state.hasher(), &first);
    let decided_whole = maybe_stored(connection, state, &first_hashes)?
        || !expected.accepts(Version(current))
        || overflows(current, more.total as u64)
        || overflows(state.last_position, more.total as u64);
    if decided_whole {
        return whole(connection, state, stream, expected, first, &more);
    }
    connection.execute_batch("SAVEPOINT append_parts")?;
    state.begin_undo();
    let written = write_parts(
        connection,
        state,
        stream,
        current,
        first,
        first_hashes,
        &more,
    );
    match written {
        Ok(Parts::Written { hashes, received }) => {
            spent.extend(received);
            connection.execute_batch("RELEASE append_parts")?;
            state.end_undo(true);
            record_appended(connection, state, stream, current, &hashes).map(Ok)
        }
        Ok(Parts::Stopped { received, why }) => {
            connection.execute_batch("ROLLBACK TO append_parts; RELEASE append_parts")?;
            state.end_undo(false);
            match why {
                Stop::Refused(error) => Ok(Err(error)),
                Stop::NeedsWhole => {
                    let received = received.into_iter().flatten().collect();
                    whole(connection, state, stream, expected, received, &more)
                }
            }
        }
        // A database failure poisons the writer and rolls the whole group back.
        Err(error) => Err(error),
    }
}

/// Inserts the parts one by one as they arrive, after the last position.
fn write_parts(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    current: u64,
    first: Vec<PreparedEvent>,
    first_hashes: Vec<u64>,
    more: &MoreParts,
) -> rusqlite::Result<Parts> {
    let stream_id = state.stream_id(connection, stream)?;
    let first_position = state.last_position + 1;
    let mut received: Vec<Vec<PreparedEvent>> = Vec::new();
    let mut n_received = 0;
    let mut hashes: Vec<u64> = Vec::with_capacity(more.total);
    let (mut part, mut part_hashes) = (first, first_hashes);
    loop {
        let offset = n_received as u64;
        insert_rows(
            connection,
            state,
            stream_id,
            first_position + offset,
            current + 1 + offset,
            &part,
        )?;
        n_received += part.len();
        received.push(part);
        hashes.extend(part_hashes);
        if n_received >= more.total {
            break;
        }
        part = match next_part(&more.parts) {
            Ok(part) => part,
            Err(error) => {
                let why = Stop::Refused(error);
                return Ok(Parts::Stopped { received, why });
            }
        };
        part_hashes = id_hashes(state.hasher(), &part);
        if maybe_stored(connection, state, &part_hashes)? {
            received.push(part);
            let why = Stop::NeedsWhole;
            return Ok(Parts::Stopped { received, why });
        }
    }
    Ok(Parts::Written { hashes, received })
}

/// Waits for the rest of the batch after `received`, then decides it whole.
fn whole(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    expected: ExpectedVersion,
    mut received: Vec<PreparedEvent>,
    more: &MoreParts,
) -> Outcome {
    while received.len() < more.total {
        match next_part(&more.parts) {
            Ok(part) => received.extend(part),
            Err(error) => return Ok(Err(error)),
        }
    }
    append::append(connection, state, stream, expected, &received)
}

/// The next part. A caller that stopped sending before the last part (its check refused a part,
/// or its thread panicked) gets an error nobody will read, and nothing of its batch is written.
fn next_part(parts: &Receiver<Vec<PreparedEvent>>) -> Result<Vec<PreparedEvent>, AppendError> {
    parts.recv().map_err(|_| {
        AppendError::Storage(StorageError::backend(
            "appending a batch in parts",
            std::io::Error::other("the caller stopped before sending every part"),
        ))
    })
}
