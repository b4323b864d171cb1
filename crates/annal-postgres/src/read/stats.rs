//! Store statistics, computed by aggregate queries over the readable events.

use annal_core::{Position, Stats, StreamCount, StreamId};
use deadpool_postgres::Object;

use crate::retry::ReadFailure;
use crate::row::{from_sql, to_sql};

/// Counts over the readable events; `top_streams` caps the per-stream list.
pub(crate) async fn stats(client: Object, top_streams: usize) -> Result<Stats, ReadFailure> {
    let count = |value: i64| u64::try_from(value).unwrap_or(0);
    let totals = client
        .query_one(
            "SELECT count(*), min(timestamp), max(timestamp), min(position), max(position), \
                    count(DISTINCT stream_id), (SELECT count(*) FROM snapshots) \
             FROM events",
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
        total_events: count(totals.get(0)),
        oldest_timestamp: totals.get(1),
        newest_timestamp: totals.get(2),
        first_position: position(totals.get(3))?,
        last_position: position(totals.get(4))?,
        stream_count: count(totals.get(5)),
        snapshot_count: count(totals.get(6)),
        ..Stats::default()
    };
    for row in client
        .query(
            "SELECT t.name, count(*) FROM events e JOIN types t ON t.id = e.type_id \
             GROUP BY t.name",
            &[],
        )
        .await?
    {
        stats.events_by_type.insert(row.get(0), count(row.get(1)));
    }
    for row in client
        .query(
            "SELECT a.name, count(*) FROM events e \
             JOIN aggregate_types a ON a.id = e.aggregate_type_id GROUP BY a.name",
            &[],
        )
        .await?
    {
        stats
            .events_by_aggregate_type
            .insert(row.get(0), count(row.get(1)));
    }
    // Ties are broken by name in byte order (COLLATE "C"), as every backend does.
    for row in client
        .query(
            "SELECT s.name, count(*) AS n FROM events e JOIN streams s ON s.id = e.stream_id \
             GROUP BY s.name ORDER BY n DESC, s.name COLLATE \"C\" LIMIT $1",
            &[&to_sql(top_streams as u64)],
        )
        .await?
    {
        stats.top_streams.push(StreamCount {
            stream: StreamId::new(row.get::<_, String>(0))
                .map_err(|e| ReadFailure::Read(e.into()))?,
            events: count(row.get(1)),
        });
    }
    let bytes: i64 = client
        .query_one(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c \
             WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace \
             AND c.relname IN ('events', 'streams', 'types', 'aggregate_types', 'snapshots', \
                               'projections', 'meta', 'schema_migrations')",
            &[],
        )
        .await?
        .get(0);
    stats.bytes_on_disk = Some(count(bytes));
    Ok(stats)
}
