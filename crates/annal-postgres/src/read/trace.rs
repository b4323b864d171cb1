//! The trace of an event in one statement: the event, its causes, its effects and its
//! correlated events, each list with one row past its limit to tell whether it was cut.
//!
//! Invariant: the answer equals `annal_core::trace_by_queries` on the same read snapshot (the
//! test `trace.rs` compares them): causes walk `causation_id` up through `events_id`, stopping
//! at a loop, at the limit or at an id no event has; effects are the first of the event's
//! descendants in the order that walk visits them (breadth first, each event's children in
//! position order), read through `events_causation` one parent at a time so that no more than
//! the limit and one are read; correlated events are the oldest, through `events_correlation`.

use std::collections::HashSet;

use annal_core::{EventId, RecordedEvent, Trace, TraceLimits};
use deadpool_postgres::Object;

use crate::retry::ReadFailure;
use crate::row::{EVENT_JOINS, EVENT_SELECT, event, to_sql};

/// The event `$1`, at most `$2` causes, `$3` + 1 effects and `$4` + 1 correlated events, each
/// row tagged with its part (0 to 3, in that order) and its rank in the part (a cause's step up the chain, an effect's
/// place in the walk). `walk` keeps the queue of events whose children are still to read and
/// the children each step found; the event itself is never its own effect (a loop through it).
const TRACE: &str = "WITH RECURSIVE \
     root AS (SELECT * FROM events WHERE id = $1), \
     causes AS ( \
       SELECT c.*, 1::BIGINT AS step, ARRAY[r.id, c.id] AS seen \
       FROM root r JOIN events c ON c.id = r.causation_id \
       WHERE $2::BIGINT > 0 AND r.causation_id <> r.id \
       UNION ALL \
       SELECT c.*, k.step + 1, k.seen || c.id \
       FROM causes k JOIN events c ON c.id = k.causation_id \
       WHERE k.step < $2::BIGINT AND k.causation_id <> ALL (k.seen)), \
     walk AS ( \
       SELECT 0::BIGINT AS n, ARRAY[r.id] AS queue, ARRAY[]::TEXT[] AS found, \
              0::BIGINT AS taken FROM root r \
       UNION ALL \
       SELECT w.n + 1, w.queue[2:] || k.ids, k.ids, w.taken + cardinality(k.ids) \
       FROM walk w CROSS JOIN LATERAL ( \
         SELECT coalesce(array_agg(c.id ORDER BY c.position), '{}') AS ids FROM ( \
           SELECT c.id, c.position FROM events c \
           WHERE c.causation_id = w.queue[1] AND c.id <> $1 \
           ORDER BY c.position LIMIT $3::BIGINT + 1 - w.taken) c) k \
       WHERE cardinality(w.queue) > 0 AND w.taken <= $3::BIGINT), \
     effects AS ( \
       SELECT f.id, row_number() OVER (ORDER BY w.n, f.ord) AS rank \
       FROM walk w CROSS JOIN LATERAL unnest(w.found) WITH ORDINALITY AS f(id, ord)), \
     correlated AS ( \
       SELECT * FROM events WHERE correlation_id = (SELECT correlation_id FROM root) \
       ORDER BY position LIMIT $4::BIGINT + 1), \
     parts AS ( \
       SELECT 0 AS part, 0::BIGINT AS rank, * FROM root \
       UNION ALL SELECT 1, step, position, stream_id, version, type_id, aggregate_type_id, \
         timestamp, id, source, payload, metadata, causation_id, correlation_id FROM causes \
       UNION ALL SELECT 2, f.rank, e.* FROM effects f JOIN events e ON e.id = f.id \
       UNION ALL SELECT 3, 0, * FROM correlated)";

/// The trace of the event `id`; `None` when no event has it. One statement, so one read
/// snapshot and one round trip where the trace by queries took one per list and per effect.
pub(crate) async fn trace(
    mut client: Object,
    id: &EventId,
    limits: TraceLimits,
) -> Result<Option<Trace>, ReadFailure> {
    // A limit past half the bigint range means "all": the statement adds one to it.
    let limit = |max: usize| to_sql(max as u64).min(i64::MAX / 2);
    let sql = format!(
        "{TRACE} SELECT {EVENT_SELECT}, e.part FROM parts e{EVENT_JOINS} \
         ORDER BY e.part, e.rank, e.position"
    );
    // The statement is planned once per connection: a custom plan of its recursive parts
    // costs several times its run (about 2 ms against 0.3 ms), and the plan does not depend
    // on the values (an id by a unique index, limits that only stop reads).
    let transaction = client.build_transaction().read_only(true).start().await?;
    transaction
        .batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
        .await?;
    let statement = transaction.prepare_cached(&sql).await?;
    let (causes, effects, correlated) = (
        limit(limits.causes_max),
        limit(limits.effects_max),
        limit(limits.correlated_max),
    );
    let rows = transaction
        .query(&statement, &[&id.as_str(), &causes, &effects, &correlated])
        .await?;
    transaction.commit().await?;
    let mut parts: [Vec<RecordedEvent>; 4] = Default::default();
    for row in &rows {
        let part: i32 = row.get(12);
        if let Some(list) = usize::try_from(part)
            .ok()
            .and_then(|part| parts.get_mut(part))
        {
            list.push(event(row)?);
        }
    }
    let [root, causes, effects, correlated] = parts;
    let Some(root) = root.into_iter().next() else {
        return Ok(None);
    };
    Ok(Some(assemble(root, causes, effects, correlated, limits)))
}

/// The trace from the statement's parts: causes in walk order, effects in walk order, the
/// correlated events in position order, each list but the causes with its extra row.
fn assemble(
    event: RecordedEvent,
    mut causes: Vec<RecordedEvent>,
    mut effects: Vec<RecordedEvent>,
    mut correlated: Vec<RecordedEvent>,
    limits: TraceLimits,
) -> Trace {
    // Where the walk stopped: the next cause's id, unless it is already in the chain (a loop).
    let seen: HashSet<&str> = std::iter::once(&event)
        .chain(&causes)
        .map(|e| e.id.as_str())
        .collect();
    let next = causes.last().unwrap_or(&event).causation_id.clone();
    let next = next.filter(|id| !seen.contains(id.as_str()));
    let causes_truncated = next.is_some() && causes.len() == limits.causes_max;
    let missing_cause = next.filter(|_| !causes_truncated);
    causes.sort_by_key(|e| e.position);
    let effects_truncated = effects.len() > limits.effects_max;
    effects.truncate(limits.effects_max);
    effects.sort_by_key(|e| e.position);
    let correlated_truncated = correlated.len() > limits.correlated_max;
    correlated.truncate(limits.correlated_max);
    Trace {
        event,
        causes,
        missing_cause,
        causes_truncated,
        effects,
        effects_truncated,
        correlated,
        correlated_truncated,
    }
}
