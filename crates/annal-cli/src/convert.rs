//! Turning command-line text into annal values, with errors that name the flag and the value.

use annal_core::{AggregateType, EventType, ExpectedVersion, Filter, StreamId, Timestamp, Version};
use anyhow::{Context, bail};
use serde_json::Value;

use crate::args::FilterArgs;

/// `any`, `no-stream`, `exists` or a version number.
pub(crate) fn expected_version(text: &str) -> anyhow::Result<ExpectedVersion> {
    Ok(match text {
        "any" => ExpectedVersion::Any,
        "no-stream" => ExpectedVersion::NoStream,
        "exists" => ExpectedVersion::StreamExists,
        number => ExpectedVersion::Exact(Version(number.parse().with_context(|| {
            format!("--expected-version {number:?}: use any, no-stream, exists or a version number")
        })?)),
    })
}

/// A JSON object given on the command line.
pub(crate) fn json_object(flag: &str, text: &str) -> anyhow::Result<Value> {
    let value: Value =
        serde_json::from_str(text).with_context(|| format!("{flag} is not valid JSON"))?;
    if !value.is_object() {
        bail!("{flag} must be a JSON object");
    }
    Ok(value)
}

pub(crate) fn stream(text: &str) -> anyhow::Result<StreamId> {
    StreamId::new(text).with_context(|| format!("stream {text:?}"))
}

/// A time as ms since the epoch or RFC 3339.
pub(crate) fn time(flag: &str, text: &str) -> anyhow::Result<Timestamp> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let time = humantime::parse_rfc3339_weak(text)
        .with_context(|| format!("{flag} {text:?}: use ms since the epoch or RFC 3339"))?;
    let ms = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Ok(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The filter the flags describe.
pub(crate) fn filter(args: &FilterArgs) -> anyhow::Result<Filter> {
    let event_types = args
        .event_types
        .iter()
        .map(|t| EventType::new(t.as_str()).with_context(|| format!("--type {t:?}")))
        .collect::<anyhow::Result<_>>()?;
    let aggregate_ids = args
        .streams
        .iter()
        .map(|s| stream(s))
        .collect::<anyhow::Result<_>>()?;
    let aggregate_types = args
        .aggregate_types
        .iter()
        .map(|t| AggregateType::new(t.as_str()).with_context(|| format!("--aggregate-type {t:?}")))
        .collect::<anyhow::Result<_>>()?;
    let filter = Filter {
        event_types,
        aggregate_ids,
        aggregate_types,
        source: args.source.clone(),
        correlation_id: args.correlation_id.clone(),
        causation_id: args.causation_id.clone(),
        timestamp_from: args
            .from_time
            .as_deref()
            .map(|t| time("--from-time", t))
            .transpose()?,
        timestamp_to: args
            .to_time
            .as_deref()
            .map(|t| time("--to-time", t))
            .transpose()?,
        ..Filter::all()
    };
    filter.validate()?;
    Ok(filter)
}
