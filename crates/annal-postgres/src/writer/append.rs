//! One group of appends as one transaction: lock the streams, look up the ids, lock the head,
//! decide every request in memory, insert, commit.
//!
//! Invariants: the head row (`meta.head`) is locked after everything that can wait on another
//! writer except the writes themselves, and held until `COMMIT`, so positions are assigned in
//! commit order across every process (`docs/postgres-ordering.md`). Locks are always taken in
//! the same order (stream rows by id, then the head row), so writers cannot deadlock. A refused
//! request writes no row, so its neighbours in the group are unaffected.

use std::collections::HashMap;

use annal_core::{
    AppendError, AppendResult, Position, RetryCheck, StorageError, StoredEventRef, StreamId,
    Version, check_retry,
};
use deadpool_postgres::Object;
use futures::future::join4;

use crate::row::to_sql;
use crate::schema::CHANNEL;
use crate::writer::command::AppendRequest;
use crate::writer::corrupt::counter;
use crate::writer::dictionary::Dictionary;
use crate::writer::failure::GroupFailure;

/// The writer's name caches.
#[derive(Debug)]
pub(crate) struct Dictionaries {
    pub(crate) streams: Dictionary,
    pub(crate) types: Dictionary,
    pub(crate) aggregate_types: Dictionary,
}

impl Default for Dictionaries {
    fn default() -> Self {
        Self {
            streams: Dictionary::new("streams"),
            types: Dictionary::new("types"),
            aggregate_types: Dictionary::new("aggregate_types"),
        }
    }
}

/// The columns of the rows a group inserts, one vector per column (bound as arrays).
#[derive(Default)]
struct Rows<'a> {
    position: Vec<i64>,
    stream_id: Vec<i64>,
    version: Vec<i64>,
    type_id: Vec<i64>,
    aggregate_type_id: Vec<i64>,
    timestamp: Vec<i64>,
    id: Vec<&'a str>,
    source: Vec<&'a str>,
    payload: Vec<&'a str>,
    metadata: Vec<&'a str>,
    causation_id: Vec<Option<&'a str>>,
    correlation_id: Vec<Option<&'a str>>,
}

/// What a committed group did: each request's answer, and the new head if it moved.
pub(crate) struct GroupOutcome {
    pub(crate) answers: Vec<Result<AppendResult, AppendError>>,
    pub(crate) head: Option<Position>,
}

const INSERT: &str = "INSERT INTO events (position, stream_id, version, type_id, \
     aggregate_type_id, timestamp, id, source, payload, metadata, causation_id, correlation_id) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
     $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
     $12::text[])";

/// Runs `requests` as one transaction on `client`. `Err` means nothing was committed, unless
/// it says the outcome is unknown.
pub(crate) async fn append_group(
    client: &Object,
    dictionaries: &mut Dictionaries,
    requests: &[AppendRequest],
) -> Result<GroupOutcome, GroupFailure> {
    let before = GroupFailure::before_commit;
    dictionaries
        .streams
        .ensure(client, requests.iter().map(|r| r.stream.as_str()))
        .await
        .map_err(before)?;
    let events = || requests.iter().flat_map(|r| r.batch.iter());
    dictionaries
        .types
        .ensure(client, events().map(|e| e.event_type.as_str()))
        .await
        .map_err(before)?;
    dictionaries
        .aggregate_types
        .ensure(client, events().map(|e| e.aggregate_type.as_str()))
        .await
        .map_err(before)?;
    let stream_id = |stream: &StreamId| {
        dictionaries
            .streams
            .get(stream.as_str())
            .ok_or_else(|| GroupFailure::missing_name(stream.as_str()))
    };
    let mut stream_ids: Vec<i64> = requests
        .iter()
        .map(|r| stream_id(&r.stream))
        .collect::<Result<_, _>>()?;
    stream_ids.sort_unstable();
    stream_ids.dedup();
    // Every name was just ensured, so a miss here is a bug in the cache, reported rather than
    // written: a row with an unknown type id would vanish from every read (they join on it).
    let name_ids: Vec<Vec<(i64, i64)>> = requests
        .iter()
        .map(|request| {
            request
                .batch
                .iter()
                .map(|event| {
                    let type_id = dictionaries.types.get(event.event_type.as_str());
                    let aggregate_type = event.aggregate_type.as_str();
                    let aggregate_type_id = dictionaries.aggregate_types.get(aggregate_type);
                    match (type_id, aggregate_type_id) {
                        (Some(t), Some(a)) => Ok((t, a)),
                        _ => Err(GroupFailure::missing_name(event.event_type.as_str())),
                    }
                })
                .collect()
        })
        .collect::<Result<_, _>>()?;

    // The statements are prepared (cached per connection) before the transaction, so that
    // BEGIN and the three locking reads below go out together as one round trip. The server
    // still runs them one after another, in this order, each with its own snapshot.
    let lock_streams = client
        .prepare_cached("SELECT id, version FROM streams WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .await
        .map_err(before)?;
    let find_ids = client
        .prepare_cached(
            "SELECT e.id, s.name, e.version, e.position FROM events e \
             JOIN streams s ON s.id = e.stream_id WHERE e.id = ANY($1)",
        )
        .await
        .map_err(before)?;
    let lock_head = client
        .prepare_cached("SELECT value FROM meta WHERE key = 'head' FOR UPDATE")
        .await
        .map_err(before)?;
    let ids: Vec<&str> = events().map(|e| e.id.as_str()).collect();
    let (begun, stream_rows, id_rows, head_row) = join4(
        // Durable on acknowledgment whatever the server's default. The idle timeout bounds
        // how long a writer that stalls mid-transaction (stopped, partitioned) can hold the
        // head lock every writer needs: the server then ends it, and nothing of it commits.
        client.batch_execute(
            "BEGIN; SET LOCAL synchronous_commit = on; \
             SET LOCAL idle_in_transaction_session_timeout = '10s'",
        ),
        // Stream rows first, in id order: this serialises writers of the same stream across
        // processes, and after the wait each row holds the latest committed version.
        client.query(&lock_streams, &[&stream_ids]),
        // Ids, after the stream locks: a retry of a batch committed by another process while
        // we waited for its stream is visible to this statement's fresh snapshot.
        client.query(&find_ids, &[&ids]),
        // The global lock, as late as possible: only the decisions (in memory), the writes
        // and the commit happen while it is held.
        client.query_one(&lock_head, &[]),
    )
    .await;
    begun.map_err(before)?;
    let (stream_rows, id_rows, head_row) = (
        stream_rows.map_err(before)?,
        id_rows.map_err(before)?,
        head_row.map_err(before)?,
    );
    let corrupted = GroupFailure::corrupted;
    let mut versions: HashMap<i64, u64> = HashMap::new();
    for row in stream_rows {
        let id: i64 = row.get(0);
        let version = counter(row.get(1), || format!("streams row {id} (version)"));
        versions.insert(id, version.map_err(corrupted)?);
    }
    let mut stored: HashMap<String, StoredEventRef> = HashMap::new();
    for row in id_rows {
        let id: String = row.get(0);
        let location = || format!("events row of id {id:?}");
        // A stored row that does not decode must not pass for "not stored": that would write
        // the id a second time.
        let name: String = row.get(1);
        let stream = StreamId::new(&name).map_err(|error| {
            corrupted(StorageError::Corrupted {
                location: location(),
                reason: format!("stream name {name:?}: {error}"),
            })
        })?;
        let version = counter(row.get(2), || location() + " (version)").map_err(corrupted)?;
        let position = counter(row.get(3), || location() + " (position)").map_err(corrupted)?;
        stored.insert(
            id,
            StoredEventRef {
                stream,
                version: Version(version),
                position: Position(position),
            },
        );
    }
    let base = counter(head_row.get(0), || "meta row head".into()).map_err(corrupted)?;

    let mut last = base;
    let mut rows = Rows::default();
    let mut touched: HashMap<i64, u64> = HashMap::new();
    let mut answers = Vec::with_capacity(requests.len());
    for (request, name_ids) in requests.iter().zip(&name_ids) {
        let id = stream_id(&request.stream)?;
        let current = versions.get(&id).copied().unwrap_or(0);
        let answer = decide(request, id, name_ids, current, last, &stored, &mut rows);
        if let Ok(result) = &answer
            && result.last_position.0 > last
        {
            last = result.last_position.0;
            versions.insert(id, result.stream_version.0);
            touched.insert(id, result.stream_version.0);
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
        answers.push(answer);
    }
    if last == base {
        // Nothing to write (every request refused or a retry): end without a commit.
        client.batch_execute("ROLLBACK").await.map_err(before)?;
        return Ok(GroupOutcome {
            answers,
            head: None,
        });
    }
    let insert = client.prepare_cached(INSERT).await.map_err(before)?;
    let set_versions = client
        .prepare_cached(
            "UPDATE streams SET version = v.version, deleted = false \
             FROM unnest($1::bigint[], $2::bigint[]) AS v(id, version) WHERE streams.id = v.id",
        )
        .await
        .map_err(before)?;
    let set_head = client
        .prepare_cached("UPDATE meta SET value = $1 WHERE key = 'head'")
        .await
        .map_err(before)?;
    let notify = client
        .prepare_cached("SELECT pg_notify($1, $2)")
        .await
        .map_err(before)?;
    let (touched_ids, touched_versions): (Vec<i64>, Vec<i64>) = touched
        .into_iter()
        .map(|(id, version)| (id, to_sql(version)))
        .unzip();
    let head = to_sql(last);
    let head_text = last.to_string();
    // Pipelined: the four statements go out together and cost one round trip.
    let (inserted, versions_set, head_set, notified) = join4(
        client.execute(
            &insert,
            &[
                &rows.position,
                &rows.stream_id,
                &rows.version,
                &rows.type_id,
                &rows.aggregate_type_id,
                &rows.timestamp,
                &rows.id,
                &rows.source,
                &rows.payload,
                &rows.metadata,
                &rows.causation_id,
                &rows.correlation_id,
            ],
        ),
        client.execute(&set_versions, &[&touched_ids, &touched_versions]),
        client.execute(&set_head, &[&head]),
        client.execute(&notify, &[&CHANNEL, &head_text]),
    )
    .await;
    inserted
        .and(versions_set)
        .and(head_set)
        .and(notified)
        .map_err(before)?;
    client
        .batch_execute("COMMIT")
        .await
        .map_err(GroupFailure::at_commit)?;
    Ok(GroupOutcome {
        answers,
        head: Some(Position(last)),
    })
}

/// Decides one request against the stream's `current` version and the stored ids; on
/// success, adds its rows after position `last`.
fn decide<'a>(
    request: &'a AppendRequest,
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
    // Counters are BIGINT, so a stream stops at i64::MAX, and so do positions.
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
