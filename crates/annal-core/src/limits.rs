//! The limits every store checks at its boundary, before anything is written.

use serde::{Deserialize, Serialize};

/// Size limits for appended events. A request over any of them is refused whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Limits {
    /// Largest payload, as compact JSON bytes.
    pub payload_bytes_max: usize,
    /// Largest metadata object, as compact JSON bytes.
    pub metadata_bytes_max: usize,
    /// Most events in one append.
    pub batch_events_max: usize,
    /// Most bytes in one append: the sum over its events of payload and metadata (as compact
    /// JSON) and every text field (id, type, aggregate type, source, causation and correlation
    /// ids). Bounds what one request makes a backend hold and write at once.
    pub batch_bytes_max: usize,
    /// Longest source, causation id or correlation id, in bytes.
    pub text_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            payload_bytes_max: 1024 * 1024,
            metadata_bytes_max: 64 * 1024,
            batch_events_max: 10_000,
            batch_bytes_max: 64 * 1024 * 1024,
            text_bytes_max: 256,
        }
    }
}
