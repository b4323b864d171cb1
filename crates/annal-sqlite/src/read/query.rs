//! Filter queries: a [`Filter`] becomes one parameterised `SELECT` per page.
//!
//! Names in the filter are matched through the dictionary tables, so the event rows are
//! compared as integers. Results are ordered by position; a page resumes after the last
//! position returned, and the filter's `offset` is applied once, on the first page. A query
//! that scans the log forward without counting is read in ranges of positions instead, several
//! at once ([`scan_condition`]).

use annal_core::{Direction, Filter, ReadError, RecordedEvent};
use rusqlite::Connection;
use rusqlite::types::Value;

use super::Names;
use crate::row::{EVENT_COLUMNS, EVENT_FROM, decode, read_failed, to_sql};

/// Where a query resumes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueryCursor {
    /// The last position returned; `None` before the first page.
    pub(crate) after: Option<u64>,
    /// Matching events still to return, when the filter has a limit.
    pub(crate) remaining: Option<u64>,
}

/// The filter's conditions on `events e` as SQL clauses, with their parameters in order.
pub(super) fn conditions(filter: &Filter) -> (Vec<String>, Vec<Value>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut name_clause = |clause: &str, list: Vec<String>, values: &mut Vec<Value>| {
        if list.is_empty() {
            return;
        }
        let marks = vec!["?"; list.len()].join(", ");
        clauses.push(clause.replace("{}", &marks));
        values.extend(list.into_iter().map(Value::Text));
    };
    name_clause(
        "e.type_id IN (SELECT id FROM types WHERE name IN ({}))",
        filter.event_types.iter().map(|t| t.to_string()).collect(),
        &mut values,
    );
    name_clause(
        "e.stream_id IN (SELECT id FROM streams WHERE name IN ({}))",
        filter.aggregate_ids.iter().map(|s| s.to_string()).collect(),
        &mut values,
    );
    name_clause(
        "e.aggregate_type_id IN (SELECT id FROM aggregate_types WHERE name IN ({}))",
        filter
            .aggregate_types
            .iter()
            .map(|a| a.to_string())
            .collect(),
        &mut values,
    );
    let mut equal = |clause: &str, value: Option<Value>| {
        if let Some(value) = value {
            clauses.push(clause.to_owned());
            values.push(value);
        }
    };
    equal("e.source = ?", filter.source.clone().map(Value::Text));
    equal(
        "e.correlation_id = ?",
        filter.correlation_id.clone().map(Value::Text),
    );
    equal(
        "e.causation_id = ?",
        filter.causation_id.clone().map(Value::Text),
    );
    equal(
        "e.timestamp >= ?",
        filter.timestamp_from.map(Value::Integer),
    );
    equal("e.timestamp < ?", filter.timestamp_to.map(Value::Integer));
    (clauses, values)
}

/// `clauses` joined by AND; true when there are none.
pub(super) fn all_of(clauses: &[String]) -> String {
    if clauses.is_empty() {
        "1".to_owned()
    } else {
        clauses.join(" AND ")
    }
}

/// The condition of a query that scans the log in position order anyway, as one SQL expression
/// and its parameters, for a read in ranges ([`super::read_ranges`]); `None` for a query that an
/// index serves better (by stream, correlation or causation), that runs backward, or that counts
/// (a limit or an offset), whose pages must come in turn.
pub(crate) fn scan_condition(filter: &Filter) -> Option<(String, Vec<Value>)> {
    let indexed = !filter.aggregate_ids.is_empty()
        || filter.correlation_id.is_some()
        || filter.causation_id.is_some();
    let counted = filter.limit.is_some() || filter.offset > 0;
    if indexed || counted || filter.direction != Direction::Forward {
        return None;
    }
    let (clauses, values) = conditions(filter);
    Some((all_of(&clauses), values))
}

/// The next page of `filter`'s results and the cursor after it; `None` when the query is done.
pub(crate) fn query_page(
    connection: &Connection,
    names: &mut Names,
    filter: &Filter,
    cursor: QueryCursor,
    page: usize,
) -> Result<Option<(Vec<RecordedEvent>, QueryCursor)>, ReadError> {
    let mut page_len = page as u64;
    if let Some(remaining) = cursor.remaining {
        if remaining == 0 {
            return Ok(None);
        }
        page_len = page_len.min(remaining);
    }
    let (mut clauses, mut values) = conditions(filter);
    let mut equal = |clause: &str, value: Option<Value>| {
        if let Some(value) = value {
            clauses.push(clause.to_owned());
            values.push(value);
        }
    };
    let order = match filter.direction {
        Direction::Forward => {
            equal(
                "e.position > ?",
                cursor.after.map(|after| Value::Integer(to_sql(after))),
            );
            "ASC"
        }
        Direction::Backward => {
            equal(
                "e.position < ?",
                cursor.after.map(|after| Value::Integer(to_sql(after))),
            );
            "DESC"
        }
    };
    let offset = if cursor.after.is_none() {
        filter.offset
    } else {
        0
    };
    let condition = all_of(&clauses);
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM {EVENT_FROM} WHERE {condition} \
         ORDER BY e.position {order} LIMIT {} OFFSET {}",
        to_sql(page_len),
        to_sql(offset)
    );
    let failed = |source| read_failed("a query", source);
    let mut statement = connection.prepare_cached(&sql).map_err(failed)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(values))
        .map_err(failed)?;
    let mut events = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        events.push(decode(row, connection, names)?);
    }
    let Some(last) = events.last() else {
        return Ok(None);
    };
    let next = QueryCursor {
        after: Some(last.position.0),
        remaining: cursor
            .remaining
            .map(|remaining| remaining - events.len() as u64),
    };
    Ok(Some((events, next)))
}
