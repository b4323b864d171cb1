//! Fuzz target: `annal import --format seed-sqlite` of arbitrary rows.
//!
//! Random bytes are almost never a SQLite file, and SQLite's own file parsing is not ours to
//! fuzz; what a hostile or damaged seed database can hand the importer is any row. So each
//! input line is one row, a JSON array of column values written with their JSON kind as the
//! SQL type (string: TEXT, whole number: INTEGER, other number: REAL, null: NULL, array or
//! object: a BLOB of its text). A line `S[...]` is a `snapshots` row (5 columns), any other
//! `[...]` an `events` row (11 columns); a first line `!` makes the tables untyped and without
//! constraints, so any value reaches any column. Rows the table refuses are left out.
//!
//! The import must end with a report, leave a readable log and add nothing when run again.

#![no_main]

use std::sync::Arc;

use annal_cli::ImportFormat;
use annal_cli::fuzzing::import;
use annal_core::{MemoryStore, Store};
use annal_fuzz::{read_everything, runtime};
use libfuzzer_sys::fuzz_target;
use rusqlite::types::Value as Sql;
use serde_json::Value;

const SEED_SCHEMA: &str = "
CREATE TABLE events (id TEXT PRIMARY KEY, type TEXT NOT NULL, aggregate_id TEXT NOT NULL,
  aggregate_type TEXT NOT NULL, version INTEGER NOT NULL, timestamp INTEGER NOT NULL,
  source TEXT NOT NULL, payload TEXT NOT NULL, metadata TEXT, causation_id TEXT,
  correlation_id TEXT);
CREATE UNIQUE INDEX idx_aggregate_version ON events(aggregate_id, version);
CREATE TABLE snapshots (aggregate_id TEXT PRIMARY KEY, aggregate_type TEXT NOT NULL,
  version INTEGER NOT NULL, state TEXT NOT NULL, timestamp INTEGER NOT NULL);
";

const LOOSE_SCHEMA: &str = "
CREATE TABLE events (id, type, aggregate_id, aggregate_type, version, timestamp, source,
  payload, metadata, causation_id, correlation_id);
CREATE TABLE snapshots (aggregate_id, aggregate_type, version, state, timestamp);
";

fn sql(value: &Value) -> Sql {
    match value {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Sql::Integer(i),
            None => Sql::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Sql::Text(s.clone()),
        other => Sql::Blob(other.to_string().into_bytes()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let connection = rusqlite::Connection::open(&path).unwrap();
    let loose = text.starts_with('!');
    connection
        .execute_batch(if loose { LOOSE_SCHEMA } else { SEED_SCHEMA })
        .unwrap();
    for line in text.lines().take(64) {
        let (table, columns, json) = match line.strip_prefix('S') {
            Some(rest) => ("snapshots", 5, rest),
            None => ("events", 11, line),
        };
        let Ok(Value::Array(values)) = serde_json::from_str::<Value>(json) else {
            continue;
        };
        let mut row: Vec<Sql> = values.iter().map(sql).collect();
        row.resize(columns, Sql::Null);
        row.truncate(columns);
        let marks = vec!["?"; columns].join(",");
        let insert = format!("INSERT INTO {table} VALUES ({marks})");
        let _ = connection.execute(&insert, rusqlite::params_from_iter(row));
    }
    drop(connection);

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    runtime().block_on(async {
        let first = import(Arc::clone(&store), ImportFormat::SeedSqlite, &path)
            .await
            .unwrap();
        let events = read_everything(&*store).await.unwrap();
        assert_eq!(events.len() as u64, first.imported, "{first:?}");
        let again = import(Arc::clone(&store), ImportFormat::SeedSqlite, &path)
            .await
            .unwrap();
        assert_eq!(
            again.imported, 0,
            "a second import added events: {first:?} then {again:?}"
        );
        assert_eq!(read_everything(&*store).await.unwrap(), events);
    });
});
