//! One append inside a group transaction: the expected-version check and the duplicate-id
//! check in memory, then the inserts.
//!
//! Invariant: an append that is refused writes no row, so its neighbours in the group commit
//! unaffected. Everything that can refuse an append is decided before its first insert; an
//! insert that fails afterwards is a database failure, which fails the whole group.

use std::sync::LazyLock;

use annal_core::backend::PreparedEvent;
use annal_core::{
    AggregateType, AppendError, AppendResult, EventType, ExpectedVersion, Position, RetryCheck,
    StorageError, StoredEventRef, StreamId, Version, check_retry,
};
use rusqlite::{Connection, OptionalExtension};

use crate::row::to_sql;
use crate::writer::corrupt::{corrupt, counter};
use crate::writer::id_hash::IdHasher;
use crate::writer::state::WriterState;

/// The outcome of one append: `Err` of the outer result is a database failure that dooms the
/// whole group; the inner result is the caller's answer.
pub(crate) type Outcome = rusqlite::Result<Result<AppendResult, AppendError>>;

/// Appends `batch` to `stream` inside the writer's open transaction.
pub(crate) fn append(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    expected: ExpectedVersion,
    batch: &[PreparedEvent],
) -> Outcome {
    let current = state.version(stream);
    let hashes = id_hashes(state.hasher(), batch);
    let maybe_stored = maybe_stored(connection, state, &hashes)?;
    // The same order as the reference backend: a retry of a stored batch wins over the
    // expected-version check, which wins over everything else.
    if maybe_stored && let Some(outcome) = retry(connection, state, stream, expected, batch)? {
        return Ok(outcome);
    }
    if !expected.accepts(Version(current)) {
        return Ok(Err(AppendError::WrongExpectedVersion {
            stream: stream.clone(),
            expected,
            actual: Version(current),
        }));
    }
    let n_events = batch.len() as u64;
    if overflows(current, n_events) {
        return Ok(Err(AppendError::VersionOverflow {
            stream: stream.clone(),
        }));
    }
    if overflows(state.last_position, n_events) {
        return Ok(Err(positions_exhausted(state.last_position)));
    }
    let stream_id = state.stream_id(connection, stream)?;
    let first_position = state.last_position + 1;
    insert_rows(
        connection,
        state,
        stream_id,
        first_position,
        current + 1,
        batch,
    )?;
    record_appended(connection, state, stream, current, &hashes).map(Ok)
}

/// Records in the writer's state a batch just inserted after the last position: its ids (by
/// `hashes`, in order), the new last position, and the stream's new version after `current`.
pub(crate) fn record_appended(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    current: u64,
    hashes: &[u64],
) -> rusqlite::Result<AppendResult> {
    let first_position = state.last_position + 1;
    let n_events = hashes.len() as u64;
    let ids = state.ids(connection)?;
    for (offset, hash) in hashes.iter().enumerate() {
        ids.insert(*hash, first_position + offset as u64);
    }
    state.last_position += n_events;
    state.set_version(stream, current + n_events);
    Ok(AppendResult {
        first_position: Position(first_position),
        last_position: Position(state.last_position),
        stream_version: Version(current + n_events),
    })
}

/// The index keys of the batch's ids.
pub(crate) fn id_hashes(hasher: &IdHasher, batch: &[PreparedEvent]) -> Vec<u64> {
    batch
        .iter()
        .map(|event| hasher.hash(event.id.as_str()))
        .collect()
}

/// Whether some stored id may have one of these hashes (then the batch may be a retry).
pub(crate) fn maybe_stored(
    connection: &Connection,
    state: &mut WriterState,
    hashes: &[u64],
) -> rusqlite::Result<bool> {
    let ids = state.ids(connection)?;
    for hash in hashes {
        if ids.contains(connection, *hash)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `n_events` more would take a stream at `current` past the largest version: counters
/// are stored as SQLite integers, so a stream stops at `i64::MAX`.
pub(crate) fn overflows(current: u64, n_events: u64) -> bool {
    current
        .checked_add(n_events)
        .is_none_or(|last| last > i64::MAX as u64)
}

/// The answer to a batch that would take the store past the largest position (stored as a
/// SQLite integer): nothing is written, and the store says why.
pub(crate) fn positions_exhausted(last_position: u64) -> AppendError {
    AppendError::Storage(StorageError::backend(
        "the store has no position left for this batch",
        format!(
            "its last position is {last_position}, and positions stop at {}",
            i64::MAX
        ),
    ))
}

/// Rows per `INSERT` statement. One statement of many rows spares the per-statement work
/// (reset, bind bookkeeping, halt) for all but one of them, which measured faster per row
/// (figures in `docs/sqlite-schema.md`, "Rows go in 32 per `INSERT`").
const ROWS_PER_INSERT: usize = 32;

/// Columns of an `events` row, in the order [`insert_rows`] binds them.
const INSERT_COLUMNS: usize = 12;

/// The `INSERT` of `rows` event rows, numbered parameters in [`INSERT_COLUMNS`] per row.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO events (position, stream_id, version, type_id, aggregate_type_id, \
         timestamp, id, source, payload, metadata, causation_id, correlation_id) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for column in 0..INSERT_COLUMNS {
            if column > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("?{}", row * INSERT_COLUMNS + column + 1));
        }
        sql.push(')');
    }
    sql
}

static INSERT_ONE: LazyLock<String> = LazyLock::new(|| insert_sql(1));
static INSERT_MANY: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS_PER_INSERT));

/// Names seen so far in one batch, with their dictionary ids; at most [`SeenNames::MAX`].
struct SeenNames<'a, N> {
    seen: Vec<(&'a N, i64)>,
}

impl<N> Default for SeenNames<'_, N> {
    fn default() -> Self {
        Self { seen: Vec::new() }
    }
}

impl<'a, N: PartialEq> SeenNames<'a, N> {
    /// Beyond this many, a name's id comes from the dictionary each time.
    const MAX: usize = 16;

    fn find(&self, name: &N) -> Option<i64> {
        self.seen
            .iter()
            .find(|(seen, _)| *seen == name)
            .map(|(_, id)| *id)
    }

    fn remember(&mut self, name: &'a N, id: i64) {
        if self.seen.len() < Self::MAX {
            self.seen.push((name, id));
        }
    }
}

/// Inserts `batch` as the rows of stream `stream_id` from `first_position` and `first_version`
/// on. Decides nothing: every check has passed.
pub(crate) fn insert_rows(
    connection: &Connection,
    state: &mut WriterState,
    stream_id: i64,
    first_position: u64,
    first_version: u64,
    batch: &[PreparedEvent],
) -> rusqlite::Result<()> {
    // Looking a statement up in the cache hashes its text (2 KiB for the many-row one), so a
    // batch looks up only those it uses.
    let mut one = None;
    let mut many = None;
    // A batch holds few distinct names: a short list of those seen spares hashing each event's
    // names into the writer's dictionaries.
    let mut types: SeenNames<'_, EventType> = SeenNames::default();
    let mut aggregate_types: SeenNames<'_, AggregateType> = SeenNames::default();
    let mut offset = 0u64;
    let mut rest = batch;
    while !rest.is_empty() {
        // Full statements while there are enough rows, then one row at a time.
        let (rows, statement) = if rest.len() >= ROWS_PER_INSERT {
            let many = match &mut many {
                Some(statement) => statement,
                None => many.insert(connection.prepare_cached(&INSERT_MANY)?),
            };
            (ROWS_PER_INSERT, many)
        } else {
            let one = match &mut one {
                Some(statement) => statement,
                None => one.insert(connection.prepare_cached(&INSERT_ONE)?),
            };
            (1, one)
        };
        let (events, tail) = rest.split_at(rows);
        for (row_idx, event) in events.iter().enumerate() {
            let type_id = match types.find(&event.event_type) {
                Some(id) => id,
                None => {
                    let id = state.type_id(connection, &event.event_type)?;
                    types.remember(&event.event_type, id);
                    id
                }
            };
            let aggregate_type_id = match aggregate_types.find(&event.aggregate_type) {
                Some(id) => id,
                None => {
                    let id = state.aggregate_type_id(connection, &event.aggregate_type)?;
                    aggregate_types.remember(&event.aggregate_type, id);
                    id
                }
            };
            let base = row_idx * INSERT_COLUMNS;
            statement.raw_bind_parameter(base + 1, to_sql(first_position + offset))?;
            statement.raw_bind_parameter(base + 2, stream_id)?;
            statement.raw_bind_parameter(base + 3, to_sql(first_version + offset))?;
            statement.raw_bind_parameter(base + 4, type_id)?;
            statement.raw_bind_parameter(base + 5, aggregate_type_id)?;
            statement.raw_bind_parameter(base + 6, event.timestamp)?;
            statement.raw_bind_parameter(base + 7, event.id.as_str())?;
            statement.raw_bind_parameter(base + 8, &event.source)?;
            statement.raw_bind_parameter(base + 9, &event.payload_json)?;
            statement.raw_bind_parameter(base + 10, &event.metadata_json)?;
            statement.raw_bind_parameter(base + 11, &event.causation_id)?;
            statement.raw_bind_parameter(base + 12, &event.correlation_id)?;
            offset += 1;
        }
        statement.raw_execute()?;
        rest = tail;
    }
    Ok(())
}

/// Decides a batch some of whose ids may be stored: a retry of a stored batch answers with the
/// original result, a reused id is a duplicate, and `None` means no id of the batch is stored
/// (the hash hits were collisions).
fn retry(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    expected: ExpectedVersion,
    batch: &[PreparedEvent],
) -> rusqlite::Result<Option<Result<AppendResult, AppendError>>> {
    let current = Version(state.version(stream));
    let hasher = *state.hasher();
    let ids = state.ids(connection)?;
    let mut row_at = connection.prepare_cached(
        "SELECT e.id, e.version, s.name FROM events e JOIN streams s ON s.id = e.stream_id \
         WHERE e.position = ?1",
    )?;
    let mut failure = None;
    let verdict = check_retry(stream, expected, current, batch, |id| {
        let candidates = match ids.candidates(connection, hasher.hash(id.as_str())) {
            Ok(candidates) => candidates,
            Err(error) => {
                failure.get_or_insert(error);
                return None;
            }
        };
        for position in candidates {
            let row = row_at
                .query_row([to_sql(position)], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })
                .optional();
            match row {
                Ok(Some((stored_id, version, name))) if stored_id == id.as_str() => {
                    // A stored row that does not decode must not pass for "not stored": that
                    // would write the id a second time.
                    let location = || format!("events row at position {position}");
                    let version = counter(version, || location() + " (version)");
                    let stream = StreamId::new(&name).map_err(|error| {
                        corrupt(location(), format!("stream name {name:?}: {error}"))
                    });
                    match (stream, version) {
                        (Ok(stream), Ok(version)) => {
                            return Some(StoredEventRef {
                                stream,
                                version: Version(version),
                                position: Position(position),
                            });
                        }
                        (Err(error), _) | (_, Err(error)) => {
                            failure.get_or_insert(error);
                            return None;
                        }
                    }
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
    if let Some(error) = failure {
        return Err(error);
    }
    Ok(match verdict {
        Ok(RetryCheck::AlreadyAppended(result)) => Some(Ok(result)),
        Ok(RetryCheck::New) => None,
        Err(error) => Some(Err(error)),
    })
}
