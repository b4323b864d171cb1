//! [`event_by_id`]: one event found by its id through the writer's id index (`writer/ids.rs`),
//! not a scan: the id's keyed hash looked up in the sorted id runs for the ids merged up to
//! `meta.ids_indexed_through`, and a scan of the few events after that mark.
//!
//! Invariant: a hash is only a candidate; an event is returned only if its row holds the id,
//! so a collision costs a row read, never a wrong answer.

use annal_core::{EventId, ReadError, RecordedEvent};
use rusqlite::{Connection, OptionalExtension};

use super::Names;
use crate::row::{EVENT_COLUMNS, EVENT_FROM, decode, read_failed, to_sql};
use crate::writer::{IdHasher, IdRuns};

/// The readable event with `id`, if any.
pub(crate) fn event_by_id(
    connection: &Connection,
    names: &mut Names,
    id: &EventId,
) -> Result<Option<RecordedEvent>, ReadError> {
    let failed = |source| read_failed("an event by id", source);
    let _read_snapshot = connection.unchecked_transaction().map_err(failed)?;
    let mark: i64 = connection
        .query_row(
            "SELECT value FROM meta WHERE key = 'ids_indexed_through'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(failed)?
        // No mark: no id was merged into the id runs yet, so the scan below covers every event.
        // A damaged mark costs speed, never an answer: the scan covers what the id runs do not.
        .unwrap_or(0);
    let hash = IdHasher::load(connection)
        .map_err(failed)?
        .hash(id.as_str());
    let candidates = IdRuns::load(connection)
        .and_then(|runs| runs.positions(connection, hash))
        .map_err(failed)?;
    let sql =
        format!("SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE e.position = ?1 AND e.id = ?2");
    let mut statement = connection.prepare_cached(&sql).map_err(failed)?;
    for position in candidates.into_iter().filter(|p| to_sql(*p) <= mark) {
        let mut rows = statement
            .query(rusqlite::params![to_sql(position), id.as_str()])
            .map_err(failed)?;
        if let Some(row) = rows.next().map_err(failed)? {
            return Ok(Some(decode(row, connection, names)?));
        }
    }
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE e.position > ?1 AND e.id = ?2 LIMIT 1"
    );
    let mut statement = connection.prepare_cached(&sql).map_err(failed)?;
    let mut rows = statement
        .query(rusqlite::params![mark, id.as_str()])
        .map_err(failed)?;
    match rows.next().map_err(failed)? {
        Some(row) => Ok(Some(decode(row, connection, names)?)),
        None => Ok(None),
    }
}
