//! One append inside a group transaction: look up what the append rule needs (the stream's
//! version, the last position, the stored events of the batch's ids), decide it with
//! `annal_core::decide::append`, then insert what it decided.
//!
//! Invariant: an append that is refused writes no row, so its neighbours in the group commit
//! unaffected. Everything that can refuse an append is decided before its first insert; an
//! insert that fails afterwards is a database failure, which fails the whole group.

use std::sync::LazyLock;

use annal_core::backend::PreparedEvent;
use annal_core::decide::{
    self, AppendDecision, AppendState, CounterBounds, Placement, StoredEventRef,
};
use annal_core::{
    AggregateType, AppendError, AppendResult, EventType, ExpectedVersion, Position, StreamId,
    Version,
};
use rusqlite::{Connection, OptionalExtension};

use crate::row::to_sql;
use crate::writer::corrupt::{corrupt, counter};
use crate::writer::id_hash::IdHasher;
use crate::writer::state::WriterState;

/// The outcome of one append: `Err` of the outer result is a database failure that dooms the
/// whole group; the inner result is the caller's answer.
pub(crate) type Outcome = rusqlite::Result<Result<AppendResult, AppendError>>;

/// Versions and positions are stored as SQLite integers, so both stop at `i64::MAX`.
pub(crate) const COUNTER_BOUNDS: CounterBounds = CounterBounds::SIGNED_64;

/// Appends `batch` to `stream` inside the writer's open transaction.
pub(crate) fn append(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    expected: ExpectedVersion,
    batch: &[PreparedEvent],
) -> Outcome {
    let hashes = id_hashes(state.hasher(), batch);
    let stored = if maybe_stored(connection, state, &hashes)? {
        stored_events(connection, state, batch)?
    } else {
        Vec::new()
    };
    let looked = AppendState {
        current: Version(state.version(stream)),
        last_position: Position(state.last_position),
        stored: &stored,
    };
    let placement = match decide::append(stream, expected, batch, looked, &COUNTER_BOUNDS) {
        Ok(AppendDecision::Write(placement)) => placement,
        Ok(AppendDecision::AlreadyAppended(result)) => return Ok(Ok(result)),
        Err(refused) => return Ok(Err(refused)),
    };
    let stream_id = state.stream_id(connection, stream)?;
    insert_rows(connection, state, stream_id, &placement, batch)?;
    record_appended(connection, state, stream, &placement, &hashes).map(Ok)
}

/// Records in the writer's state a batch just inserted at `placement`: its ids (by `hashes`,
/// in order), the new last position, and the stream's new version.
pub(crate) fn record_appended(
    connection: &Connection,
    state: &mut WriterState,
    stream: &StreamId,
    placement: &Placement,
    hashes: &[u64],
) -> rusqlite::Result<AppendResult> {
    debug_assert_eq!(
        placement.first_position.0,
        state.last_position + 1,
        "a batch starts right after the last position"
    );
    debug_assert_eq!(
        placement.n_events,
        hashes.len() as u64,
        "one hash per event"
    );
    let ids = state.ids(connection)?;
    for (index, hash) in hashes.iter().enumerate() {
        ids.insert(*hash, placement.position(index).0);
    }
    state.last_position = placement.last_position().0;
    state.set_version(stream, placement.last_version().0);
    Ok(placement.result())
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

    /// The id of `name`: from the names seen, or from `lookup` (then remembered).
    fn id(
        &mut self,
        name: &'a N,
        lookup: impl FnOnce(&'a N) -> rusqlite::Result<i64>,
    ) -> rusqlite::Result<i64> {
        if let Some(id) = self.find(name) {
            return Ok(id);
        }
        let id = lookup(name)?;
        self.remember(name, id);
        Ok(id)
    }
}

/// Inserts `batch` as the rows of stream `stream_id` at `placement` (the part of a batch in
/// parts: its first event at the placement's first version and position). Decides nothing:
/// the append rule has placed it.
pub(crate) fn insert_rows(
    connection: &Connection,
    state: &mut WriterState,
    stream_id: i64,
    placement: &Placement,
    batch: &[PreparedEvent],
) -> rusqlite::Result<()> {
    debug_assert_eq!(
        placement.n_events,
        batch.len() as u64,
        "the placement is the batch's"
    );
    let first_position = placement.first_position.0;
    let first_version = placement.first_version.0;
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
            let row = Row {
                position: first_position + offset,
                stream_id,
                version: first_version + offset,
                type_id: types.id(&event.event_type, |name| state.type_id(connection, name))?,
                aggregate_type_id: aggregate_types.id(&event.aggregate_type, |name| {
                    state.aggregate_type_id(connection, name)
                })?,
            };
            bind_row(statement, row_idx * INSERT_COLUMNS, &row, event)?;
            offset += 1;
        }
        statement.raw_execute()?;
        rest = tail;
    }
    Ok(())
}

/// The integer columns of one event row.
struct Row {
    position: u64,
    stream_id: i64,
    version: u64,
    type_id: i64,
    aggregate_type_id: i64,
}

/// Binds `row` and `event` as the row of the statement whose first parameter is `base + 1`.
fn bind_row(
    statement: &mut rusqlite::CachedStatement<'_>,
    base: usize,
    row: &Row,
    event: &PreparedEvent,
) -> rusqlite::Result<()> {
    statement.raw_bind_parameter(base + 1, to_sql(row.position))?;
    statement.raw_bind_parameter(base + 2, row.stream_id)?;
    statement.raw_bind_parameter(base + 3, to_sql(row.version))?;
    statement.raw_bind_parameter(base + 4, row.type_id)?;
    statement.raw_bind_parameter(base + 5, row.aggregate_type_id)?;
    statement.raw_bind_parameter(base + 6, event.timestamp)?;
    statement.raw_bind_parameter(base + 7, event.id.as_str())?;
    statement.raw_bind_parameter(base + 8, &event.source)?;
    statement.raw_bind_parameter(base + 9, &event.payload_json)?;
    statement.raw_bind_parameter(base + 10, &event.metadata_json)?;
    statement.raw_bind_parameter(base + 11, &event.causation_id)?;
    statement.raw_bind_parameter(base + 12, &event.correlation_id)?;
    Ok(())
}

/// What is stored under each id of `batch`, in batch order (`None`: not stored; a hash hit was
/// a collision). A row that matches an id but does not decode is damage, never "not stored":
/// that would write the id a second time.
fn stored_events(
    connection: &Connection,
    state: &mut WriterState,
    batch: &[PreparedEvent],
) -> rusqlite::Result<Vec<Option<StoredEventRef>>> {
    let hasher = *state.hasher();
    let ids = state.ids(connection)?;
    let mut row_at = connection.prepare_cached(
        "SELECT e.id, e.version, s.name FROM events e JOIN streams s ON s.id = e.stream_id \
         WHERE e.position = ?1",
    )?;
    let mut stored = Vec::with_capacity(batch.len());
    for event in batch {
        let id = event.id.as_str();
        let mut found = None;
        for position in ids.candidates(connection, hasher.hash(id))? {
            let row = row_at
                .query_row([to_sql(position)], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                    ))
                })
                .optional()?;
            if let Some((stored_id, version, name)) = row
                && stored_id == id
            {
                found = Some(stored_at(position, version, &name)?);
                break;
            }
        }
        stored.push(found);
    }
    Ok(stored)
}

/// The stored event at `position`, from its row's version and stream name.
fn stored_at(position: u64, version: i64, name: &str) -> rusqlite::Result<StoredEventRef> {
    let location = || format!("events row at position {position}");
    let version = counter(version, || location() + " (version)")?;
    let stream = StreamId::new(name)
        .map_err(|error| corrupt(location(), format!("stream name {name:?}: {error}")))?;
    Ok(StoredEventRef {
        stream,
        version: Version(version),
        position: Position(position),
    })
}
