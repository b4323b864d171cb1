//! Store statistics, read from counts maintained with the events (never recounted).
//!
//! Invariant: the counts change in the same transaction as the rows they count, so every
//! figure equals what a full count of the readable events in the same read snapshot would give.

use annal_core::{Position, Stats, StreamCount, StreamId};
use deadpool_postgres::Object;

use crate::retry::ReadFailure;
use crate::row::{from_sql, to_sql};

/// Statistics from the maintained counts (`schema.rs`, `SCHEMA_V2`): O(types + streams shown)
/// rows read, whatever the number of events; `top_streams` caps the per-stream list.
pub(crate) async fn stats(client: Object, top_streams: usize) -> Result<Stats, ReadFailure> {
    // One statement, so every figure comes from the same read snapshot. The oldest and newest
    // timestamps and positions are the ends of the time index and of the primary key.
    let totals = client
        .query_one(
            "SELECT (SELECT coalesce(sum(events), 0)::bigint FROM counts WHERE kind = 'all'), \
                    (SELECT min(timestamp) FROM events), (SELECT max(timestamp) FROM events), \
                    (SELECT min(position) FROM events), (SELECT max(position) FROM events), \
                    (SELECT coalesce(sum(events), 0)::bigint FROM counts WHERE kind = 'streams'), \
                    (SELECT count(*) FROM snapshots)",
            &[],
        )
        .await?;
    let position = |value: Option<i64>| -> Result<Option<Position>, ReadFailure> {
        value
            .map(|value| from_sql(value, || "events".into()).map(Position))
            .transpose()
            .map_err(|e| ReadFailure::Read(e.into()))
    };
    let mut stats = Stats {
        total_events: count(totals.get(0), &|| "table counts (kind all)".into())?,
        oldest_timestamp: totals.get(1),
        newest_timestamp: totals.get(2),
        first_position: position(totals.get(3))?,
        last_position: position(totals.get(4))?,
        stream_count: count(totals.get(5), &|| "table counts (kind streams)".into())?,
        snapshot_count: count(totals.get(6), &|| "table snapshots (count)".into())?,
        ..Stats::default()
    };
    for row in client
        .query(
            "SELECT c.kind, coalesce(t.name, a.name), c.events FROM counts c \
             LEFT JOIN types t ON c.kind = 'type' AND t.id = c.id \
             LEFT JOIN aggregate_types a ON c.kind = 'aggregate_type' AND a.id = c.id \
             WHERE c.kind IN ('type', 'aggregate_type') AND c.events > 0",
            &[],
        )
        .await?
    {
        let (kind, name): (String, Option<String>) = (row.get(0), row.get(1));
        let Some(name) = name else { continue };
        let counts = if kind == "type" {
            &mut stats.events_by_type
        } else {
            &mut stats.events_by_aggregate_type
        };
        let events = count(row.get(2), &|| format!("table counts ({kind} {name:?})"))?;
        counts.insert(name, events);
    }
    stats.top_streams = top(&client, top_streams).await?;
    stats.bytes_on_disk = Some(bytes_on_disk(&client).await?);
    Ok(stats)
}

/// A maintained count; below zero is damage, named by where it is stored, never shown as 0.
fn count(value: i64, location: &dyn Fn() -> String) -> Result<u64, ReadFailure> {
    from_sql(value, location).map_err(|e| ReadFailure::Read(e.into()))
}

/// The `limit` streams with the most events.
async fn top(client: &Object, limit: usize) -> Result<Vec<StreamCount>, ReadFailure> {
    let mut top = Vec::new();
    // Ties are broken by name in byte order (COLLATE "C"), as every backend does; the order is
    // the index streams_events's, so only the streams shown are read.
    for row in client
        .query(
            "SELECT name, events FROM streams WHERE events > 0 \
             ORDER BY events DESC, name COLLATE \"C\" LIMIT $1",
            &[&to_sql(limit as u64)],
        )
        .await?
    {
        let name: String = row.get(0);
        let events = count(row.get(1), &|| format!("streams row {name:?} (events)"))?;
        top.push(StreamCount {
            stream: StreamId::new(name).map_err(|e| ReadFailure::Read(e.into()))?,
            events,
        });
    }
    Ok(top)
}

/// The size of the store's tables on disk.
async fn bytes_on_disk(client: &Object) -> Result<u64, ReadFailure> {
    let bytes: i64 = client
        .query_one(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
             WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace \
             AND c.relname IN ('events', 'streams', 'types', 'aggregate_types', 'snapshots', \
                               'projections', 'meta', 'schema_migrations', 'counts', \
                               'time_chunks')",
            &[],
        )
        .await?
        .get(0);
    count(bytes, &|| "pg_total_relation_size".into())
}
