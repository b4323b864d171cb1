//! Pages of the whole log by position and of one stream by version, and one event by its id.

use annal_core::{Direction, EventId, Position, RecordedEvent, StreamId, Version};
use deadpool_postgres::Object;

use crate::retry::ReadFailure;
use crate::row::{EVENT_COLUMNS, event, to_sql};

/// Up to `page` events at or after `from`, oldest first.
pub(crate) async fn all_page(
    client: Object,
    from: Position,
    page: usize,
) -> Result<Vec<RecordedEvent>, ReadFailure> {
    let sql = format!("SELECT {EVENT_COLUMNS} WHERE e.position >= $1 ORDER BY e.position LIMIT $2");
    let statement = client.prepare_cached(&sql).await?;
    let rows = client
        .query(&statement, &[&to_sql(from.0), &to_sql(page as u64)])
        .await?;
    Ok(rows.iter().map(event).collect::<Result<_, _>>()?)
}

/// Up to `page` events of `stream` from `bound` (inclusive) in `direction`.
///
/// The stream is named by a subquery on its id, not by a join condition on its name: equal to
/// a single value, the id lets the planner read `events_stream` in version order and stop at
/// the page, where a join on the name left it to read the whole stream and sort it.
pub(crate) async fn stream_page(
    client: Object,
    stream: &StreamId,
    direction: Direction,
    bound: Version,
    page: usize,
) -> Result<Vec<RecordedEvent>, ReadFailure> {
    let (comparison, order) = match direction {
        Direction::Forward => (">=", "ASC"),
        Direction::Backward => ("<=", "DESC"),
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} WHERE e.stream_id = (SELECT id FROM streams WHERE name = $1) \
         AND e.version {comparison} $2 \
         ORDER BY e.version {order} LIMIT $3"
    );
    let statement = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &statement,
            &[&stream.as_str(), &to_sql(bound.0), &to_sql(page as u64)],
        )
        .await?;
    Ok(rows.iter().map(event).collect::<Result<_, _>>()?)
}

/// The event whose id is `id`, through the unique index on ids.
pub(crate) async fn by_id(
    client: Object,
    id: &EventId,
) -> Result<Option<RecordedEvent>, ReadFailure> {
    let sql = format!("SELECT {EVENT_COLUMNS} WHERE e.id = $1");
    let statement = client.prepare_cached(&sql).await?;
    let row = client.query_opt(&statement, &[&id.as_str()]).await?;
    Ok(row.as_ref().map(event).transpose()?)
}
