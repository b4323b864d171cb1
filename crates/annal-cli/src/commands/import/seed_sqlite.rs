//! Importing the seed event store's SQLite file (`events.db`, docs/seed-formats.md §1).
//!
//! The file is opened read-only and its schema checked before anything is written. Events are
//! imported in rowid order, which is the seed's append order, each appended at exactly its seed
//! version (`ExpectedVersion::Exact(version - 1)`), so versions stay identical and a gap in the
//! seed is reported instead of silently renumbered. Ids, timestamps, source, aggregate type,
//! metadata (NULL becomes `{}`, as the seed reads it back) and causation/correlation ids (NULL
//! becomes none) are kept. Then the `snapshots` rows are saved. Rows are read a page at a time,
//! so memory stays bounded however large the seed is.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use annal_core::{
    AggregateType, AppendError, EventId, EventType, ExpectedVersion, NewEvent, Position, Snapshot,
    SnapshotError, Store, StreamId, Version,
};
use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags, Row};
use serde_json::Value;

use super::detect::starts_with_sqlite_header;
use super::report::Report;
use crate::commands::transfer::progress;
use crate::output::Output;

/// The columns of the seed's `events` table.
const EVENT_COLUMNS: [&str; 11] = [
    "id",
    "type",
    "aggregate_id",
    "aggregate_type",
    "version",
    "timestamp",
    "source",
    "payload",
    "metadata",
    "causation_id",
    "correlation_id",
];

/// The columns of the seed's `snapshots` table.
const SNAPSHOT_COLUMNS: [&str; 5] = [
    "aggregate_id",
    "aggregate_type",
    "version",
    "state",
    "timestamp",
];

/// Rows read from the seed per query.
const PAGE_ROWS: usize = 500;

/// A seed database, opened read-only, whose schema has been checked.
pub(crate) struct SeedDatabase {
    path: PathBuf,
    connection: Connection,
    has_snapshots: bool,
}

/// Opens `path` read-only and checks it holds the seed's `events` table.
pub(crate) fn open(path: &Path) -> anyhow::Result<SeedDatabase> {
    let shown = path.display();
    if path.is_dir() {
        bail!("{shown} is a directory, not a seed database (events.db)");
    }
    if !starts_with_sqlite_header(path)? {
        bail!(
            "{shown} is not a seed database: it is not a SQLite file (no \"SQLite format 3\" header)"
        );
    }
    // Read-only: an import never changes its source.
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {shown} read-only"))?;
    let columns = table_columns(&connection, "events")
        .with_context(|| format!("{shown} is not a readable SQLite database"))?;
    if columns.is_empty() {
        bail!("{shown} is not a seed database: it has no `events` table");
    }
    let missing: Vec<&str> = EVENT_COLUMNS
        .iter()
        .copied()
        .filter(|column| !columns.contains(*column))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{shown} is not a seed database: its `events` table lacks column(s) {}",
            missing.join(", ")
        );
    }
    let snapshot_columns = table_columns(&connection, "snapshots")
        .with_context(|| format!("reading the schema of {shown}"))?;
    let has_snapshots = !snapshot_columns.is_empty();
    let missing: Vec<&str> = SNAPSHOT_COLUMNS
        .iter()
        .copied()
        .filter(|column| !snapshot_columns.contains(*column))
        .collect();
    if has_snapshots && !missing.is_empty() {
        bail!(
            "{shown} is not a seed database: its `snapshots` table lacks column(s) {}",
            missing.join(", ")
        );
    }
    Ok(SeedDatabase {
        path: path.to_owned(),
        connection,
        has_snapshots,
    })
}

/// The column names of `table`, empty if there is no such table.
fn table_columns(connection: &Connection, table: &str) -> rusqlite::Result<HashSet<String>> {
    let mut statement = connection.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = statement.query_map([table], |row| row.get::<_, String>(0))?;
    names.collect()
}

pub(crate) async fn import(
    store: &dyn Store,
    database: SeedDatabase,
    out: &Output,
) -> anyhow::Result<Report> {
    let shown = database.path.display().to_string();
    let n_events =
        count(&database.connection, "events").with_context(|| format!("reading {shown}"))?;
    let n_snapshots = if database.has_snapshots {
        count(&database.connection, "snapshots").with_context(|| format!("reading {shown}"))?
    } else {
        0
    };
    let bar = progress(out, n_events + n_snapshots, "importing");
    let head_before = store.head().await?;
    let mut report = Report::new("seed-sqlite");
    let mut after_rowid = i64::MIN;
    loop {
        let page = read_events(&database.connection, after_rowid)
            .with_context(|| format!("reading the events of {shown}"))?;
        let Some((last_rowid, _)) = page.last() else {
            break;
        };
        after_rowid = *last_rowid;
        for (rowid, row) in page {
            bar.inc(1);
            match row.and_then(to_event) {
                Ok(event) => import_event(store, rowid, event, head_before, &mut report).await?,
                Err(reason) => report.skipped_bad.push(format!("rowid {rowid}: {reason}")),
            }
        }
    }
    let (mut snapshots_imported, mut snapshots_existing) = (0, 0);
    if database.has_snapshots {
        let rows = read_snapshots(&database.connection)
            .with_context(|| format!("reading the snapshots of {shown}"))?;
        for (rowid, row) in rows {
            bar.inc(1);
            let snapshot = match row.and_then(to_snapshot) {
                Ok(snapshot) => snapshot,
                Err(reason) => {
                    report
                        .skipped_bad
                        .push(format!("snapshot rowid {rowid}: {reason}"));
                    continue;
                }
            };
            let outcome = import_snapshot(store, snapshot)
                .await
                .with_context(|| format!("snapshot rowid {rowid}"))?;
            match outcome {
                SnapshotOutcome::Saved => snapshots_imported += 1,
                SnapshotOutcome::Existing => snapshots_existing += 1,
                SnapshotOutcome::Refused(error) => report
                    .skipped_bad
                    .push(format!("snapshot rowid {rowid}: {error}")),
            }
        }
    }
    bar.finish_and_clear();
    report.snapshots_imported = Some(snapshots_imported);
    report.snapshots_existing = Some(snapshots_existing);
    Ok(report)
}

fn count(connection: &Connection, table: &str) -> rusqlite::Result<u64> {
    // `table` is one of two constants, never input.
    let n: i64 = connection.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// One `events` row as stored, before any check.
struct EventRow {
    id: String,
    event_type: String,
    aggregate_id: String,
    aggregate_type: String,
    version: i64,
    timestamp: i64,
    source: String,
    payload: String,
    metadata: Option<String>,
    causation_id: Option<String>,
    correlation_id: Option<String>,
}

/// An event ready to append at its seed version.
struct SeedEvent {
    stream: StreamId,
    version: u64,
    event: NewEvent,
}

/// The next page of events after `after_rowid`; a row whose columns have the wrong SQL types is
/// kept as its reason, so it can be reported and skipped.
fn read_events(
    connection: &Connection,
    after_rowid: i64,
) -> rusqlite::Result<Vec<(i64, Result<EventRow, String>)>> {
    let mut statement = connection.prepare_cached(
        "SELECT rowid, id, type, aggregate_id, aggregate_type, version, timestamp, source, \
         payload, metadata, causation_id, correlation_id \
         FROM events WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
    )?;
    let rows = statement.query_map(rusqlite::params![after_rowid, PAGE_ROWS as i64], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            event_row(row).map_err(|e| e.to_string()),
        ))
    })?;
    rows.collect()
}

fn event_row(row: &Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        id: row.get(1)?,
        event_type: row.get(2)?,
        aggregate_id: row.get(3)?,
        aggregate_type: row.get(4)?,
        version: row.get(5)?,
        timestamp: row.get(6)?,
        source: row.get(7)?,
        payload: row.get(8)?,
        metadata: row.get(9)?,
        causation_id: row.get(10)?,
        correlation_id: row.get(11)?,
    })
}

/// Checks one row and builds its event; the error is the reason to skip it.
fn to_event(row: EventRow) -> Result<SeedEvent, String> {
    let id = EventId::new(row.id).map_err(|e| format!("invalid id: {e}"))?;
    let event_type = EventType::new(row.event_type).map_err(|e| format!("invalid type: {e}"))?;
    let stream =
        StreamId::new(row.aggregate_id).map_err(|e| format!("invalid aggregate_id: {e}"))?;
    let aggregate_type = AggregateType::new(row.aggregate_type)
        .map_err(|e| format!("invalid aggregate_type: {e}"))?;
    let version = u64::try_from(row.version)
        .ok()
        .filter(|version| *version >= 1)
        .ok_or_else(|| format!("invalid version {}: versions start at 1", row.version))?;
    let payload: Value =
        serde_json::from_str(&row.payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    // The seed stores an absent metadata as `{}` and reads NULL back as `{}` too.
    let metadata = match row.metadata.as_deref() {
        None | Some("") => Value::Object(serde_json::Map::new()),
        Some(text) => {
            serde_json::from_str(text).map_err(|e| format!("metadata is not JSON: {e}"))?
        }
    };
    let event = NewEvent {
        id: Some(id),
        event_type,
        aggregate_type: Some(aggregate_type),
        timestamp: Some(row.timestamp),
        source: row.source,
        payload,
        metadata: Some(metadata),
        causation_id: row.causation_id,
        correlation_id: row.correlation_id,
    };
    Ok(SeedEvent {
        stream,
        version,
        event,
    })
}

/// Appends one seed event at its seed version and counts the outcome.
async fn import_event(
    store: &dyn Store,
    rowid: i64,
    seed: SeedEvent,
    head_before: Position,
    report: &mut Report,
) -> anyhow::Result<()> {
    let expected = ExpectedVersion::Exact(Version(seed.version - 1));
    match store.append(&seed.stream, expected, vec![seed.event]).await {
        // A retry of an earlier import: the store answers with the original position.
        Ok(result) if result.first_position <= head_before => report.skipped_existing += 1,
        Ok(_) => report.imported += 1,
        Err(error @ AppendError::WrongExpectedVersion { .. }) => report.skipped_bad.push(format!(
            "rowid {rowid}: version {} does not follow the stream's last version ({error})",
            seed.version
        )),
        Err(error @ AppendError::DuplicateEventId { .. }) => {
            report.skipped_bad.push(format!("rowid {rowid}: {error}"));
        }
        Err(error @ AppendError::InvalidEvent { .. }) => {
            report.skipped_bad.push(format!("rowid {rowid}: {error}"));
        }
        Err(error) => return Err(anyhow::Error::new(error).context(format!("rowid {rowid}"))),
    }
    Ok(())
}

/// One `snapshots` row as stored.
struct SnapshotRow {
    aggregate_id: String,
    aggregate_type: String,
    version: i64,
    state: String,
    timestamp: i64,
}

/// Every snapshot row; the seed keeps at most one per aggregate, so there are few.
fn read_snapshots(
    connection: &Connection,
) -> rusqlite::Result<Vec<(i64, Result<SnapshotRow, String>)>> {
    let mut statement = connection.prepare(
        "SELECT rowid, aggregate_id, aggregate_type, version, state, timestamp \
         FROM snapshots ORDER BY rowid",
    )?;
    let rows = statement.query_map([], |row| {
        let snapshot = (|| {
            Ok(SnapshotRow {
                aggregate_id: row.get(1)?,
                aggregate_type: row.get(2)?,
                version: row.get(3)?,
                state: row.get(4)?,
                timestamp: row.get(5)?,
            })
        })();
        Ok((
            row.get::<_, i64>(0)?,
            snapshot.map_err(|e: rusqlite::Error| e.to_string()),
        ))
    })?;
    rows.collect()
}

fn to_snapshot(row: SnapshotRow) -> Result<Snapshot, String> {
    let aggregate_id =
        StreamId::new(row.aggregate_id).map_err(|e| format!("invalid aggregate_id: {e}"))?;
    let aggregate_type = AggregateType::new(row.aggregate_type)
        .map_err(|e| format!("invalid aggregate_type: {e}"))?;
    let version =
        u64::try_from(row.version).map_err(|_| format!("invalid version {}", row.version))?;
    let state: Value =
        serde_json::from_str(&row.state).map_err(|e| format!("state is not JSON: {e}"))?;
    Ok(Snapshot {
        aggregate_id,
        aggregate_type,
        version: Version(version),
        state,
        timestamp: row.timestamp,
    })
}

/// What became of one seed snapshot.
enum SnapshotOutcome {
    Saved,
    /// The same version and state were already stored: a re-run.
    Existing,
    /// The store refused it (older than the stored one, ahead of the stream, not an object).
    Refused(SnapshotError),
}

/// Saves `snapshot` unless the same one is stored.
async fn import_snapshot(store: &dyn Store, snapshot: Snapshot) -> anyhow::Result<SnapshotOutcome> {
    let stored = store.load_snapshot(&snapshot.aggregate_id).await?;
    if stored
        .is_some_and(|stored| stored.version == snapshot.version && stored.state == snapshot.state)
    {
        return Ok(SnapshotOutcome::Existing);
    }
    match store.save_snapshot(snapshot).await {
        Ok(()) => Ok(SnapshotOutcome::Saved),
        Err(SnapshotError::Storage(error)) => Err(error.into()),
        Err(error) => Ok(SnapshotOutcome::Refused(error)),
    }
}
