//! Filtered queries: the filter becomes a `WHERE` clause, pages are keyed by position.
//!
//! The filter's `offset` is applied by the first page's `OFFSET`; later pages continue after
//! the last position returned, so a long query never re-reads what it skipped.

use annal_core::{Direction, Filter, RecordedEvent};
use deadpool_postgres::Object;
use tokio_postgres::types::ToSql;

use crate::retry::ReadFailure;
use crate::row::{EVENT_COLUMNS, event, to_sql};

/// Where a query's next page resumes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryCursor {
    /// The last position returned; `None` before the first page.
    pub(crate) after: Option<i64>,
    /// Events still to return (`None`: no limit).
    pub(crate) remaining: Option<u64>,
    /// Whether the previous page was short, so nothing is left.
    pub(crate) done: bool,
}

/// The next page of the query, and the cursor after it; `None` when it is over.
pub(crate) async fn query_page(
    client: Object,
    filter: &Filter,
    cursor: QueryCursor,
    page: usize,
) -> Result<Option<(Vec<RecordedEvent>, QueryCursor)>, ReadFailure> {
    let page = cursor
        .remaining
        .map_or(page as u64, |remaining| remaining.min(page as u64));
    if cursor.done || page == 0 {
        return Ok(None);
    }
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    let mut bind = |value: Box<dyn ToSql + Sync + Send>| {
        params.push(value);
        format!("${}", params.len())
    };
    let names = |list: Vec<&str>| -> Box<dyn ToSql + Sync + Send> {
        Box::new(list.into_iter().map(str::to_owned).collect::<Vec<String>>())
    };
    if !filter.event_types.is_empty() {
        let list = filter.event_types.iter().map(|t| t.as_str()).collect();
        conditions.push(format!("t.name = ANY({})", bind(names(list))));
    }
    if !filter.aggregate_ids.is_empty() {
        let list = filter.aggregate_ids.iter().map(|s| s.as_str()).collect();
        conditions.push(format!("s.name = ANY({})", bind(names(list))));
    }
    if !filter.aggregate_types.is_empty() {
        let list = filter.aggregate_types.iter().map(|a| a.as_str()).collect();
        conditions.push(format!("a.name = ANY({})", bind(names(list))));
    }
    if let Some(source) = &filter.source {
        conditions.push(format!("e.source = {}", bind(Box::new(source.clone()))));
    }
    if let Some(correlation_id) = &filter.correlation_id {
        let value = bind(Box::new(correlation_id.clone()));
        conditions.push(format!("e.correlation_id = {value}"));
    }
    if let Some(causation_id) = &filter.causation_id {
        let value = bind(Box::new(causation_id.clone()));
        conditions.push(format!("e.causation_id = {value}"));
    }
    if let Some(from) = filter.timestamp_from {
        conditions.push(format!("e.timestamp >= {}", bind(Box::new(from))));
    }
    if let Some(to) = filter.timestamp_to {
        conditions.push(format!("e.timestamp < {}", bind(Box::new(to))));
    }
    let (comparison, order) = match filter.direction {
        Direction::Forward => (">", "ASC"),
        Direction::Backward => ("<", "DESC"),
    };
    if let Some(after) = cursor.after {
        conditions.push(format!("e.position {comparison} {}", bind(Box::new(after))));
    }
    let offset = if cursor.after.is_none() {
        to_sql(filter.offset)
    } else {
        0
    };
    let limit = bind(Box::new(to_sql(page)));
    let offset = bind(Box::new(offset));
    let mut sql = format!("SELECT {EVENT_COLUMNS}");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(
        " ORDER BY e.position {order} LIMIT {limit} OFFSET {offset}"
    ));
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|param| &**param as &(dyn ToSql + Sync))
        .collect();
    let rows = client.query(sql.as_str(), &refs).await?;
    let events: Vec<RecordedEvent> = rows.iter().map(event).collect::<Result<_, _>>()?;
    let Some(last) = events.last() else {
        return Ok(None);
    };
    let next = QueryCursor {
        after: Some(to_sql(last.position.0)),
        remaining: cursor
            .remaining
            .map(|remaining| remaining - events.len() as u64),
        done: (events.len() as u64) < page,
    };
    Ok(Some((events, next)))
}
