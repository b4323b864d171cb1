//! Store statistics, read from maintained counts (never recounted).
//!
//! Invariant: `counts` and `stream_counts` count the events up to the watermark `meta.counted`
//! (`schema.rs`, `SCHEMA_V3`), and each statement here adds the events past it (the view
//! `uncounted`); the statements run in one read-only repeatable-read transaction, so every
//! figure equals what a full count of the readable events in that one read snapshot would
//! give. The events past the watermark are the few appended since the last fold.

use annal_core::{Position, Stats, StreamCount, StreamId};
use deadpool_postgres::{Object, Transaction};

use crate::retry::ReadFailure;
use crate::row::{from_sql, to_sql};

/// Statistics from the maintained counts (`schema.rs`, `SCHEMA_V3`): O(types + streams shown +
/// events past the watermark) rows read, whatever the number of events; `top_streams` caps the per-stream list.
pub(crate) async fn stats(mut client: Object, top_streams: usize) -> Result<Stats, ReadFailure> {
    let transaction = super::snapshot(&mut client).await?;
    // The four statements are sent at once (pipelined on the one connection), so the figures
    // cost one round trip, not four. Each is prepared once per connection: planning them
    // anew on every call cost several times what running them does (the views and their
    // joins), and a statement with no parameters keeps its one plan.
    let (totals, kinds, top_streams, bytes) = tokio::try_join!(
        totals(&transaction),
        kinds(&transaction),
        top(&transaction, top_streams),
        bytes_on_disk(&transaction),
    )?;
    transaction.commit().await?;
    let mut stats = totals;
    for row in kinds {
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
    stats.top_streams = top_streams;
    stats.bytes_on_disk = Some(bytes);
    Ok(stats)
}

/// The event counts per type and per aggregate type, as (kind, name, events) rows.
async fn kinds(client: &Transaction<'_>) -> Result<Vec<tokio_postgres::Row>, ReadFailure> {
    let statement = client
        .prepare_cached(
            "SELECT c.kind, coalesce(t.name, a.name), c.events FROM counts_now c \
             LEFT JOIN types t ON c.kind = 'type' AND t.id = c.id \
             LEFT JOIN aggregate_types a ON c.kind = 'aggregate_type' AND a.id = c.id \
             WHERE c.kind IN ('type', 'aggregate_type') AND c.events > 0",
        )
        .await?;
    Ok(client.query(&statement, &[]).await?)
}

/// The totals, the ends of the log and the snapshot count.
async fn totals(client: &Transaction<'_>) -> Result<Stats, ReadFailure> {
    // One statement, so every figure comes from the same read snapshot. The oldest and newest
    // positions are the ends of the primary key; the oldest and newest timestamps, the ends of
    // the exact bounds of the counted runs (`time_chunks`, each end an index read) and of the
    // events past the watermark.
    let statement = client
        .prepare_cached(
            "WITH c AS (SELECT kind, events FROM counts_now WHERE kind IN ('all', 'streams')) \
             SELECT (SELECT coalesce(sum(events), 0)::bigint FROM c WHERE kind = 'all'), \
                    least((SELECT min(min_ts) FROM time_chunks), \
                          (SELECT min(timestamp) FROM uncounted)), \
                    greatest((SELECT max(max_ts) FROM time_chunks), \
                             (SELECT max(timestamp) FROM uncounted)), \
                    (SELECT min(position) FROM events), (SELECT max(position) FROM events), \
                    (SELECT coalesce(sum(events), 0)::bigint FROM c WHERE kind = 'streams'), \
                    (SELECT count(*) FROM snapshots)",
        )
        .await?;
    let totals = client.query_one(&statement, &[]).await?;
    let position = |value: Option<i64>| -> Result<Option<Position>, ReadFailure> {
        value
            .map(|value| from_sql(value, || "events".into()).map(Position))
            .transpose()
            .map_err(|e| ReadFailure::Read(e.into()))
    };
    let stats = Stats {
        total_events: count(totals.get(0), &|| "table counts (kind all)".into())?,
        oldest_timestamp: totals.get(1),
        newest_timestamp: totals.get(2),
        first_position: position(totals.get(3))?,
        last_position: position(totals.get(4))?,
        stream_count: count(totals.get(5), &|| "table counts (kind streams)".into())?,
        snapshot_count: count(totals.get(6), &|| "table snapshots (count)".into())?,
        ..Stats::default()
    };
    Ok(stats)
}

/// A maintained count; below zero is damage, named by where it is stored, never shown as 0.
fn count(value: i64, location: &dyn Fn() -> String) -> Result<u64, ReadFailure> {
    from_sql(value, location).map_err(|e| ReadFailure::Read(e.into()))
}

/// The `limit` streams with the most events.
///
/// A stream's count is its `stream_counts` row plus its events past the watermark. Only those
/// streams (the tail's) can move past a stream their counted figure ranks below, so the candidates
/// are the first `limit` + (streams in the tail) rows of the index `stream_counts_top` and the
/// tail's streams: every stream left out is outranked by `limit` candidates not in the tail.
const TOP: &str = "WITH \
     tail AS (SELECT stream_id, count(*) AS n FROM uncounted GROUP BY stream_id), \
     ranked AS (SELECT stream_id FROM stream_counts WHERE events > 0 \
       ORDER BY events DESC, name COLLATE \"C\" \
       LIMIT $1 + (SELECT count(*) FROM tail)), \
     candidates AS (SELECT stream_id FROM ranked UNION SELECT stream_id FROM tail) \
     SELECT s.name, coalesce(c.events, 0) + coalesce(t.n, 0) AS events \
     FROM candidates k JOIN streams s ON s.id = k.stream_id \
     LEFT JOIN stream_counts c ON c.stream_id = k.stream_id \
     LEFT JOIN tail t ON t.stream_id = k.stream_id \
     WHERE coalesce(c.events, 0) + coalesce(t.n, 0) > 0 \
     ORDER BY 2 DESC, s.name COLLATE \"C\" LIMIT $1";

async fn top(client: &Transaction<'_>, limit: usize) -> Result<Vec<StreamCount>, ReadFailure> {
    let mut top = Vec::new();
    // Ties are broken by name in byte order (COLLATE "C"), as every backend does.
    // The statement adds the tail's size to the limit: half the bigint range leaves room for it
    // when a caller asks for every stream (`usize::MAX`).
    let limit = to_sql(limit as u64).min(i64::MAX / 2);
    let statement = client.prepare_cached(TOP).await?;
    for row in client.query(&statement, &[&limit]).await? {
        let name: String = row.get(0);
        let events = count(row.get(1), &|| {
            format!("stream_counts row {name:?} (events)")
        })?;
        top.push(StreamCount {
            stream: StreamId::new(name).map_err(|e| ReadFailure::Read(e.into()))?,
            events,
        });
    }
    Ok(top)
}

/// The size of the store's tables on disk.
async fn bytes_on_disk(client: &Transaction<'_>) -> Result<u64, ReadFailure> {
    let statement = client
        .prepare_cached(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
             WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace \
             AND c.relname IN ('events', 'streams', 'types', 'aggregate_types', 'snapshots', \
                               'projections', 'meta', 'schema_migrations', 'counts', \
                               'stream_counts', 'time_chunks', 'sources', \
                               'postings')",
        )
        .await?;
    let bytes: i64 = client.query_one(&statement, &[]).await?.get(0);
    count(bytes, &|| "pg_total_relation_size".into())
}
