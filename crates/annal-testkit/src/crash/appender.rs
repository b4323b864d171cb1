//! The probe's appending tasks (`write` and `faults` modes): each task appends batches of
//! events with ids `r<run>-t<task>-b<batch>-<i>` to its own stream `w<task>`, expecting the
//! version it last wrote, and says what the store acknowledged.

use std::sync::Arc;

use annal_core::{
    AggregateType, AppendError, EventId, EventType, ExpectedVersion, NewEvent, RetentionError,
    Snapshot, SnapshotError, StorageError, Store, StreamId, Version,
};
use serde_json::json;

use super::probe::{ProbeResult, one_line, say};

/// The shape of one probe run: its number (which keeps its ids apart from other runs'), how
/// many tasks append at once, and how many events each batch holds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    run: u64,
    tasks: u64,
    batch: u64,
}

impl Plan {
    pub(super) fn parse(run: &str, tasks: &str, batch: &str) -> ProbeResult<Self> {
        Ok(Self {
            run: run.parse()?,
            tasks: tasks.parse()?,
            batch: batch.parse()?,
        })
    }

    /// The ids and events of batch `n_batch` of `task`.
    fn batch(&self, task: u64, n_batch: u64) -> ProbeResult<(Vec<String>, Vec<NewEvent>)> {
        let ids: Vec<String> = (0..self.batch)
            .map(|i| format!("r{}-t{task}-b{n_batch}-{i}", self.run))
            .collect();
        let events = ids
            .iter()
            .map(|id| {
                Ok(
                    NewEvent::new(EventType::new("crash:step")?, json!({ "id": id }))
                        .with_id(EventId::new(id.clone())?),
                )
            })
            .collect::<ProbeResult<Vec<_>>>()?;
        Ok((ids, events))
    }
}

/// A store error as the protocol names it: its kind and its message on one line.
type Failure = (String, String);

/// Runs one appending task per `plan.tasks` until killed; a refused append ends the process.
pub(super) async fn append_forever(store: Arc<dyn Store>, plan: Plan) -> ProbeResult<()> {
    let mut workers = Vec::new();
    for task in 0..plan.tasks {
        let store = Arc::clone(&store);
        workers.push(tokio::task::spawn(async move {
            append_batches(store, plan, task).await
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

async fn append_batches(store: Arc<dyn Store>, plan: Plan, task: u64) -> ProbeResult<()> {
    let stream = StreamId::new(format!("w{task}"))?;
    let mut version = store.stream_version(&stream).await?;
    for n_batch in 0u64.. {
        let (ids, events) = plan.batch(task, n_batch)?;
        let result = store
            .append(&stream, ExpectedVersion::Exact(version), events)
            .await?;
        assert_eq!(
            result.stream_version,
            Version(version.0 + plan.batch),
            "versions are contiguous"
        );
        version = result.stream_version;
        say(&format!("ack {stream} {} {}", version.0, ids.join(" ")))?;
        if let Some((kind, message)) =
            maintain(store.as_ref(), &stream, task, n_batch, version, plan.batch).await?
        {
            return Err(format!("{kind}: {message}").into());
        }
    }
    Ok(())
}

/// Runs one task per `plan.tasks`, each appending `batches` batches or until one fails.
pub(super) async fn append_until_failure(
    store: Arc<dyn Store>,
    plan: Plan,
    batches: u64,
) -> ProbeResult<()> {
    let mut workers = Vec::new();
    for task in 0..plan.tasks {
        let store = Arc::clone(&store);
        workers.push(tokio::task::spawn(async move {
            append_or_report(store, plan, task, batches).await
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

/// Appends `batches` batches, or until one fails; then reports the failure and one more try.
async fn append_or_report(
    store: Arc<dyn Store>,
    plan: Plan,
    task: u64,
    batches: u64,
) -> ProbeResult<()> {
    let stream = StreamId::new(format!("w{task}"))?;
    let mut version = match store.stream_version(&stream).await {
        Ok(version) => version,
        Err(error) => return say(&format!("open-error {}", one_line(&error))),
    };
    for n_batch in 0..=batches {
        let (ids, events) = plan.batch(task, n_batch)?;
        if n_batch == batches {
            return say(&format!("done {stream}"));
        }
        let failure = match store
            .append(&stream, ExpectedVersion::Exact(version), events.clone())
            .await
        {
            Ok(result) => {
                version = result.stream_version;
                say(&format!("ack {stream} {} {}", version.0, ids.join(" ")))?;
                maintain(store.as_ref(), &stream, task, n_batch, version, plan.batch).await?
            }
            Err(error) => Some((append_kind(&error), one_line(&error))),
        };
        if let Some((kind, message)) = failure {
            say(&format!("error {stream} {kind} {message}"))?;
            return report_next_append(store.as_ref(), &stream, events).await;
        }
    }
    Ok(())
}

/// Tries one more append after a failure and says how the store answered (`ok` if it took it).
async fn report_next_append(
    store: &dyn Store,
    stream: &StreamId,
    events: Vec<NewEvent>,
) -> ProbeResult<()> {
    let again = store
        .append(stream, ExpectedVersion::Any, events)
        .await
        .err();
    let (kind, message) = again.map_or(("ok".into(), String::new()), |error| {
        (append_kind(&error), one_line(&error))
    });
    say(&format!("after {stream} {kind} {message}"))
}

/// With `ANNAL_PROBE_MAINTAIN=1`, after every fourth batch task 0 removes all but its last
/// batch and task 1 saves a snapshot at its version, so removals and snapshots meet the faults
/// too; each is announced before and after. Returns the kind and message of a store error.
async fn maintain(
    store: &dyn Store,
    stream: &StreamId,
    task: u64,
    n_batch: u64,
    version: Version,
    batch: u64,
) -> ProbeResult<Option<Failure>> {
    let enabled = std::env::var("ANNAL_PROBE_MAINTAIN").is_ok_and(|value| value == "1");
    if !enabled || n_batch % 4 != 3 {
        return Ok(None);
    }
    if task == 0 {
        let before = Version(version.0 + 1 - batch);
        say(&format!("trimming {stream} {}", before.0))?;
        if let Err(error) = store.truncate_before(stream, before, false).await {
            return Ok(Some((retention_kind(&error), one_line(&error))));
        }
        say(&format!("trim {stream} {}", before.0))?;
    } else if task == 1 {
        say(&format!("snapshotting {stream} {}", version.0))?;
        let snapshot = Snapshot {
            aggregate_id: stream.clone(),
            aggregate_type: AggregateType::new("probe")?,
            version,
            state: json!({ "version": version.0 }),
            timestamp: 0,
        };
        if let Err(error) = store.save_snapshot(snapshot).await {
            let kind = storage_kind(match &error {
                SnapshotError::Storage(error) => Some(error),
                _ => None,
            });
            return Ok(Some((kind, one_line(&error))));
        }
        say(&format!("snapshot {stream} {}", version.0))?;
    }
    Ok(None)
}

fn append_kind(error: &AppendError) -> String {
    storage_kind(match error {
        AppendError::Storage(error) => Some(error),
        _ => None,
    })
}

fn retention_kind(error: &RetentionError) -> String {
    storage_kind(match error {
        RetentionError::Storage(error) => Some(error),
        _ => None,
    })
}

fn storage_kind(error: Option<&StorageError>) -> String {
    match error {
        Some(StorageError::Poisoned { .. }) => "poisoned",
        Some(_) => "storage",
        None => "other",
    }
    .into()
}
