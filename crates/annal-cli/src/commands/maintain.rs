//! Maintenance commands: `snapshot save|get`, `truncate`, `delete` and `retain`.

use std::sync::Arc;
use std::time::SystemTime;

use annal_core::{AggregateType, ReadStreamOptions, RetentionPolicy, Snapshot, Store, Version};
use anyhow::Context;
use futures::StreamExt;
use serde_json::json;

use crate::args::{DeleteArgs, RetainArgs, SnapshotCommand, TruncateArgs};
use crate::convert;
use crate::output::Output;

pub(crate) async fn snapshot(
    store: Arc<dyn Store>,
    command: SnapshotCommand,
    out: &mut Output,
) -> anyhow::Result<()> {
    match command {
        SnapshotCommand::Save {
            stream,
            version,
            state,
            aggregate_type,
        } => {
            let stream = convert::stream(&stream)?;
            let aggregate_type = match aggregate_type {
                Some(t) => AggregateType::new(t).context("--aggregate-type")?,
                None => {
                    let mut events = store
                        .read_stream(&stream, ReadStreamOptions::backward().limit(1))
                        .await?;
                    match events.next().await {
                        Some(event) => event?.aggregate_type,
                        None => {
                            anyhow::bail!("stream {stream} has no events; give --aggregate-type")
                        }
                    }
                }
            };
            let snapshot = Snapshot {
                aggregate_id: stream.clone(),
                aggregate_type,
                version: Version(version),
                state: convert::json_object("--state", &state)?,
                timestamp: now_ms(),
            };
            store
                .save_snapshot(snapshot)
                .await
                .context("snapshot refused")?;
            out.value(
                &json!({"stream": stream, "version": version}),
                &format!("saved snapshot of {stream} at version {version}"),
            )
        }
        SnapshotCommand::Get { stream } => {
            let stream = convert::stream(&stream)?;
            match store.load_snapshot(&stream).await? {
                Some(snapshot) => out.value(&snapshot, &serde_json::to_string_pretty(&snapshot)?),
                None => anyhow::bail!("stream {stream} has no snapshot"),
            }
        }
    }
}

pub(crate) async fn truncate(
    store: Arc<dyn Store>,
    args: TruncateArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let stream = convert::stream(&args.stream)?;
    let report = store
        .truncate_before(&stream, Version(args.before), args.force)
        .await
        .context("truncate refused")?;
    out.value(
        &report,
        &format!(
            "removed {} event(s) of {stream} before version {}",
            report.removed, args.before
        ),
    )
}

pub(crate) async fn delete(
    store: Arc<dyn Store>,
    args: DeleteArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let stream = convert::stream(&args.stream)?;
    let expected = convert::expected_version(&args.expected_version)?;
    let report = store
        .delete_stream(&stream, expected)
        .await
        .context("delete refused")?;
    out.value(
        &report,
        &format!(
            "deleted stream {stream} ({} event(s) removed)",
            report.removed
        ),
    )
}

pub(crate) async fn retain(
    store: Arc<dyn Store>,
    args: RetainArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    let before_timestamp = args
        .max_age
        .map(|age| now_ms() - i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
    let policy = RetentionPolicy {
        max_events: args.max_events,
        before_timestamp,
        force: args.force,
    };
    let spinner = crate::commands::transfer::progress(out, 0, "applying retention");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = store.retain(policy).await.context("retention failed")?;
    spinner.finish_and_clear();
    let human = format!(
        "removed {} event(s); kept {} that no snapshot covers (use --force to remove them)",
        report.removed, report.protected
    );
    out.value(&report, &human)
}

pub(crate) fn now_ms() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}
