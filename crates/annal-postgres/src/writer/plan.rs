//! Deciding a group of appends in memory: which requests write, at which versions, and which
//! rows they add.
//!
//! Invariant: the decisions follow the reference rules in queue order (`check_retry`, then the
//! expected version, then overflow), against the stream versions and stored ids the caller
//! supplies; a refused request adds no row. Positions are provisional: they continue after a
//! guess of the head (`assumed_head`), and the write statement shifts them onto the head it
//! finds under the head lock (`docs/postgres-ordering.md`), so a plan never needs that lock.

use std::collections::HashMap;

use annal_core::{
    AppendError, AppendResult, Position, RetryCheck, StorageError, StoredEventRef, Version,
    check_retry,
};

use crate::row::to_sql;
use annal_core::backend::Append;

/// The columns of the rows a group inserts, one vector per column (bound as arrays).
#[derive(Default)]
pub(crate) struct Rows<'a> {
    pub(crate) position: Vec<i64>,
    pub(crate) stream_id: Vec<i64>,
    pub(crate) version: Vec<i64>,
    pub(crate) type_id: Vec<i64>,
    pub(crate) aggregate_type_id: Vec<i64>,
    pub(crate) timestamp: Vec<i64>,
    pub(crate) id: Vec<&'a str>,
    pub(crate) source: Vec<&'a str>,
    pub(crate) payload: Vec<&'a str>,
    pub(crate) metadata: Vec<&'a str>,
    pub(crate) causation_id: Vec<Option<&'a str>>,
    pub(crate) correlation_id: Vec<Option<&'a str>>,
}

/// A decided group: the rows to insert, the streams' new versions, each request's answer.
pub(crate) struct Plan<'a> {
    pub(crate) rows: Rows<'a>,
    /// The head the provisional positions continue after.
    pub(crate) assumed_head: u64,
    /// Events the group writes.
    pub(crate) written: u64,
    /// Stream id → version after the group, for the streams it writes.
    pub(crate) touched: HashMap<i64, u64>,
    /// One answer per request; positions above `assumed_head` are provisional.
    pub(crate) answers: Vec<Result<AppendResult, AppendError>>,
    /// Whether every request writes (no refusal, no retry).
    pub(crate) all_write: bool,
}

impl Plan<'_> {
    /// The answers with provisional positions moved onto the head found at write time
    /// (`base`): a position above the assumed head is one of this group's.
    pub(crate) fn answers_after(self, base: u64) -> Vec<Result<AppendResult, AppendError>> {
        let assumed = self.assumed_head;
        let shift = |position: Position| {
            if position.0 > assumed {
                Position(position.0 - assumed + base)
            } else {
                position
            }
        };
        self.answers
            .into_iter()
            .map(|answer| {
                answer.map(|result| AppendResult {
                    first_position: shift(result.first_position),
                    last_position: shift(result.last_position),
                    stream_version: result.stream_version,
                })
            })
            .collect()
    }
}

/// Decides `requests` in order. `stream_ids[i]` and `name_ids[i]` are request i's ids;
/// `versions` the streams' current versions; `stored` the group's ids already in the store;
/// `assumed_head` a head no lower than any stored position.
pub(crate) fn plan<'a>(
    requests: &'a [Append],
    stream_ids: &[i64],
    name_ids: &[Vec<(i64, i64)>],
    mut versions: HashMap<i64, u64>,
    mut stored: HashMap<String, StoredEventRef>,
    assumed_head: u64,
) -> Plan<'a> {
    let mut last = assumed_head;
    let mut plan = Plan {
        rows: Rows::default(),
        assumed_head,
        written: 0,
        touched: HashMap::new(),
        answers: Vec::with_capacity(requests.len()),
        all_write: true,
    };
    for ((request, &id), name_ids) in requests.iter().zip(stream_ids).zip(name_ids) {
        let current = versions.get(&id).copied().unwrap_or(0);
        let answer = decide(
            request,
            id,
            name_ids,
            current,
            last,
            &stored,
            &mut plan.rows,
        );
        match &answer {
            Ok(result) if result.last_position.0 > last => {
                last = result.last_position.0;
                versions.insert(id, result.stream_version.0);
                plan.touched.insert(id, result.stream_version.0);
                for (offset, event) in request.batch.iter().enumerate() {
                    stored.insert(
                        event.id.as_str().to_owned(),
                        StoredEventRef {
                            stream: request.stream.clone(),
                            version: Version(current + 1 + offset as u64),
                            position: Position(result.first_position.0 + offset as u64),
                        },
                    );
                }
            }
            _ => plan.all_write = false,
        }
        plan.answers.push(answer);
    }
    plan.written = last - assumed_head;
    plan
}

/// Decides one request against the stream's `current` version and the stored ids; on
/// success, adds its rows after position `last`.
fn decide<'a>(
    request: &'a Append,
    stream_id: i64,
    name_ids: &[(i64, i64)],
    current: u64,
    last: u64,
    stored: &HashMap<String, StoredEventRef>,
    rows: &mut Rows<'a>,
) -> Result<AppendResult, AppendError> {
    let stream = &request.stream;
    let expected = request.expected;
    // The same order as the reference backend: a retry of a stored batch wins over the
    // expected-version check, which wins over everything else.
    let verdict = check_retry(stream, expected, Version(current), &request.batch, |id| {
        stored.get(id.as_str()).cloned()
    })?;
    if let RetryCheck::AlreadyAppended(result) = verdict {
        return Ok(result);
    }
    if !expected.accepts(Version(current)) {
        return Err(AppendError::WrongExpectedVersion {
            stream: stream.clone(),
            expected,
            actual: Version(current),
        });
    }
    let n_events = request.batch.len() as u64;
    // Counters are BIGINT, so a stream stops at i64::MAX, and so do positions (the write
    // statement also fails rather than wrap if the real head is higher than `last`).
    let overflows = |counter: u64| {
        counter
            .checked_add(n_events)
            .is_none_or(|last| last > i64::MAX as u64)
    };
    if overflows(current) {
        return Err(AppendError::VersionOverflow {
            stream: stream.clone(),
        });
    }
    if overflows(last) {
        return Err(AppendError::Storage(StorageError::backend(
            "the store has no position left for this batch",
            format!(
                "its last position is {last}, and positions stop at {}",
                i64::MAX
            ),
        )));
    }
    for (offset, (event, (type_id, aggregate_type_id))) in
        request.batch.iter().zip(name_ids).enumerate()
    {
        let offset = offset as u64;
        rows.position.push(to_sql(last + 1 + offset));
        rows.stream_id.push(stream_id);
        rows.version.push(to_sql(current + 1 + offset));
        rows.type_id.push(*type_id);
        rows.aggregate_type_id.push(*aggregate_type_id);
        rows.timestamp.push(event.timestamp);
        rows.id.push(event.id.as_str());
        rows.source.push(&event.source);
        rows.payload.push(&event.payload_json);
        rows.metadata.push(&event.metadata_json);
        rows.causation_id.push(event.causation_id.as_deref());
        rows.correlation_id.push(event.correlation_id.as_deref());
    }
    Ok(AppendResult {
        first_position: Position(last + 1),
        last_position: Position(last + n_events),
        stream_version: Version(current + n_events),
    })
}
