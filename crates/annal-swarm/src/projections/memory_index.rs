//! [`MemoryIndex`]: every memory entry by id and by namespace and key, with access counts,
//! sizes per namespace, and deletions and expirations.
//!
//! Differences from the seed, on purpose:
//! - each `memory:retrieved` adds one access; the payload's `accessCount` (the reader's own
//!   counter) no longer overwrites the total;
//! - deleted and expired entries are told apart;
//! - storing an existing id again revives it with the new type and size and keeps its access
//!   count, instead of silently starting over.
//!
//! Invariant: `active_bytes` of a namespace is the sum of `size` over its active entries.

use std::collections::{BTreeMap, HashMap};

use annal_core::{Projection, RecordedEvent, Timestamp};
use serde::{Deserialize, Serialize};

use super::slot_index::SlotIndex;
use crate::events::{DomainEvent, EventKind};

/// Whether an entry is live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryStatus {
    /// Stored and not removed.
    Active,
    /// Removed by a `memory:deleted` event.
    Deleted,
    /// Removed by a `memory:expired` event.
    Expired,
}

/// One memory entry as the events describe it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    /// The memory id.
    pub id: String,
    /// Its namespace.
    pub namespace: String,
    /// Its key.
    pub key: String,
    /// Its kind (payload `memoryType`).
    pub memory_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Retrievals seen while it was active.
    pub access_count: u64,
    /// When it was last stored.
    pub stored_at: Timestamp,
    /// When it was last stored or retrieved.
    pub last_accessed_at: Timestamp,
    /// Whether it is live.
    pub status: MemoryStatus,
    /// When it was deleted, if it is deleted.
    pub deleted_at: Option<Timestamp>,
    /// When its expiry was processed, if it expired.
    pub expired_at: Option<Timestamp>,
    /// When it was due to expire, if it expired.
    pub expires_at: Option<Timestamp>,
}

/// The serialized part of [`MemoryIndex`].
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Saved {
    memories: Vec<Memory>,
    ignored_events: u64,
    /// Which memory holds each (namespace, key): the one stored there last. Saved because the
    /// entries alone cannot tell when two memories shared a key (a restore must answer exactly
    /// as the live fold did). `None` in states saved before this field existed.
    key_holders: Option<Vec<KeyHolder>>,
}

/// [`Saved`], borrowed, so saving does not copy every entry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SavedRef<'a> {
    memories: &'a [Memory],
    ignored_events: u64,
    key_holders: Option<Vec<KeyHolder>>,
}

/// One entry of the (namespace, key) → memory map.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyHolder {
    namespace: String,
    key: String,
    memory_id: String,
}

/// Every memory entry (projection `swarm.memory-index`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", from = "Saved")]
pub struct MemoryIndex {
    memories: Vec<Memory>,
    ignored_events: u64,
    #[serde(skip)]
    slots: HashMap<String, usize>,
    #[serde(skip)]
    by_key: HashMap<(String, String), usize>,
    #[serde(skip)]
    active_by_namespace: SlotIndex<String>,
    #[serde(skip)]
    active_bytes: HashMap<String, u64>,
}

impl From<Saved> for MemoryIndex {
    fn from(saved: Saved) -> Self {
        let mut state = MemoryIndex {
            ignored_events: saved.ignored_events,
            ..MemoryIndex::default()
        };
        for memory in saved.memories {
            state.push(memory);
        }
        if let Some(holders) = saved.key_holders {
            state.by_key = holders
                .into_iter()
                .filter_map(|holder| {
                    let slot = *state.slots.get(&holder.memory_id)?;
                    Some(((holder.namespace, holder.key), slot))
                })
                .collect();
        }
        state
    }
}

impl Serialize for MemoryIndex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut key_holders: Vec<KeyHolder> = self
            .by_key
            .iter()
            .map(|((namespace, key), &slot)| KeyHolder {
                namespace: namespace.clone(),
                key: key.clone(),
                memory_id: self.memories[slot].id.clone(),
            })
            .collect();
        // A stable order keeps saved states byte-identical for identical folds.
        key_holders.sort_by(|a, b| (&a.namespace, &a.key).cmp(&(&b.namespace, &b.key)));
        SavedRef {
            memories: &self.memories,
            ignored_events: self.ignored_events,
            key_holders: Some(key_holders),
        }
        .serialize(serializer)
    }
}

impl Projection for MemoryIndex {
    const NAME: &'static str = "swarm.memory-index";

    fn apply(&mut self, event: &RecordedEvent) {
        let kind = match EventKind::from_event_type(event.event_type.as_str()) {
            Some(kind) if kind.aggregate_type() == "memory" => kind,
            _ => return,
        };
        match DomainEvent::decode_as(kind, event) {
            Ok(decoded) => {
                if !self.fold(&decoded, event.timestamp) {
                    self.ignored_events += 1;
                }
            }
            Err(_) => self.ignored_events += 1,
        }
    }
}

impl MemoryIndex {
    /// The entry `id`, whatever its status.
    pub fn get(&self, id: &str) -> Option<&Memory> {
        self.slots.get(id).map(|&slot| &self.memories[slot])
    }

    /// The entry most recently stored under `namespace` and `key`, whatever its status.
    pub fn by_key(&self, namespace: &str, key: &str) -> Option<&Memory> {
        // The tuple key needs owned strings; lookups are rare next to folds, so this is fine.
        self.by_key
            .get(&(namespace.to_owned(), key.to_owned()))
            .map(|&slot| &self.memories[slot])
    }

    /// Every entry, in the order first stored.
    pub fn all(&self) -> impl ExactSizeIterator<Item = &Memory> + '_ {
        self.memories.iter()
    }

    /// The active entries, in the order first stored.
    pub fn active(&self) -> Vec<&Memory> {
        self.with_status(MemoryStatus::Active)
    }

    /// The deleted entries.
    pub fn deleted(&self) -> Vec<&Memory> {
        self.with_status(MemoryStatus::Deleted)
    }

    /// The expired entries.
    pub fn expired(&self) -> Vec<&Memory> {
        self.with_status(MemoryStatus::Expired)
    }

    /// How many entries have `status`.
    pub fn count_by_status(&self, status: MemoryStatus) -> usize {
        self.memories
            .iter()
            .filter(|memory| memory.status == status)
            .count()
    }

    /// The active entries of `namespace`, in the order first stored.
    pub fn by_namespace(&self, namespace: &str) -> Vec<&Memory> {
        self.active_by_namespace
            .get(namespace)
            .map(|slot| &self.memories[slot])
            .collect()
    }

    /// The namespaces that hold an active entry, sorted.
    pub fn namespaces(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .active_by_namespace
            .keys()
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names
    }

    /// Bytes held by the active entries of `namespace`.
    pub fn total_size(&self, namespace: &str) -> u64 {
        self.active_bytes.get(namespace).copied().unwrap_or(0)
    }

    /// Bytes held by the active entries, per namespace.
    pub fn total_size_by_namespace(&self) -> BTreeMap<&str, u64> {
        self.active_by_namespace
            .keys()
            .map(|namespace| (namespace.as_str(), self.total_size(namespace)))
            .collect()
    }

    /// The `limit` active entries with the most accesses, most first; ties keep the order first
    /// stored.
    pub fn most_accessed(&self, limit: usize) -> Vec<&Memory> {
        let mut active = self.active();
        // A stable sort keeps first-stored order among equal counts, as the seed did.
        active.sort_by_key(|memory| std::cmp::Reverse(memory.access_count));
        active.truncate(limit);
        active
    }

    /// Events this projection could not use: undecodable payloads, unknown entries, and
    /// retrievals of removed entries.
    pub fn ignored_events(&self) -> u64 {
        self.ignored_events
    }

    fn with_status(&self, status: MemoryStatus) -> Vec<&Memory> {
        self.memories
            .iter()
            .filter(|memory| memory.status == status)
            .collect()
    }

    fn push(&mut self, memory: Memory) {
        let slot = self.memories.len();
        self.slots.insert(memory.id.clone(), slot);
        self.by_key
            .insert((memory.namespace.clone(), memory.key.clone()), slot);
        self.memories.push(memory);
        if self.memories[slot].status == MemoryStatus::Active {
            self.activate(slot);
        }
    }

    fn activate(&mut self, slot: usize) {
        let memory = &self.memories[slot];
        self.active_by_namespace
            .insert(memory.namespace.clone(), slot);
        *self
            .active_bytes
            .entry(memory.namespace.clone())
            .or_default() += memory.size;
    }

    fn deactivate(&mut self, slot: usize) {
        let memory = &self.memories[slot];
        self.active_by_namespace.remove(&memory.namespace, slot);
        if let Some(bytes) = self.active_bytes.get_mut(&memory.namespace) {
            *bytes = bytes.saturating_sub(memory.size);
        }
    }

    /// Applies one decoded event; false when it could not be used.
    fn fold(&mut self, event: &DomainEvent, at: Timestamp) -> bool {
        match event {
            DomainEvent::MemoryStored(stored) => {
                self.store(stored, at);
                true
            }
            DomainEvent::MemoryRetrieved(retrieved) => {
                let Some(&slot) = self.slots.get(&retrieved.memory_id) else {
                    return false;
                };
                let memory = &mut self.memories[slot];
                if memory.status != MemoryStatus::Active {
                    return false;
                }
                memory.access_count += 1;
                memory.last_accessed_at = at;
                true
            }
            DomainEvent::MemoryDeleted(deleted) => {
                self.remove(&deleted.memory_id, MemoryStatus::Deleted, |memory| {
                    memory.deleted_at = Some(at);
                })
            }
            DomainEvent::MemoryExpired(expired) => {
                self.remove(&expired.memory_id, MemoryStatus::Expired, |memory| {
                    memory.expired_at = Some(at);
                    memory.expires_at = Some(expired.expires_at);
                })
            }
            _ => true,
        }
    }

    fn store(&mut self, stored: &crate::events::memory::MemoryStored, at: Timestamp) {
        let Some(&slot) = self.slots.get(&stored.memory_id) else {
            self.push(Memory {
                id: stored.memory_id.clone(),
                namespace: stored.namespace.clone(),
                key: stored.key.clone(),
                memory_type: stored.memory_type.clone(),
                size: stored.size,
                access_count: 0,
                stored_at: at,
                last_accessed_at: at,
                status: MemoryStatus::Active,
                deleted_at: None,
                expired_at: None,
                expires_at: None,
            });
            return;
        };
        if self.memories[slot].status == MemoryStatus::Active {
            self.deactivate(slot);
        }
        let old_key = {
            let memory = &self.memories[slot];
            (memory.namespace.clone(), memory.key.clone())
        };
        if self.by_key.get(&old_key) == Some(&slot) {
            self.by_key.remove(&old_key);
        }
        let memory = &mut self.memories[slot];
        memory.namespace.clone_from(&stored.namespace);
        memory.key.clone_from(&stored.key);
        memory.memory_type.clone_from(&stored.memory_type);
        memory.size = stored.size;
        memory.stored_at = at;
        memory.last_accessed_at = at;
        memory.status = MemoryStatus::Active;
        memory.deleted_at = None;
        memory.expired_at = None;
        memory.expires_at = None;
        self.by_key
            .insert((stored.namespace.clone(), stored.key.clone()), slot);
        self.activate(slot);
    }

    fn remove(&mut self, id: &str, status: MemoryStatus, stamp: impl FnOnce(&mut Memory)) -> bool {
        let Some(&slot) = self.slots.get(id) else {
            return false;
        };
        if self.memories[slot].status == MemoryStatus::Active {
            self.deactivate(slot);
        }
        let memory = &mut self.memories[slot];
        memory.status = status;
        stamp(memory);
        true
    }
}
