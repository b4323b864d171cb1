//! `annal append STREAM --type T --data JSON`: one event, with every envelope field settable.

use std::sync::Arc;

use annal_core::{AggregateType, AppendError, EventId, EventType, NewEvent, Store};
use anyhow::Context;
use serde_json::json;

use crate::args::AppendArgs;
use crate::convert;
use crate::output::Output;

pub(crate) async fn run(
    store: Arc<dyn Store>,
    args: AppendArgs,
    out: &mut Output,
) -> anyhow::Result<()> {
    // clap requires these three unless --stdin, which is dispatched elsewhere.
    let (Some(stream), Some(event_type), Some(data)) = (args.stream, args.event_type, args.data)
    else {
        anyhow::bail!("append needs STREAM, --type and --data (or --stdin)");
    };
    let stream = convert::stream(&stream)?;
    let event_type = EventType::new(event_type.as_str()).context("--type")?;
    let payload = convert::json_object("--data", &data)?;
    let expected = convert::expected_version(&args.expected_version)?;
    let mut event = NewEvent::new(event_type, payload);
    if let Some(id) = args.id {
        event = event.with_id(EventId::new(id).context("--id")?);
    }
    if let Some(aggregate_type) = args.aggregate_type {
        event = event
            .with_aggregate_type(AggregateType::new(aggregate_type).context("--aggregate-type")?);
    }
    if let Some(source) = args.source {
        event = event.with_source(source);
    }
    if let Some(metadata) = args.metadata {
        event = event.with_metadata(convert::json_object("--metadata", &metadata)?);
    }
    event.causation_id = args.causation_id;
    event.correlation_id = args.correlation_id;
    let result = store
        .append(&stream, expected, vec![event])
        .await
        .map_err(describe)?;
    let human = format!(
        "appended to {stream} at version {} (position {})",
        result.stream_version.0, result.last_position.0
    );
    out.value(
        &json!({
            "stream": stream,
            "position": result.last_position,
            "version": result.stream_version,
        }),
        &human,
    )
}

/// An append error with the advice a person needs next.
pub(crate) fn describe(error: AppendError) -> anyhow::Error {
    match &error {
        AppendError::WrongExpectedVersion { .. } => {
            anyhow::Error::new(error).context("wrong expected version; read the stream and retry")
        }
        _ => anyhow::Error::new(error).context("append refused"),
    }
}
