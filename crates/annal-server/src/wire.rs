//! The JSON shapes of requests and answers that are not core types (core's `NewEvent`,
//! `RecordedEvent`, `Stats`, `Snapshot` and `RetentionReport` go on the wire as they are).

use std::fmt;

use annal_core::{EventId, ExpectedVersion, NewEvent, Position, Version};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// `"any"`, `"noStream"`, `"streamExists"` or a version number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WireExpectedVersion(pub ExpectedVersion);

impl<'de> Deserialize<'de> for WireExpectedVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expected;
        impl Visitor<'_> for Expected {
            type Value = WireExpectedVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""any", "noStream", "streamExists" or a version number"#)
            }
            fn visit_u64<E: de::Error>(self, version: u64) -> Result<Self::Value, E> {
                Ok(WireExpectedVersion(ExpectedVersion::Exact(Version(
                    version,
                ))))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                parse_expected(text)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
            }
        }
        deserializer.deserialize_any(Expected)
    }
}

/// Parses the expected version from text (a query parameter or a JSON string).
pub fn parse_expected(text: &str) -> Option<WireExpectedVersion> {
    let expected = match text {
        "any" => ExpectedVersion::Any,
        "noStream" => ExpectedVersion::NoStream,
        "streamExists" => ExpectedVersion::StreamExists,
        number => ExpectedVersion::Exact(Version(number.parse().ok()?)),
    };
    Some(WireExpectedVersion(expected))
}

/// `POST /v1/streams/{stream}/events`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppendRequest {
    /// Where the stream must be; `any` when absent.
    #[serde(default)]
    pub expected_version: WireExpectedVersion,
    /// The batch, appended atomically.
    pub events: Vec<NewEvent>,
}

/// One appended event in an append's answer.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppendedEvent {
    /// Its id (the client's, or one the server chose).
    #[schema(value_type = String)]
    pub id: EventId,
    /// Its position in the store.
    #[schema(value_type = u64)]
    pub position: Position,
    /// Its version in the stream.
    #[schema(value_type = u64)]
    pub version: Version,
}

/// The answer to an append.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppendResponse {
    /// The stream appended to.
    pub stream: String,
    /// The stream's version after the append.
    #[schema(value_type = u64)]
    pub stream_version: Version,
    /// The position of the batch's first event.
    #[schema(value_type = u64)]
    pub first_position: Position,
    /// The position of the batch's last event.
    #[schema(value_type = u64)]
    pub last_position: Position,
    /// Each event, in batch order.
    pub events: Vec<AppendedEvent>,
}

/// A stream's current version.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamVersion {
    /// The stream.
    pub stream: String,
    /// Its last assigned version; 0 if it never held an event.
    #[schema(value_type = u64)]
    pub version: Version,
}

/// The store's head.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Head {
    /// The position of the newest committed event; 0 for an empty store.
    #[schema(value_type = u64)]
    pub head: Position,
}

/// `POST /v1/streams/{stream}/truncate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TruncateRequest {
    /// Remove the events with versions before this one.
    #[schema(value_type = u64)]
    pub before: Version,
    /// Also remove events the stream's snapshot does not cover.
    #[serde(default)]
    pub force: bool,
}

/// `PUT /v1/streams/{stream}/snapshot`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SnapshotRequest {
    /// The stream version the state includes.
    #[schema(value_type = u64)]
    pub version: Version,
    /// The aggregate's state (a JSON object).
    #[schema(value_type = Object)]
    pub state: serde_json::Value,
    /// The aggregate type; that of the stream's newest event when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub aggregate_type: Option<annal_core::AggregateType>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_versions_read_as_the_api_writes_them() {
        let read = |text: &str| serde_json::from_str::<WireExpectedVersion>(text).map(|w| w.0);
        assert_eq!(read(r#""any""#).unwrap(), ExpectedVersion::Any);
        assert_eq!(read(r#""noStream""#).unwrap(), ExpectedVersion::NoStream);
        assert_eq!(
            read(r#""streamExists""#).unwrap(),
            ExpectedVersion::StreamExists
        );
        assert_eq!(read("4").unwrap(), ExpectedVersion::Exact(Version(4)));
        assert!(read("-1").is_err());
        assert!(read("1.5").is_err());
        assert!(read(r#""sometimes""#).is_err());
    }
}
