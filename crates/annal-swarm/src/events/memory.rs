//! Memory operation events (aggregate type `memory`, stream = the memory id): four payloads and
//! their constructors.
//!
//! Every payload names the namespace and key, so the memory index can be read per namespace
//! without joining against the `memory:stored` event.

use annal_core::{StreamId, Timestamp};
use serde::{Deserialize, Serialize};

use super::draft::{EventDraft, Payload};

macro_rules! payload {
    ($ty:ident, $event_type:literal) => {
        impl Payload for $ty {
            const EVENT_TYPE: &'static str = $event_type;
            const AGGREGATE_TYPE: &'static str = "memory";
        }
    };
}

/// `memory:stored`: an entry was written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStored {
    /// The entry.
    pub memory_id: String,
    /// Its namespace.
    pub namespace: String,
    /// Its key in the namespace.
    pub key: String,
    /// The kind of memory (`semantic`, `episodic`, ...).
    pub memory_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// When.
    pub stored_at: Timestamp,
}
payload!(MemoryStored, "memory:stored");

/// `memory:retrieved`: an entry was read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryRetrieved {
    /// The entry.
    pub memory_id: String,
    /// Its namespace.
    pub namespace: String,
    /// Its key.
    pub key: String,
    /// When.
    pub retrieved_at: Timestamp,
    /// The reader's own access counter, recorded as given. The memory index counts events
    /// instead, so a reader that restarts its counter cannot make the total go down.
    pub access_count: u64,
}
payload!(MemoryRetrieved, "memory:retrieved");

/// `memory:deleted`: an entry was removed on purpose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryDeleted {
    /// The entry.
    pub memory_id: String,
    /// Its namespace.
    pub namespace: String,
    /// Its key.
    pub key: String,
    /// When.
    pub deleted_at: Timestamp,
}
payload!(MemoryDeleted, "memory:deleted");

/// `memory:expired`: an entry reached its time to live.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryExpired {
    /// The entry.
    pub memory_id: String,
    /// Its namespace.
    pub namespace: String,
    /// Its key.
    pub key: String,
    /// When the expiry was processed.
    pub expired_at: Timestamp,
    /// When the entry was due to expire.
    pub expires_at: Timestamp,
}
payload!(MemoryExpired, "memory:expired");

/// `memory:stored` for `memory_id`.
pub fn stored(
    memory_id: &StreamId,
    namespace: impl Into<String>,
    key: impl Into<String>,
    memory_type: impl Into<String>,
    size_bytes: u64,
    at: Timestamp,
) -> EventDraft {
    let payload = MemoryStored {
        memory_id: memory_id.to_string(),
        namespace: namespace.into(),
        key: key.into(),
        memory_type: memory_type.into(),
        size: size_bytes,
        stored_at: at,
    };
    EventDraft::new(memory_id.clone(), &payload, at)
}

/// `memory:retrieved` for `memory_id`; `access_count` is the reader's own counter.
pub fn retrieved(
    memory_id: &StreamId,
    namespace: impl Into<String>,
    key: impl Into<String>,
    access_count: u64,
    at: Timestamp,
) -> EventDraft {
    let payload = MemoryRetrieved {
        memory_id: memory_id.to_string(),
        namespace: namespace.into(),
        key: key.into(),
        retrieved_at: at,
        access_count,
    };
    EventDraft::new(memory_id.clone(), &payload, at)
}

/// `memory:deleted` for `memory_id`.
pub fn deleted(
    memory_id: &StreamId,
    namespace: impl Into<String>,
    key: impl Into<String>,
    at: Timestamp,
) -> EventDraft {
    let payload = MemoryDeleted {
        memory_id: memory_id.to_string(),
        namespace: namespace.into(),
        key: key.into(),
        deleted_at: at,
    };
    EventDraft::new(memory_id.clone(), &payload, at)
}

/// `memory:expired` for `memory_id`, which was due at `expires_at` (the seed had no constructor).
pub fn expired(
    memory_id: &StreamId,
    namespace: impl Into<String>,
    key: impl Into<String>,
    expires_at: Timestamp,
    at: Timestamp,
) -> EventDraft {
    let payload = MemoryExpired {
        memory_id: memory_id.to_string(),
        namespace: namespace.into(),
        key: key.into(),
        expired_at: at,
        expires_at,
    };
    EventDraft::new(memory_id.clone(), &payload, at)
}
