//! Filtered queries, pages keyed by position. A filter with a type, aggregate type or source
//! and no stream, correlation or causation is answered through the postings (`postings.rs`);
//! every other filter becomes one `WHERE` clause here.
//!
//! The filter's `offset` is passed over on the first page only; later pages continue after the
//! last position returned, so a long query never re-reads what it skipped.
//!
//! Invariant: a page costs O(log N + k) index reads, k the rows it returns plus the offset. A
//! list of streams is read one stream at a time, each in position order from `events_stream`
//! and cut at the page's size, then merged (PostgreSQL cannot read one index in position order
//! for several leading values); a correlation or causation id is read from its own index; a
//! time window alone is read as the range of positions `time_chunks` gives it. Names are turned
//! into ids first, and a time window into a range of positions, both bound as values so the
//! planner sees how many rows each selects.

use annal_core::{Direction, Filter, RecordedEvent};
use deadpool_postgres::Object;
use tokio_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use crate::read::postings::{PostingsQuery, Wanted};
use crate::retry::ReadFailure;
use crate::row::{EVENT_COLUMNS_OF, EVENT_JOINS, event, to_sql};

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

/// The planner settings of a page's transaction (why: `query_page`).
const PAGE_SETTINGS: &str = "SET LOCAL enable_bitmapscan = off";

/// The next page of the query, and the cursor after it; `None` when it is over.
pub(crate) async fn query_page(
    mut client: Object,
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
    // One snapshot for the lookups and the page. Bitmap scans are off for the page: they
    // read every match of an index range and sort them, never stopping at the limit, and the
    // planner takes one when its statistics lag behind a large load and price a wide window
    // as a handful of rows. Every filter column leads an index that ends in the position, so
    // the remaining plans read in position order and stop at the limit.
    let transaction = super::snapshot(&mut client).await?;
    transaction.batch_execute(PAGE_SETTINGS).await?;
    let Some(lookups) = resolve(&*transaction, filter).await? else {
        // A name no event carries, or a window no event is in: nothing matches.
        return Ok(None);
    };
    let rows = match postings_driver(filter, &lookups) {
        Some((kind, keys)) => {
            postings_page(&transaction, filter, &lookups, (kind, keys), cursor, page).await?
        }
        None => {
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
            let sql = query_sql(filter, &lookups, cursor, page, &mut params);
            transaction.query(sql.as_str(), &refs(&params)).await?
        }
    };
    transaction.commit().await?;
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

/// The bound values as the driver takes them.
fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|param| &**param as &(dyn ToSql + Sync))
        .collect()
}

/// The column of a stream list, which its `(stream, version)` index serves.
const STREAM: &str = "stream_id";

/// The postings a filter's page reads, as (`postings.kind`, dictionary ids), when no stream,
/// correlation or causation (each served by its own index) narrows it more surely: its types,
/// else its aggregate types, else its source.
fn postings_driver(filter: &Filter, lookups: &Lookups) -> Option<(i16, Vec<i64>)> {
    if !filter.aggregate_ids.is_empty()
        || filter.correlation_id.is_some()
        || filter.causation_id.is_some()
    {
        return None;
    }
    let list = |name: &str| {
        lookups
            .lists
            .iter()
            .find(|(column, _)| *column == name)
            .map(|(_, ids)| ids.clone())
    };
    if let Some(ids) = list("type_id") {
        return Some((0, ids));
    }
    if let Some(ids) = list("aggregate_type_id") {
        return Some((1, ids));
    }
    // A source no posted event has can still be in the unposted events.
    filter
        .source
        .as_ref()
        .map(|_| (2, lookups.source.into_iter().collect()))
}

/// One page through the postings (`postings.rs`): the first `page` rows after the cursor,
/// past the filter's offset on the first page.
async fn postings_page(
    client: &deadpool_postgres::Transaction<'_>,
    filter: &Filter,
    lookups: &Lookups,
    (kind, keys): (i16, Vec<i64>),
    cursor: QueryCursor,
    page: u64,
) -> Result<Vec<tokio_postgres::Row>, ReadFailure> {
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut binder = Binder {
        params: &mut params,
    };
    let unbounded = QueryCursor {
        after: None,
        ..cursor
    };
    let mut conditions = conditions(filter, None, unbounded, &mut binder);
    for (column, ids) in &lookups.lists {
        conditions.push(format!("e.{column} = ANY({})", binder.bind(ids.clone())));
    }
    let (mut lo, mut hi) = lookups.positions.unwrap_or((0, i64::MAX));
    match (cursor.after, filter.direction) {
        (Some(after), Direction::Forward) => lo = lo.max(after.saturating_add(1)),
        (Some(after), Direction::Backward) => hi = hi.min(after),
        (None, _) => {}
    }
    let skip = if cursor.after.is_none() {
        filter.offset
    } else {
        0
    };
    let bound = refs(&params);
    let query = PostingsQuery {
        kind,
        keys,
        conditions,
        params: &bound,
        lo,
        hi,
        posted: lookups.posted,
        direction: filter.direction,
    };
    query.rows(client, Wanted::new(skip, page)).await
}

/// A filter's name lists as ids: (column of `events`, ids), for each list the filter has.
type IdLists = Vec<(&'static str, Vec<i64>)>;

/// What a filter's names and time window resolve to before its page is read.
#[derive(Debug, Default)]
struct Lookups {
    /// The id lists of its type, stream and aggregate type names.
    lists: IdLists,
    /// For a time window, the positions `start..end` that hold every event in it.
    positions: Option<(i64, i64)>,
    /// `meta.posted`: the positions below it are in `postings`.
    posted: i64,
    /// The dictionary id of the filter's source, if it has one and it is posted.
    source: Option<i64>,
}

/// Looks up, in one statement, the ids of the filter's type, stream and aggregate type names,
/// and for a time window the range of positions that holds every event in it: the runs of
/// 4,096 positions whose timestamp bounds meet it (`time_chunks`, which covers the events up to
/// the fold's watermark) and the events past the watermark that are in it (`uncounted`, read by
/// position). `None` when nothing can match: a list names nothing stored, or nothing meets the
/// window.
///
/// The range is bound into the page's statement as values rather than computed there: the
/// planner cannot see the result of a subquery, so it priced a window at a fixed fraction of
/// the table and could take, for a wide window, a bitmap read of every event of a type in it
/// followed by a sort, instead of the index read in position order that stops at the limit.
async fn resolve(
    client: &impl GenericClient,
    filter: &Filter,
) -> Result<Option<Lookups>, ReadFailure> {
    let owned = |names: Vec<&str>| names.into_iter().map(str::to_owned).collect::<Vec<_>>();
    let types = owned(filter.event_types.iter().map(|t| t.as_str()).collect());
    let streams = owned(filter.aggregate_ids.iter().map(|s| s.as_str()).collect());
    let aggregates = owned(filter.aggregate_types.iter().map(|a| a.as_str()).collect());
    let window = filter.timestamp_from.is_some() || filter.timestamp_to.is_some();
    let mut lookups = Lookups::default();
    if types.is_empty()
        && streams.is_empty()
        && aggregates.is_empty()
        && !window
        && filter.source.is_none()
    {
        // Nothing to look up: the page reads no postings.
        return Ok(Some(lookups));
    }
    let rows = client
        .query(
            "SELECT 0, id FROM types WHERE name = ANY($1) \
             UNION ALL SELECT 1, id FROM streams WHERE name = ANY($2) \
             UNION ALL SELECT 2, id FROM aggregate_types WHERE name = ANY($3) \
             UNION ALL SELECT 3, coalesce(least(\
                 (SELECT min(chunk) * 4096 FROM time_chunks WHERE $6 \
                  AND ($4::BIGINT IS NULL OR max_ts >= $4) \
                  AND ($5::BIGINT IS NULL OR min_ts < $5)), \
                 (SELECT min(position) FROM uncounted WHERE $6 \
                  AND ($4::BIGINT IS NULL OR timestamp >= $4) \
                  AND ($5::BIGINT IS NULL OR timestamp < $5))), 0) \
             UNION ALL SELECT 4, coalesce(greatest(\
                 (SELECT (max(chunk) + 1) * 4096 FROM time_chunks WHERE $6 \
                  AND ($4::BIGINT IS NULL OR max_ts >= $4) \
                  AND ($5::BIGINT IS NULL OR min_ts < $5)), \
                 (SELECT max(position) + 1 FROM uncounted WHERE $6 \
                  AND ($4::BIGINT IS NULL OR timestamp >= $4) \
                  AND ($5::BIGINT IS NULL OR timestamp < $5))), 0) \
             UNION ALL SELECT 5, value FROM meta WHERE key = 'posted' \
             UNION ALL SELECT 6, id FROM sources WHERE name = $7",
            &[
                &types,
                &streams,
                &aggregates,
                &filter.timestamp_from,
                &filter.timestamp_to,
                &window,
                &filter.source,
            ],
        )
        .await?;
    let of_kind = |kind: i32| {
        rows.iter()
            .filter(move |row| row.get::<_, i32>(0) == kind)
            .map(|row| row.get::<_, i64>(1))
    };
    let columns = ["type_id", "stream_id", "aggregate_type_id"];
    for (kind, (column, names)) in
        (0..).zip(columns.into_iter().zip([&types, &streams, &aggregates]))
    {
        if names.is_empty() {
            continue;
        }
        let ids: Vec<i64> = of_kind(kind).collect();
        if ids.is_empty() {
            return Ok(None);
        }
        lookups.lists.push((column, ids));
    }
    lookups.posted = of_kind(5).next().unwrap_or(0);
    lookups.source = of_kind(6).next();
    if window {
        let start = of_kind(3).next().unwrap_or(0);
        let end = of_kind(4).next().unwrap_or(0);
        if start >= end {
            return Ok(None);
        }
        lookups.positions = Some((start, end));
    }
    Ok(Some(lookups))
}

/// Binds values as `$n` parameters.
struct Binder<'a> {
    params: &'a mut Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Binder<'_> {
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }
}

/// The conditions on columns other than the name lists, and the cursor's.
fn conditions(
    filter: &Filter,
    positions: Option<(i64, i64)>,
    cursor: QueryCursor,
    binder: &mut Binder<'_>,
) -> Vec<String> {
    let mut conditions: Vec<String> = Vec::new();
    if let Some(source) = &filter.source {
        conditions.push(format!("e.source = {}", binder.bind(source.clone())));
    }
    if let Some(correlation_id) = &filter.correlation_id {
        let value = binder.bind(correlation_id.clone());
        conditions.push(format!("e.correlation_id = {value}"));
    }
    if let Some(causation_id) = &filter.causation_id {
        let value = binder.bind(causation_id.clone());
        conditions.push(format!("e.causation_id = {value}"));
    }
    // The timestamp test itself; the window is read as a range of positions (below).
    if let Some(from) = filter.timestamp_from {
        conditions.push(format!("e.timestamp >= {}", binder.bind(from)));
    }
    if let Some(to) = filter.timestamp_to {
        conditions.push(format!("e.timestamp < {}", binder.bind(to)));
    }
    if let Some((start, end)) = positions {
        conditions.push(format!(
            "e.position >= {} AND e.position < {}",
            binder.bind(start),
            binder.bind(end)
        ));
    }
    if let Some(after) = cursor.after {
        let comparison = match filter.direction {
            Direction::Forward => ">",
            Direction::Backward => "<",
        };
        conditions.push(format!("e.position {comparison} {}", binder.bind(after)));
    }
    conditions
}

/// The SQL of one page, binding its values into `params`. The first id list drives: one
/// subquery per id, each an index range read in position order and cut at the page plus the
/// offset, merged by `UNION ALL`; the other lists are filters. Every id is a bound value, so
/// the planner sees how rare it is.
fn query_sql(
    filter: &Filter,
    lookups: &Lookups,
    cursor: QueryCursor,
    page: u64,
    params: &mut Vec<Box<dyn ToSql + Sync + Send>>,
) -> String {
    let mut binder = Binder { params };
    let mut conditions = conditions(filter, lookups.positions, cursor, &mut binder);
    let order = match filter.direction {
        Direction::Forward => "ASC",
        Direction::Backward => "DESC",
    };
    let offset = if cursor.after.is_none() {
        to_sql(filter.offset)
    } else {
        0
    };
    let enough = binder.bind(to_sql(page).saturating_add(offset));
    let limit = binder.bind(to_sql(page));
    let offset = binder.bind(offset);
    // A stream list drives through `events_stream`; the other lists are filters here, since a
    // filter with no stream, correlation or causation reads the postings instead.
    let driving = lookups.lists.iter().find(|(column, _)| *column == STREAM);
    for (column, ids) in lookups.lists.iter().filter(|(column, _)| *column != STREAM) {
        conditions.push(format!("e.{column} = ANY({})", binder.bind(ids.clone())));
    }
    let scan = |extra: Option<String>| {
        let all: Vec<&str> = conditions
            .iter()
            .map(String::as_str)
            .chain(extra.as_deref())
            .collect();
        let mut sql = "SELECT * FROM events e".to_owned();
        if !all.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&all.join(" AND "));
        }
        format!("({sql} ORDER BY e.position {order} LIMIT {enough})")
    };
    let inner = match driving {
        None => scan(None),
        Some((column, ids)) => {
            let scans: Vec<String> = ids
                .iter()
                .map(|id| {
                    let value = binder.bind(*id);
                    scan(Some(format!("e.{column} = {value}")))
                })
                .collect();
            scans.join(" UNION ALL ")
        }
    };
    format!(
        "SELECT {EVENT_COLUMNS_OF}({inner}) e{EVENT_JOINS} \
         ORDER BY e.position {order} LIMIT {limit} OFFSET {offset}"
    )
}

#[cfg(test)]
mod tests {
    //! Every filter this statement answers is answered from an index: with sequential scans
    //! priced out, the plan of each query shape reads `events` through an index that serves
    //! the filter, never by a sequential scan or a walk of the whole primary key (a time
    //! window reads the primary key only over the positions its `time_chunks` bound).

    #![allow(clippy::unwrap_used)]

    use annal_core::{
        AggregateType, EventType, ExpectedVersion, Filter, NewEvent, Store, StreamId,
    };
    use serde_json::json;
    use tokio_postgres::types::ToSql;

    use super::{PAGE_SETTINGS, QueryCursor, query_sql, resolve};
    use crate::PostgresStore;

    /// Each query shape this statement answers (those with no stream, correlation or causation
    /// read the postings: `postings.rs`), and the indexes that serve it.
    fn filters() -> Vec<(&'static str, Filter, &'static [&'static str])> {
        let kind = |name: &str| EventType::new(name).unwrap();
        let mut by_stream = Filter::all();
        by_stream.aggregate_ids = vec![StreamId::new("s-3").unwrap()];
        let mut stream_and_type = by_stream.clone();
        stream_and_type.event_types = vec![kind("task:done"), kind("agent:step")];
        let mut by_correlation = Filter::all();
        by_correlation.correlation_id = Some("c-5".into());
        let mut correlation_and_source = by_correlation.clone();
        correlation_and_source.source = Some("planner".into());
        let mut by_causation = Filter::all();
        by_causation.causation_id = Some("cause-7".into());
        let mut window = Filter::all();
        window.timestamp_from = Some(10);
        window.timestamp_to = Some(20);
        vec![
            ("stream", by_stream, &["events_stream"]),
            ("stream and types", stream_and_type, &["events_stream"]),
            ("correlation", by_correlation, &["events_correlation"]),
            (
                "correlation and source",
                correlation_and_source,
                &["events_correlation"],
            ),
            ("causation", by_causation, &["events_causation"]),
            // A window is a range of positions (time_chunks): the primary key read over that
            // range is bounded.
            ("time window", window, &["events_pkey"]),
        ]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_indexed_filter_reads_events_through_an_index() {
        let url = annal_testkit::pg_cluster::cluster().fresh_database().await;
        let store = PostgresStore::connect(&url).await.unwrap();
        // Every value a filter asks for is rare (1-5 % of the events), as in a large store,
        // so that reading the whole log in position order is never the cheaper plan.
        for n in 0..20i64 {
            let batch = (0..100i64)
                .map(|i| {
                    let at = n * 100 + i;
                    let kind = match at % 50 {
                        0 => "task:done",
                        x if x % 2 == 0 => "agent:step",
                        _ => "task:created",
                    };
                    let aggregate = if at % 40 == 0 { "task" } else { "agent" };
                    NewEvent::new(EventType::new(kind).unwrap(), json!({}))
                        .with_aggregate_type(AggregateType::new(aggregate).unwrap())
                        .with_source(if at % 50 == 1 { "planner" } else { "worker" })
                        .with_correlation_id(format!("c-{}", at % 200))
                        .with_causation_id(format!("cause-{}", at % 300))
                        .with_timestamp(at)
                })
                .collect();
            let stream = StreamId::new(format!("s-{n}")).unwrap();
            store
                .append(&stream, ExpectedVersion::Any, batch)
                .await
                .unwrap();
        }
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        // The page's own settings, in a transaction as the page runs them.
        client
            .batch_execute(&format!(
                "ANALYZE; BEGIN; {PAGE_SETTINGS}; SET LOCAL enable_seqscan = off"
            ))
            .await
            .unwrap();
        let first_page = QueryCursor {
            after: None,
            remaining: None,
            done: false,
        };
        for (name, filter, indexes) in filters() {
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
            let lookups = resolve(&client, &filter).await.unwrap().unwrap();
            let sql = query_sql(&filter, &lookups, first_page, 100, &mut params);
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|param| &**param as &(dyn ToSql + Sync))
                .collect();
            let explain = format!("EXPLAIN {sql}");
            let lines: Vec<String> = client
                .query(explain.as_str(), &refs)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            let plan = lines.join("\n");
            // "on events e" names the table itself, not events_view or an index name.
            assert!(
                plan.contains(" on events e"),
                "{name}: no scan of events in\n{plan}"
            );
            // Neither a sequential scan nor a walk of the whole primary key.
            assert!(!plan.contains("Seq Scan on events "), "{name}:\n{plan}");
            if !indexes.contains(&"events_pkey") {
                assert!(!plan.contains("events_pkey on events "), "{name}:\n{plan}");
            }
            let reads = |index: &&str| {
                plan.contains(&format!("using {index} on events "))
                    || plan.contains(&format!("Bitmap Index Scan on {index}  "))
            };
            assert!(
                indexes.iter().any(reads),
                "{name}: none of {indexes:?} in\n{plan}"
            );
        }
    }
}
