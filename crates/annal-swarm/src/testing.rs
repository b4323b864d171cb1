//! Checks that any backend can run (feature `testing`): today, that every domain event
//! round-trips through a store unchanged.
//!
//! The checks return a [`RoundTripFailure`] instead of panicking, so they stay library code; a
//! backend's test asserts the result is `Ok`.

use std::sync::Arc;

use annal_core::{ReadStreamOptions, RecordedEvent, Store, StreamId, collect};
use serde_json::json;

use crate::events::{DomainEvent, EventDraft, EventKind, agent, memory, swarm, task};

/// Why a round trip failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoundTripFailure {
    /// The store refused or lost something.
    #[error("{event_type}: the store failed: {reason}")]
    Store {
        /// The event type under test.
        event_type: String,
        /// The store's error.
        reason: String,
    },
    /// What came back differs from what went in.
    #[error("{event_type}: {what} differs: wrote {wrote}, read {read}")]
    Mismatch {
        /// The event type under test.
        event_type: String,
        /// Which part differs.
        what: &'static str,
        /// What was written.
        wrote: String,
        /// What was read.
        read: String,
    },
    /// Not every catalog type was exercised.
    #[error("the sample set misses event types: {missing:?}")]
    Incomplete {
        /// The missing types.
        missing: Vec<&'static str>,
    },
}

fn id(value: &str) -> StreamId {
    match StreamId::new(value) {
        Ok(id) => id,
        Err(error) => panic!("sample id {value:?} is valid: {error}"),
    }
}

/// One draft of each of the 23 event types, with every optional field set and the envelope
/// extras (source, metadata, causation and correlation ids) filled in.
pub fn sample_drafts() -> Vec<EventDraft> {
    let agent_id = id("agent-rt");
    let task_id = id("task-rt");
    let memory_id = id("mem-rt");
    let swarm_id = id("swarm-rt");
    let at = 1_700_000_000_000;
    let drafts = vec![
        agent::spawned(
            &agent_id,
            "coder",
            "core",
            vec!["rust".into(), "tests".into()],
            at,
        ),
        agent::started(&agent_id, at + 1),
        agent::stopped(&agent_id, "done", at + 2),
        agent::failed(&agent_id, "boom", Some("at main.rs:1".into()), at + 3),
        agent::status_changed(&agent_id, "active", "blocked", at + 4),
        agent::task_assigned(&agent_id, &task_id, at + 5),
        agent::task_completed(
            &agent_id,
            &task_id,
            json!({"lines": 12, "ok": true}),
            0,
            at + 6,
        ),
        task::created(
            &task_id,
            "implementation",
            "Title",
            "Desc \"quoted\" ü",
            "high",
            vec!["task-0".into()],
            at,
        ),
        task::started(&task_id, &agent_id, at + 1),
        task::completed(&task_id, json!(["a", 1, null]), 1234, at + 2),
        task::failed(&task_id, "oops", None, 2, at + 3),
        task::blocked(&task_id, vec!["task-1".into(), "task-2".into()], at + 4),
        task::queued(&task_id, "low", at + 5),
        memory::stored(&memory_id, "ns", "key", "semantic", 4096, at),
        memory::retrieved(&memory_id, "ns", "key", 7, at + 1),
        memory::deleted(&memory_id, "ns", "key", at + 2),
        memory::expired(&memory_id, "ns", "key", at + 10, at + 3),
        swarm::initialized(&swarm_id, "mesh", 15, json!({"nested": {"x": [1, 2]}}), at),
        swarm::scaled(&swarm_id, 3, 5, "load", at + 1),
        swarm::terminated(&swarm_id, "shutdown", json!({"tasks": 9}), at + 2),
        swarm::phase_changed(&swarm_id, "plan", "build", at + 3),
        swarm::milestone_reached(&swarm_id, "m-1", "first", at + 4),
        swarm::error(
            &swarm_id,
            "err",
            Some("trace".into()),
            json!({"phase": "build"}),
            at + 5,
        ),
    ];
    drafts
        .into_iter()
        .enumerate()
        .map(|(n, draft)| {
            draft
                .with_source(format!("source-{n}"))
                .with_metadata(json!({"n": n, "tag": "round-trip"}))
                .with_causation_id(format!("cause-{n}"))
                .with_correlation_id("run-rt")
        })
        .collect()
}

fn mismatch(event_type: &str, what: &'static str, wrote: String, read: String) -> RoundTripFailure {
    RoundTripFailure::Mismatch {
        event_type: event_type.to_owned(),
        what,
        wrote,
        read,
    }
}

/// Appends every sample event to `store`, reads each back, decodes it, and checks that the
/// typed value, the payload JSON (byte for byte) and the envelope extras survived.
///
/// `store` should be empty, or at least hold no streams named `*-rt`.
pub async fn check_round_trip(store: Arc<dyn Store>) -> Result<(), RoundTripFailure> {
    let drafts = sample_drafts();
    let mut seen: Vec<EventKind> = Vec::new();
    for draft in drafts {
        if let Some(kind) = round_trip(&*store, &draft).await? {
            seen.push(kind);
        }
    }
    let missing: Vec<&'static str> = EventKind::ALL
        .into_iter()
        .filter(|kind| !seen.contains(kind))
        .map(EventKind::event_type)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(RoundTripFailure::Incomplete { missing })
    }
}

/// Round-trips one draft through `store`; answers the kind of event it was.
async fn round_trip(
    store: &dyn Store,
    draft: &EventDraft,
) -> Result<Option<EventKind>, RoundTripFailure> {
    let event_type = draft.event.event_type.to_string();
    let wrote_json = draft.event.payload.to_string();
    let written =
        DomainEvent::decode_payload(&event_type, &draft.event.payload).map_err(|error| {
            mismatch(
                &event_type,
                "typed payload",
                wrote_json.clone(),
                error.to_string(),
            )
        })?;
    let recorded = append_and_read_back(store, draft, &event_type).await?;
    let decoded = DomainEvent::decode(&recorded).map_err(|error| {
        mismatch(
            &event_type,
            "decoding",
            wrote_json.clone(),
            error.to_string(),
        )
    })?;
    if decoded != written {
        let read = format!("{decoded:?}");
        return Err(mismatch(
            &event_type,
            "typed value",
            format!("{written:?}"),
            read,
        ));
    }
    let read_json = decoded.payload().to_string();
    let stored_json = recorded.payload.to_string();
    if read_json != wrote_json || stored_json != wrote_json {
        return Err(mismatch(&event_type, "payload JSON", wrote_json, read_json));
    }
    check_envelope(draft, &recorded, &event_type)?;
    Ok(decoded.kind())
}

/// Appends `draft` and reads back the event it became.
async fn append_and_read_back(
    store: &dyn Store,
    draft: &EventDraft,
    event_type: &str,
) -> Result<RecordedEvent, RoundTripFailure> {
    let store_error = |reason: String| RoundTripFailure::Store {
        event_type: event_type.to_owned(),
        reason,
    };
    let result = draft
        .clone()
        .append(store)
        .await
        .map_err(|error| store_error(error.to_string()))?;
    let options = ReadStreamOptions::forward()
        .from(result.stream_version)
        .limit(1);
    let read = collect(
        store
            .read_stream(&draft.stream, options)
            .await
            .map_err(|e| store_error(e.to_string()))?,
    )
    .await
    .map_err(|error| store_error(error.to_string()))?;
    read.into_iter()
        .next()
        .ok_or_else(|| store_error("the appended event is not readable".into()))
}

/// Checks that the source, metadata, causation and correlation ids, and the aggregate type
/// the event type names, came back as written.
fn check_envelope(
    draft: &EventDraft,
    recorded: &RecordedEvent,
    event_type: &str,
) -> Result<(), RoundTripFailure> {
    let extras =
        |source: &str, metadata: String, causation: Option<&str>, correlation: Option<&str>| {
            format!("{source} {metadata} {causation:?} {correlation:?}")
        };
    let wrote_extras = extras(
        &draft.event.source,
        draft
            .event
            .metadata
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        draft.event.causation_id.as_deref(),
        draft.event.correlation_id.as_deref(),
    );
    let read_extras = extras(
        &recorded.source,
        recorded.metadata.to_string(),
        recorded.causation_id.as_deref(),
        recorded.correlation_id.as_deref(),
    );
    if wrote_extras != read_extras {
        return Err(mismatch(event_type, "envelope", wrote_extras, read_extras));
    }
    if recorded.aggregate_type.as_str() != event_type.split(':').next().unwrap_or_default() {
        let read = recorded.aggregate_type.to_string();
        return Err(mismatch(
            event_type,
            "aggregate type",
            event_type.to_owned(),
            read,
        ));
    }
    Ok(())
}
