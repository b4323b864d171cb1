//! One group of appends as one transaction: lock the streams, decide every request in memory,
//! then take the head lock, insert and commit in one statement and one round trip.
//!
//! Invariants: the head row (`meta.head`) is locked by the write statement itself, after
//! everything that can wait on another writer, and held until `COMMIT`, so positions are
//! assigned in commit order across every process (`docs/postgres-ordering.md`). Locks are
//! always taken in the same order (stream rows by id, then the head row), so writers cannot
//! deadlock. A refused request writes no row, so its neighbours in the group are unaffected.
//! The write statement checks, under the stream locks, that the streams are at the versions
//! the plan assumed, and writes nothing otherwise: a plan made from this writer's cache of
//! versions (the fast path, one round trip) can be stale, never wrong.

use std::collections::HashMap;

use annal_core::decide::StoredEventRef;
use annal_core::{Position, StorageError, StreamId, Version};
use deadpool_postgres::Object;
use futures::future::{join, join4};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use crate::row::to_sql;
use crate::schema::CHANNEL;
use crate::writer::corrupt::counter;
use crate::writer::failure::GroupFailure;
use crate::writer::names::{Dictionaries, GroupNames, resolve};
use crate::writer::plan::{Plan, Rows, plan};
use crate::writer::versions::VersionCache;
use annal_core::backend::Append;

/// What a committed group did: each request's answer, and the new head if it moved.
pub(crate) struct GroupOutcome {
    pub(crate) answers: Vec<Result<annal_core::AppendResult, annal_core::AppendError>>,
    pub(crate) head: Option<Position>,
}

/// Every connection runs with `synchronous_commit = on` and a 10 s
/// `idle_in_transaction_session_timeout`, set when it connects (`store.rs`).
const BEGIN: &str = "BEGIN";

/// Stream rows first, in id order: this serialises writers of the same stream across
/// processes, and after the wait each row holds the latest committed version.
const LOCK_STREAMS: &str =
    "SELECT id, version FROM streams WHERE id = ANY($1) ORDER BY id FOR UPDATE";

/// Ids, after the stream locks: a retry of a batch committed by another process while we
/// waited for its stream is visible to this statement's fresh read snapshot.
const FIND_IDS: &str = "SELECT e.id, s.name, e.version, e.position FROM events e \
     JOIN streams s ON s.id = e.stream_id WHERE e.id = ANY($1)";

/// The head as committed; no lock. Only a lower bound for the plan's provisional positions.
const READ_HEAD: &str = "SELECT value FROM meta WHERE key = 'head'";

/// The part both write statements share: insert the group's rows ($1 to $12, one array per
/// column) with their provisional positions (after the assumed head, $16) moved onto the head
/// the statement's `h` found.
macro_rules! insert_rows {
    () => {
        "inserted AS (INSERT INTO events (position, stream_id, version, type_id, \
           aggregate_type_id, timestamp, id, source, payload, metadata, causation_id, \
           correlation_id) \
           SELECT h.base + (u.position - $16), u.stream_id, u.version, u.type_id, \
                  u.aggregate_type_id, u.timestamp, u.id, u.source, u.payload, u.metadata, \
                  u.causation_id, u.correlation_id \
           FROM h, unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
                $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], \
                $11::text[], $12::text[]) AS u(position, stream_id, version, type_id, \
                aggregate_type_id, timestamp, id, source, payload, metadata, causation_id, \
                correlation_id))"
    };
}

/// The whole write in one statement: lock the group's streams ($14) in id order (the row lock
/// waits for any other writer of them and then reads their latest committed versions); if they are
/// at the versions the plan assumed ($15), take the head lock by moving the head by the group's
/// size ($13), insert the rows with their provisional positions ($1, after $16) moved onto the
/// head found, set the streams' versions, and notify. Returns the head before the group (null
/// when the versions differ or the head is damaged: nothing written, and the full path reports
/// the damage) and the locked streams' ids and versions. Sent alone it is its own transaction, so
/// the fast path is one statement, like a plain `INSERT`. The statistics and time bounds are
/// folded in behind the commit (`fold.rs`).
const WRITE: &str = concat!(
    "WITH locked AS (\
       SELECT id, version FROM streams WHERE id = ANY($14) ORDER BY id FOR UPDATE), \
     h AS (\
       UPDATE meta SET value = value + $13 WHERE key = 'head' AND value >= 0 \
       AND (SELECT coalesce(array_agg(version ORDER BY id), '{}') FROM locked) = $15::bigint[] \
       RETURNING value - $13 AS base), ",
    insert_rows!(),
    ", \
     versions AS (UPDATE streams SET version = v.version, deleted = false \
       FROM h, unnest($17::bigint[], $18::bigint[]) AS v(id, version) \
       WHERE streams.id = v.id) \
     SELECT h.base, l.ids, l.versions, \
       CASE WHEN h.base IS NOT NULL THEN pg_notify($19, (h.base + $13)::text) END \
     FROM (SELECT array_agg(id ORDER BY id) AS ids, array_agg(version ORDER BY id) AS versions \
           FROM locked) l LEFT JOIN h ON true"
);

/// [`WRITE`] for a group whose requests all name one stream ($14), the common case (one
/// appender, or a batch): the stream's row is locked, checked and moved to its new version ($17)
/// by one `UPDATE … WHERE version = $15`, which waits for any other writer of the stream and
/// then re-checks the version on the row it committed. The head moves only if that `UPDATE`
/// found the row at the version the plan assumed; otherwise nothing is written and the returned
/// head is null. One row lock and one row version fewer than `WRITE`'s lock-then-update, the
/// same lock order (the stream, then the head).
const WRITE_ONE_STREAM: &str = concat!(
    "WITH stream AS (\
       UPDATE streams SET version = $17, deleted = false WHERE id = $14 AND version = $15 \
       RETURNING id), \
     h AS (\
       UPDATE meta SET value = value + $13 WHERE key = 'head' AND value >= 0 \
       AND EXISTS (SELECT FROM stream) RETURNING value - $13 AS base), ",
    insert_rows!(),
    " SELECT h.base, \
       CASE WHEN h.base IS NOT NULL THEN pg_notify($18, (h.base + $13)::text) END \
     FROM (SELECT) one LEFT JOIN h ON true"
);

/// Runs `requests` as one transaction on `client`. `Err` means nothing was committed, unless
/// it says the outcome is unknown. `published` is the highest head this process has seen.
pub(crate) async fn append_group(
    client: &Object,
    dictionaries: &mut Dictionaries,
    cache: &mut VersionCache,
    published: u64,
    requests: &[Append],
) -> Result<GroupOutcome, GroupFailure> {
    let names = resolve(client, dictionaries, requests).await?;
    if let Some(predicted) = cache.predict(&names.streams) {
        let decided = plan(
            requests,
            &names.per_request,
            &names.name_ids,
            predicted.clone(),
            HashMap::new(),
            published,
        );
        if decided.all_write {
            match fast(client, &names.streams, &predicted, decided).await? {
                Fast::Committed(outcome, touched) => {
                    cache.remember(touched);
                    return Ok(outcome);
                }
                Fast::Stale(actual) => cache.remember(actual),
                Fast::Conflict => {}
            }
        }
    }
    slow(client, requests, &names, cache).await
}

/// How the one-round-trip attempt ended.
enum Fast {
    /// Committed: the outcome, and the streams' new versions.
    Committed(GroupOutcome, HashMap<i64, u64>),
    /// The streams were not at the cached versions (these are theirs); nothing was written.
    Stale(HashMap<i64, u64>),
    /// An id of the group is already stored, or the positions would pass `i64::MAX`; nothing
    /// was written.
    Conflict,
}

/// The fast path: the write statement alone, one statement and one round trip (its own
/// transaction), with the plan made from cached versions and the assumption that no id is stored
/// yet.
async fn fast(
    client: &Object,
    streams: &[i64],
    predicted: &HashMap<i64, u64>,
    decided: Plan<'_>,
) -> Result<Fast, GroupFailure> {
    // `predict` answered for every stream, so the 0 is never used.
    let guard: Vec<i64> = streams
        .iter()
        .map(|id| to_sql(predicted.get(id).copied().unwrap_or(0)))
        .collect();
    let args = WriteArgs::new(&decided, streams, guard);
    let write = client
        .prepare_cached(args.sql())
        .await
        .map_err(GroupFailure::before_commit)?;
    let row = match client.query_one(&write, &args.params()).await {
        Err(error)
            if error.code() == Some(&SqlState::UNIQUE_VIOLATION)
                || error.code() == Some(&SqlState::NUMERIC_VALUE_OUT_OF_RANGE) =>
        {
            return Ok(Fast::Conflict);
        }
        // The statement was its own transaction: with the connection lost while it ran, it
        // may have committed.
        other => other.map_err(GroupFailure::at_commit)?,
    };
    let Some(base) = written_base(&row)? else {
        return Ok(Fast::Stale(args.locked_versions(&row)?));
    };
    let touched = decided.touched.clone();
    Ok(Fast::Committed(outcome(decided, base), touched))
}

/// The full path, two round trips: `BEGIN`, the stream locks, the id lookup and a read of the
/// head; then, after deciding, the guarded write and `COMMIT`.
async fn slow(
    client: &Object,
    requests: &[Append],
    names: &GroupNames,
    cache: &mut VersionCache,
) -> Result<GroupOutcome, GroupFailure> {
    let before = GroupFailure::before_commit;
    let lock_streams = client.prepare_cached(LOCK_STREAMS).await.map_err(before)?;
    let find_ids = client.prepare_cached(FIND_IDS).await.map_err(before)?;
    let read_head = client.prepare_cached(READ_HEAD).await.map_err(before)?;
    let ids: Vec<&str> = requests
        .iter()
        .flat_map(|r| r.batch.iter().map(|e| e.id.as_str()))
        .collect();
    let (begun, locked, found, head) = join4(
        client.batch_execute(BEGIN),
        client.query(&lock_streams, &[&names.streams]),
        client.query(&find_ids, &[&ids]),
        client.query_one(&read_head, &[]),
    )
    .await;
    begun.map_err(before)?;
    let versions = stream_versions(locked.map_err(before)?)?;
    let stored = stored_ids(found.map_err(before)?)?;
    let corrupted = GroupFailure::corrupted;
    let assumed_head =
        counter(head.map_err(before)?.get(0), || "meta row head".into()).map_err(corrupted)?;
    // `resolve` gave every stream of the group a row, so the lock returned each one's version.
    let guard: Vec<i64> = names
        .streams
        .iter()
        .map(|id| to_sql(versions.get(id).copied().unwrap_or(0)))
        .collect();
    cache.remember(versions.clone());
    let decided = plan(
        requests,
        &names.per_request,
        &names.name_ids,
        versions,
        stored,
        assumed_head,
    );
    if decided.written == 0 {
        // Nothing to write (every request refused or a retry): end without a commit.
        client.batch_execute("ROLLBACK").await.map_err(before)?;
        return Ok(GroupOutcome {
            answers: decided.answers_after(assumed_head),
            head: None,
        });
    }
    let args = WriteArgs::new(&decided, &names.streams, guard);
    let write = client.prepare_cached(args.sql()).await.map_err(before)?;
    let (written, committed) = join(
        client.query(&write, &args.params()),
        client.batch_execute("COMMIT"),
    )
    .await;
    let rows = written.map_err(before)?;
    let Some(base) = rows.first().map(written_base).transpose()?.flatten() else {
        // The streams are locked by this transaction, so they cannot have moved.
        return Err(GroupFailure::impossible(
            "a stream row locked by the group changed version, or is missing",
        ));
    };
    committed.map_err(GroupFailure::at_commit)?;
    cache.remember(decided.touched.clone());
    Ok(outcome(decided, base))
}

/// The committed group's answers and new head, from the head before it.
fn outcome(decided: Plan<'_>, base: u64) -> GroupOutcome {
    let head = Some(Position(base + decided.written));
    GroupOutcome {
        answers: decided.answers_after(base),
        head,
    }
}

/// The head before the group, from the write statement's answer; `None` when it wrote nothing.
fn written_base(row: &Row) -> Result<Option<u64>, GroupFailure> {
    let base: Option<i64> = row.get(0);
    base.map(|base| counter(base, || "meta row head".into()))
        .transpose()
        .map_err(GroupFailure::corrupted)
}

/// The locked streams' versions, from [`WRITE`]'s answer.
fn versions_of_locked(row: &Row) -> Result<HashMap<i64, u64>, GroupFailure> {
    let ids: Vec<i64> = row.get::<_, Option<Vec<i64>>>(1).unwrap_or_default();
    let versions: Vec<i64> = row.get::<_, Option<Vec<i64>>>(2).unwrap_or_default();
    let mut locked = HashMap::with_capacity(ids.len());
    for (id, version) in ids.into_iter().zip(versions) {
        let version = counter(version, || format!("streams row {id} (version)"));
        locked.insert(id, version.map_err(GroupFailure::corrupted)?);
    }
    Ok(locked)
}

/// The write statement of a group and its parameters.
struct WriteArgs<'p, 'a> {
    rows: &'p Rows<'a>,
    written: i64,
    streams: &'p [i64],
    guard: Vec<i64>,
    assumed_head: i64,
    touched_ids: Vec<i64>,
    touched_versions: Vec<i64>,
    /// Set when the group writes to exactly one stream and names no other: the stream, its
    /// version before the group and after it ([`WRITE_ONE_STREAM`]'s $14, $15 and $17).
    one_stream: Option<[i64; 3]>,
}

type Param<'p> = &'p (dyn tokio_postgres::types::ToSql + Sync);

impl<'p, 'a> WriteArgs<'p, 'a> {
    fn new(decided: &'p Plan<'a>, streams: &'p [i64], guard: Vec<i64>) -> Self {
        let (touched_ids, touched_versions): (Vec<i64>, Vec<i64>) = decided
            .touched
            .iter()
            .map(|(id, version)| (*id, to_sql(*version)))
            .unzip();
        let one_stream = match (streams, guard.as_slice(), touched_ids.as_slice()) {
            ([stream], [before], [touched]) if touched == stream => {
                Some([*stream, *before, touched_versions[0]])
            }
            _ => None,
        };
        Self {
            rows: &decided.rows,
            written: to_sql(decided.written),
            streams,
            guard,
            assumed_head: to_sql(decided.assumed_head),
            touched_ids,
            touched_versions,
            one_stream,
        }
    }

    /// [`WRITE_ONE_STREAM`] when the group names one stream, else [`WRITE`].
    fn sql(&self) -> &'static str {
        if self.one_stream.is_some() {
            WRITE_ONE_STREAM
        } else {
            WRITE
        }
    }

    /// The versions of the streams the statement found when it wrote nothing: [`WRITE`] returns
    /// them; [`WRITE_ONE_STREAM`] does not (the full path that follows reads them).
    fn locked_versions(&self, row: &Row) -> Result<HashMap<i64, u64>, GroupFailure> {
        if self.one_stream.is_some() {
            Ok(HashMap::new())
        } else {
            versions_of_locked(row)
        }
    }

    /// The parameters of [`Self::sql`].
    fn params(&self) -> Vec<Param<'_>> {
        let rows = self.rows;
        let mut params: Vec<Param<'_>> = vec![
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
            &self.written,
        ];
        match &self.one_stream {
            Some([stream, before, after]) => {
                params.extend([
                    stream as Param<'_>,
                    before,
                    &self.assumed_head,
                    after,
                    &CHANNEL,
                ]);
            }
            None => params.extend([
                &self.streams as Param<'_>,
                &self.guard,
                &self.assumed_head,
                &self.touched_ids,
                &self.touched_versions,
                &CHANNEL,
            ]),
        }
        params
    }
}

/// The locked streams' versions.
fn stream_versions(rows: Vec<Row>) -> Result<HashMap<i64, u64>, GroupFailure> {
    let mut versions = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.get(0);
        let version = counter(row.get(1), || format!("streams row {id} (version)"));
        versions.insert(id, version.map_err(GroupFailure::corrupted)?);
    }
    Ok(versions)
}

/// The group's ids that are already stored, with where they are.
fn stored_ids(rows: Vec<Row>) -> Result<HashMap<String, StoredEventRef>, GroupFailure> {
    let corrupted = GroupFailure::corrupted;
    let mut stored = HashMap::with_capacity(rows.len());
    for row in rows {
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
    Ok(stored)
}
