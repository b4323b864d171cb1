//! The trace query: why an event happened and what it led to, answered by every backend.
//!
//! Given an event id, [`trace`] finds the event ([`Store::event_by_id`]) and returns it, its causes (walking `causation_id` up to
//! the first event of the chain), its effects (every event whose `causation_id` is the event
//! or one of its effects, transitively) and the events sharing its `correlation_id`. It asks
//! the store ([`Store::trace`]), whose default, [`trace_by_queries`], is built only from
//! [`Store::query`] with the filter's causation and correlation fields, so a backend that
//! indexes those fields makes it fast without changing it; a backend that pays a round trip
//! per query answers the whole trace in one read instead.
//!
//! Invariants: every list is in position order; each list holds at most its limit, and the
//! answer says when one was cut; a causation chain that loops (possible only with hand-written
//! ids) is walked once, never forever; a `causation_id` naming no stored event (a command id,
//! or an event removed by retention) ends the chain and is reported as `missing_cause`.

use std::collections::{HashSet, VecDeque};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::error::ReadError;
use crate::event::RecordedEvent;
use crate::filter::Filter;
use crate::ids::EventId;
use crate::store::Store;

/// How much of a trace to collect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TraceLimits {
    /// At most this many causes (the nearest ones are kept when the chain is longer).
    pub causes_max: usize,
    /// At most this many effects, counted breadth-first from the event.
    pub effects_max: usize,
    /// At most this many correlated events (the oldest ones).
    pub correlated_max: usize,
}

impl Default for TraceLimits {
    fn default() -> Self {
        Self {
            causes_max: 100,
            effects_max: 100,
            correlated_max: 100,
        }
    }
}

/// The answer of [`trace`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    /// The traced event.
    pub event: RecordedEvent,
    /// Its causes, from the root of the chain to its direct cause, in position order.
    pub causes: Vec<RecordedEvent>,
    /// The causation id where the chain left the store, if it did.
    pub missing_cause: Option<String>,
    /// Whether the chain went on beyond `causes_max`.
    pub causes_truncated: bool,
    /// Its direct and indirect effects, in position order.
    pub effects: Vec<RecordedEvent>,
    /// Whether more effects exist beyond `effects_max`.
    pub effects_truncated: bool,
    /// Every event with the same correlation id (the traced event included), in position
    /// order; empty when the event has none.
    pub correlated: Vec<RecordedEvent>,
    /// Whether more correlated events exist beyond `correlated_max`.
    pub correlated_truncated: bool,
}

/// Why a trace could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// No readable event has this id.
    #[error("no event with id {id}")]
    NotFound {
        /// The id asked for.
        id: EventId,
    },
    /// Reading the store failed.
    #[error("reading the store for a trace failed")]
    Read(#[from] ReadError),
}

/// Finds the event with `id` by scanning the store in position order; `None` when no readable
/// event has it. What [`Store::event_by_id`] does for a backend without an index of ids.
pub async fn find_event<S: Store + ?Sized>(
    store: &S,
    id: &str,
) -> Result<Option<RecordedEvent>, ReadError> {
    let mut events = store.query(&Filter::all()).await?;
    while let Some(event) = events.next().await {
        let event = event?;
        if event.id.as_str() == id {
            return Ok(Some(event));
        }
    }
    Ok(None)
}

/// Traces the event with `id`: its causes, effects and correlated events (module docs), as
/// the store answers it ([`Store::trace`]).
pub async fn trace(
    store: &dyn Store,
    id: &EventId,
    limits: TraceLimits,
) -> Result<Trace, TraceError> {
    store.trace(id, limits).await
}

/// [`trace`] from [`Store::event_by_id`] and [`Store::query`]: what [`Store::trace`] does
/// unless a backend answers it in one read.
pub async fn trace_by_queries<S: Store + ?Sized>(
    store: &S,
    id: &EventId,
    limits: TraceLimits,
) -> Result<Trace, TraceError> {
    let event = store
        .event_by_id(id)
        .await?
        .ok_or_else(|| TraceError::NotFound { id: id.clone() })?;
    let (correlated, correlated_truncated) = match &event.correlation_id {
        Some(correlation) => {
            let filter = Filter {
                correlation_id: Some(correlation.clone()),
                ..Filter::all()
            };
            take_at_most(store, &filter, limits.correlated_max).await?
        }
        None => (Vec::new(), false),
    };
    let chain = causes(store, &event, &correlated, limits.causes_max).await?;
    let (effects, effects_truncated) = effects(store, &event, limits.effects_max).await?;
    Ok(Trace {
        event,
        causes: chain.events,
        missing_cause: chain.missing,
        causes_truncated: chain.truncated,
        effects,
        effects_truncated,
        correlated,
        correlated_truncated,
    })
}

/// The events `filter` selects, at most `max` of them, and whether more exist.
async fn take_at_most<S: Store + ?Sized>(
    store: &S,
    filter: &Filter,
    max: usize,
) -> Result<(Vec<RecordedEvent>, bool), ReadError> {
    let filter = Filter {
        limit: Some(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1)),
        ..filter.clone()
    };
    let mut events = store.query(&filter).await?;
    let mut taken = Vec::new();
    while let Some(event) = events.next().await {
        if taken.len() == max {
            return Ok((taken, true));
        }
        taken.push(event?);
    }
    Ok((taken, false))
}

struct Chain {
    events: Vec<RecordedEvent>,
    missing: Option<String>,
    truncated: bool,
}

/// Walks `causation_id` upward. A cause usually shares the correlation id, so the correlated
/// events already read are searched before the store is asked for the cause by id.
async fn causes<S: Store + ?Sized>(
    store: &S,
    event: &RecordedEvent,
    correlated: &[RecordedEvent],
    max: usize,
) -> Result<Chain, ReadError> {
    let mut chain = Vec::new();
    let mut seen: HashSet<String> = HashSet::from([event.id.as_str().to_owned()]);
    let mut next = event.causation_id.clone();
    let mut missing = None;
    let mut truncated = false;
    while let Some(cause_id) = next.take() {
        if !seen.insert(cause_id.clone()) {
            break;
        }
        if chain.len() == max {
            truncated = true;
            break;
        }
        let known = correlated.iter().find(|e| e.id.as_str() == cause_id);
        let cause = match known {
            Some(cause) => Some(cause.clone()),
            // Through the backend's index of ids where it has one: a cause outside the
            // correlation must not cost a scan of the log. An id that is not valid was never
            // stored.
            None => match EventId::new(&cause_id) {
                Ok(id) => store.event_by_id(&id).await?,
                Err(_) => None,
            },
        };
        match cause {
            Some(cause) => {
                next.clone_from(&cause.causation_id);
                chain.push(cause);
            }
            None => missing = Some(cause_id),
        }
    }
    chain.sort_by_key(|e| e.position);
    Ok(Chain {
        events: chain,
        missing,
        truncated,
    })
}

/// Collects effects breadth-first, one causation query per event reached.
async fn effects<S: Store + ?Sized>(
    store: &S,
    event: &RecordedEvent,
    max: usize,
) -> Result<(Vec<RecordedEvent>, bool), ReadError> {
    let mut found: Vec<RecordedEvent> = Vec::new();
    let mut seen: HashSet<String> = HashSet::from([event.id.as_str().to_owned()]);
    let mut queue: VecDeque<String> = VecDeque::from([event.id.as_str().to_owned()]);
    let mut truncated = false;
    'walk: while let Some(parent) = queue.pop_front() {
        let filter = Filter {
            causation_id: Some(parent),
            ..Filter::all()
        };
        let mut children = store.query(&filter).await?;
        while let Some(child) = children.next().await {
            let child = child?;
            if !seen.insert(child.id.as_str().to_owned()) {
                continue;
            }
            if found.len() == max {
                truncated = true;
                break 'walk;
            }
            queue.push_back(child.id.as_str().to_owned());
            found.push(child);
        }
    }
    found.sort_by_key(|e| e.position);
    Ok((found, truncated))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{EventType, ExpectedVersion, MemoryStore, NewEvent, StreamId};

    fn new_event(id: &str, cause: Option<&str>, correlation: Option<&str>) -> NewEvent {
        let mut event = NewEvent::new(EventType::new("task:step").unwrap(), json!({"n": id}))
            .with_id(EventId::new(id).unwrap());
        event.causation_id = cause.map(str::to_owned);
        event.correlation_id = correlation.map(str::to_owned);
        event
    }

    async fn append(store: &MemoryStore, stream: &str, events: Vec<NewEvent>) {
        let stream = StreamId::new(stream).unwrap();
        store
            .append(&stream, ExpectedVersion::Any, events)
            .await
            .unwrap();
    }

    fn ids(events: &[RecordedEvent]) -> Vec<&str> {
        events.iter().map(|e| e.id.as_str()).collect()
    }

    /// cmd-1 (not stored) → a → b → {c, d}; d → e; x shares the correlation but not the chain;
    /// y is unrelated.
    async fn fixture() -> MemoryStore {
        let store = MemoryStore::new();
        append(
            &store,
            "task-1",
            vec![new_event("a", Some("cmd-1"), Some("run-1"))],
        )
        .await;
        append(&store, "agent-1", vec![new_event("y", None, Some("run-2"))]).await;
        append(
            &store,
            "task-1",
            vec![new_event("b", Some("a"), Some("run-1"))],
        )
        .await;
        append(&store, "agent-1", vec![new_event("x", None, Some("run-1"))]).await;
        append(
            &store,
            "task-2",
            vec![
                new_event("c", Some("b"), Some("run-1")),
                new_event("d", Some("b"), None),
            ],
        )
        .await;
        append(&store, "task-3", vec![new_event("e", Some("d"), None)]).await;
        store
    }

    async fn run(store: &MemoryStore, id: &str, limits: TraceLimits) -> Trace {
        trace(store, &EventId::new(id).unwrap(), limits)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn causes_effects_and_correlation_in_position_order() {
        let store = fixture().await;
        let t = run(&store, "b", TraceLimits::default()).await;
        assert_eq!(t.event.id.as_str(), "b");
        assert_eq!(ids(&t.causes), ["a"]);
        assert_eq!(t.missing_cause.as_deref(), Some("cmd-1"));
        assert_eq!(ids(&t.effects), ["c", "d", "e"]);
        assert_eq!(ids(&t.correlated), ["a", "b", "x", "c"]);
        assert!(!t.causes_truncated && !t.effects_truncated && !t.correlated_truncated);

        let leaf = run(&store, "e", TraceLimits::default()).await;
        assert_eq!(ids(&leaf.causes), ["a", "b", "d"]);
        assert!(leaf.effects.is_empty());
        assert!(leaf.correlated.is_empty(), "e has no correlation id");
    }

    #[tokio::test]
    async fn limits_cut_each_list_and_say_so() {
        let store = fixture().await;
        let limits = TraceLimits {
            causes_max: 1,
            effects_max: 2,
            correlated_max: 3,
        };
        let t = run(&store, "b", limits).await;
        assert_eq!(ids(&t.effects), ["c", "d"]);
        assert!(t.effects_truncated);
        assert_eq!(ids(&t.correlated), ["a", "b", "x"]);
        assert!(t.correlated_truncated);
        let leaf = run(&store, "e", limits).await;
        assert_eq!(ids(&leaf.causes), ["d"], "the nearest cause is kept");
        assert!(leaf.causes_truncated);
        assert_eq!(leaf.missing_cause, None);
    }

    #[tokio::test]
    async fn a_looping_chain_ends() {
        let store = MemoryStore::new();
        append(&store, "s", vec![new_event("p", Some("q"), None)]).await;
        append(&store, "s", vec![new_event("q", Some("p"), None)]).await;
        let t = run(&store, "p", TraceLimits::default()).await;
        assert_eq!(ids(&t.causes), ["q"]);
        assert_eq!(ids(&t.effects), ["q"]);
    }

    #[tokio::test]
    async fn unknown_id_is_not_found() {
        let store = fixture().await;
        let error = trace(
            &store,
            &EventId::new("nope").unwrap(),
            TraceLimits::default(),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, TraceError::NotFound { id } if id.as_str() == "nope"));
    }
}
