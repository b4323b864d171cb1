//! `annal verify`'s check of the derived index: every table compared with an index built by
//! scanning the log up to the watermark. Each problem is one line naming the table and what
//! differs; an index that matches has none.
//!
//! The scan holds the in-memory index of the whole watermark's worth of log (about 130 bytes an
//! event), as every open did before the index was on disk: this is an offline check.

use std::collections::{BTreeMap, HashMap};

use rusqlite::Connection;

use annal_core::{ReadError, StorageError};

use super::lookup::blob;
use super::records::{Keyed, Located, Versioned};
use super::schema::{self, KIND_AGGREGATE_TYPE, KIND_TYPE};
use crate::build::build;
use crate::index::Index;
use crate::scan::Rules;
use crate::sidecar::Counters;
use crate::writer::{SharedIndex, read_index};

/// The problems of the store's derived index against its log (none without a derived index).
/// The log is scanned up to the watermark the file records, in the read transaction of the
/// check: a pass running beside the writer may have moved it past the one this store's index
/// was last told of.
pub(crate) fn check_against_log(index: &SharedIndex) -> Result<Vec<String>, ReadError> {
    let (file, part, hasher, unchecked_through) = {
        let index = read_index(index)?;
        let part = index.disk_part();
        (
            std::sync::Arc::clone(&index.file),
            part,
            index.hasher,
            index.unchecked_through,
        )
    };
    let Some(part) = part else {
        return Ok(Vec::new());
    };
    let checked = part.index.read(part.mark.generation, |connection| {
        let offset = schema::load(connection)
            .map_err(|e| format!("reading the watermark: {e}"))?
            .mark
            .offset;
        let rules = Rules {
            unchecked_through,
            synced: 0,
            limit: Some(offset),
        };
        // A log that does not scan is the log's failure, not the index's: the inner error.
        let built = match build(file, &Counters::default(), rules, hasher) {
            Ok(built) => built,
            Err(error) => return Ok(Err(format!("{error:?}"))),
        };
        let mut problems = Vec::new();
        if let Some(problem) = &built.end.problem {
            problems.push(format!(
                "the log up to the watermark does not scan: {problem:?}"
            ));
        }
        if built.index.next.offset != offset {
            problems.push(format!(
                "the watermark is at byte {offset} of the log, its last whole batch ends at {}",
                built.index.next.offset
            ));
        }
        problems.extend(check(connection, &built.index)?);
        Ok(Ok(problems))
    })?;
    match checked {
        Ok(Ok(problems)) => Ok(problems),
        Ok(Err(reason)) => {
            Err(StorageError::backend("scanning the log to check the derived index", reason).into())
        }
        Err(_) => Ok(vec![
            "the store was compacted during the check; run it again".into(),
        ]),
    }
}

/// The problems of the tables behind `connection` against `scanned`, the log's index up to
/// the watermark.
pub(crate) fn check(connection: &Connection, scanned: &Index) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let blocks: Vec<Located> = rows(
        connection,
        "SELECT entries FROM blocks ORDER BY first",
        "blocks",
    )?
    .into_iter()
    .flatten()
    .collect();
    let expected: Vec<Located> = (0..scanned.entries.len())
        .map(|at| Located {
            entry: scanned.entries[at],
            timestamp: scanned.timestamps[at],
        })
        .collect();
    if blocks != expected {
        problems.push(format!(
            "table blocks holds {} events, the log {} up to the watermark, or they differ",
            blocks.len(),
            expected.len()
        ));
    }
    check_postings(connection, scanned, &mut problems)?;
    check_streams(connection, scanned, &mut problems)?;
    check_ids(connection, scanned, &mut problems)?;
    check_counts(connection, scanned, &mut problems).map_err(|e| e.to_string())?;
    Ok(problems)
}

/// Every blob of a one-column query, decoded.
fn rows<R: super::records::Record>(
    connection: &Connection,
    sql: &str,
    table: &str,
) -> Result<Vec<Vec<R>>, String> {
    let mut statement = connection.prepare(sql).map_err(|e| e.to_string())?;
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        found.push(blob(row, 0, table)?);
    }
    Ok(found)
}

fn check_postings(
    connection: &Connection,
    scanned: &Index,
    problems: &mut Vec<String>,
) -> Result<(), String> {
    let mut statement = connection
        .prepare("SELECT field, name, entries FROM postings ORDER BY field, name, last")
        .map_err(|e| e.to_string())?;
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let mut stored: BTreeMap<(i64, String), Vec<u64>> = BTreeMap::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let key = (
            row.get::<_, i64>(0).map_err(|e| e.to_string())?,
            row.get::<_, String>(1).map_err(|e| e.to_string())?,
        );
        let records: Vec<Located> = blob(row, 2, "postings")?;
        stored
            .entry(key)
            .or_default()
            .extend(records.iter().map(|r| r.entry.position));
    }
    let mut expected: BTreeMap<(i64, String), Vec<u64>> = BTreeMap::new();
    for (field, map) in scanned.postings.fields() {
        for (name, list) in map {
            let positions = list.iter().map(|&at| scanned.entries[at as usize].position);
            expected.insert((field as i64, name.clone()), positions.collect());
        }
    }
    for key in stored
        .keys()
        .chain(expected.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if stored.get(key) != expected.get(key) {
            problems.push(format!(
                "table postings: field {} value {:?} lists {} events, the log {}",
                key.0,
                key.1,
                stored.get(key).map_or(0, Vec::len),
                expected.get(key).map_or(0, Vec::len)
            ));
        }
    }
    Ok(())
}

fn check_streams(
    connection: &Connection,
    scanned: &Index,
    problems: &mut Vec<String>,
) -> Result<(), String> {
    let mut statement = connection
        .prepare("SELECT stream, entries FROM stream_runs ORDER BY stream, last_version")
        .map_err(|e| e.to_string())?;
    let mut rows = statement.query([]).map_err(|e| e.to_string())?;
    let mut stored: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let name: String = row.get(0).map_err(|e| e.to_string())?;
        let records: Vec<Versioned> = blob(row, 1, "stream_runs")?;
        let pairs = records.iter().map(|r| (r.version, r.entry.position));
        stored.entry(name).or_default().extend(pairs);
    }
    let loaded = schema::load(connection).map_err(|e| e.to_string())?;
    let rows: HashMap<&str, (u64, u64)> = loaded
        .streams
        .iter()
        .map(|row| (row.name.as_str(), (row.last_version, row.events)))
        .collect();
    for (name, stream) in &scanned.streams {
        let expected: Vec<(u64, u64)> = stream
            .entries
            .iter()
            .map(|e| (e.version, e.entry.position))
            .collect();
        if stored.remove(name).unwrap_or_default() != expected {
            problems.push(format!(
                "table stream_runs: stream {name} differs from the log"
            ));
        }
        let row = rows.get(name.as_str()).copied().unwrap_or((0, 0));
        if stream.events > 0 && row != (stream.last_version, stream.events) {
            problems.push(format!(
                "table streams: stream {name} has last version {} and {} events, the log {} and {}",
                row.0, row.1, stream.last_version, stream.events
            ));
        }
    }
    for name in stored.keys() {
        problems.push(format!(
            "table stream_runs: stream {name} is not in the log"
        ));
    }
    Ok(())
}

fn check_ids(
    connection: &Connection,
    scanned: &Index,
    problems: &mut Vec<String>,
) -> Result<(), String> {
    let mut stored: Vec<(u64, u64)> = rows::<Keyed>(connection, "SELECT entries FROM ids", "ids")?
        .into_iter()
        .flatten()
        .map(|r| (r.hash, r.entry.position))
        .collect();
    let mut expected: Vec<(u64, u64)> = scanned.ids.iter().collect();
    stored.sort_unstable();
    expected.sort_unstable();
    if stored != expected {
        problems.push(format!(
            "table ids holds {} ids, the log {} up to the watermark, or they differ",
            stored.len(),
            expected.len()
        ));
    }
    Ok(())
}

fn check_counts(
    connection: &Connection,
    scanned: &Index,
    problems: &mut Vec<String>,
) -> rusqlite::Result<()> {
    let loaded = schema::load(connection)?;
    let [by_type, by_aggregate_type] = scanned.type_counts();
    for (kind, stored, expected) in [
        (KIND_TYPE, &loaded.by_type, by_type),
        (
            KIND_AGGREGATE_TYPE,
            &loaded.by_aggregate_type,
            by_aggregate_type,
        ),
    ] {
        let stored: HashMap<&String, u64> = stored.iter().map(|(k, n)| (k, *n)).collect();
        let expected: HashMap<&String, u64> = expected.iter().map(|(k, n)| (k, *n)).collect();
        if stored != expected {
            problems.push(format!(
                "table counts: the counts of kind {kind} differ from the log"
            ));
        }
    }
    if loaded.totals != scanned.totals() {
        problems.push(format!(
            "table meta: totals {:?}, the log {:?}",
            loaded.totals,
            scanned.totals()
        ));
    }
    Ok(())
}
