//! Memory tools with the orchestrator's names and fields: `memory_store`, `memory_retrieve`,
//! `memory_list`, `memory_delete`, `memory_search`, `memory_stats`. Writes append
//! `memory:stored` / `memory:deleted` with expected versions; reads answer from the
//! `MemoryIndex` projection, the value from the entry's latest `memory:stored` event.
//!
//! A memory's value travels in its `memory:stored` payload as the extra field `value` (with
//! `tags` and `expiresAt`), which annal-swarm's typed payload ignores, so the typed event and
//! the projection are unchanged.

use std::collections::HashMap;

use annal_core::{EventType, Filter, RecordedEvent, StreamId, collect};
use annal_swarm::events::memory;
use annal_swarm::projections::{Memory, MemoryStatus};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::common::{
    Envelope, appended, expected, now_ms, recent_events, stream_id, with_payload_fields,
};
use crate::AnnalMcp;
use crate::answer::{Answer, ToolError, finish, ok};
use crate::view;

const DEFAULT_NAMESPACE: &str = "default";

/// `memory_store` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemoryStore {
    /// The key, unique within its namespace.
    key: String,
    /// The value: any JSON (usually a string).
    value: Value,
    /// The namespace (default `default`).
    namespace: Option<String>,
    /// Tags kept with the value.
    #[serde(default)]
    tags: Vec<String>,
    /// Seconds until the entry counts as expired (memory_retrieve then reports it expired).
    ttl: Option<u64>,
    /// Replace an existing entry (default true); false refuses to overwrite.
    upsert: Option<bool>,
    /// The entry's kind (default `semantic`).
    memory_type: Option<String>,
    /// The version of the entry's stream this write expects (from an earlier answer).
    expected_version: Option<u64>,
}

/// `memory_retrieve` and `memory_delete` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemoryKey {
    /// The key.
    key: String,
    /// The namespace (default `default`).
    namespace: Option<String>,
}

/// `memory_list` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemoryList {
    /// Only this namespace.
    namespace: Option<String>,
    /// At most this many entries (default 50).
    limit: Option<u64>,
    /// Skip this many entries first (default 0).
    offset: Option<u64>,
}

/// `memory_search` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemorySearch {
    /// Text to find, case-insensitively, in keys and values.
    query: String,
    /// Only this namespace.
    namespace: Option<String>,
    /// At most this many results (default 10).
    limit: Option<u64>,
}

/// `memory_stats` arguments (none).
#[derive(Debug, Default, Deserialize, JsonSchema)]
pub(crate) struct NoArguments {}

#[tool_router(router = memory_tools, vis = "pub(crate)")]
impl AnnalMcp {
    /// Store a value under a key in a namespace (appends memory:stored).
    #[tool(annotations(destructive_hint = false))]
    async fn memory_store(&self, Parameters(args): Parameters<MemoryStore>) -> CallToolResult {
        finish(self.memory_store_answer(args).await)
    }

    /// Retrieve the value stored under a key, with when it was stored and by which event.
    /// Reading does not record an access.
    #[tool(annotations(read_only_hint = true))]
    async fn memory_retrieve(&self, Parameters(args): Parameters<MemoryKey>) -> CallToolResult {
        finish(self.memory_retrieve_answer(args).await)
    }

    /// List the live memory entries (keys, namespaces, sizes; not values), by namespace.
    #[tool(annotations(read_only_hint = true))]
    async fn memory_list(&self, Parameters(args): Parameters<MemoryList>) -> CallToolResult {
        finish(self.memory_list_answer(args).await)
    }

    /// Delete the entry under a key (appends memory:deleted; its history stays readable).
    #[tool(annotations(destructive_hint = true))]
    async fn memory_delete(&self, Parameters(args): Parameters<MemoryKey>) -> CallToolResult {
        finish(self.memory_delete_answer(args).await)
    }

    /// Find live entries whose key or value contains the query text (case-insensitive).
    /// annal does no semantic or vector search: there are no embeddings and no similarity
    /// scores, only text matching.
    #[tool(annotations(read_only_hint = true))]
    async fn memory_search(&self, Parameters(args): Parameters<MemorySearch>) -> CallToolResult {
        finish(self.memory_search_answer(args).await)
    }

    /// Counts of memory entries: live, deleted, expired, and bytes per namespace.
    #[tool(annotations(read_only_hint = true))]
    async fn memory_stats(&self, Parameters(_): Parameters<NoArguments>) -> CallToolResult {
        let answer = async {
            let folded = self.inner.memory.caught_up(self.store()).await?;
            let index = &folded.state;
            let value = json!({
                "active": index.count_by_status(MemoryStatus::Active),
                "deleted": index.count_by_status(MemoryStatus::Deleted),
                "expired": index.count_by_status(MemoryStatus::Expired),
                "namespaces": index.namespaces(),
                "bytesByNamespace": index.total_size_by_namespace(),
                "ignoredEvents": index.ignored_events(),
                "asOfPosition": folded.checkpoint.0,
            });
            ok(
                format!(
                    "{} live memory entries",
                    index.count_by_status(MemoryStatus::Active)
                ),
                value,
            )
        };
        finish(answer.await)
    }
}

impl AnnalMcp {
    /// The stream of the entry under `namespace`/`key`: the one the index knows, or the
    /// derived id for a new entry.
    async fn memory_stream(
        &self,
        namespace: &str,
        key: &str,
    ) -> Result<(StreamId, Option<Memory>), ToolError> {
        if namespace.contains('/') {
            return Err(ToolError::invalid(
                format!("namespace {namespace:?} contains '/'"),
                "use a namespace without '/'",
            ));
        }
        let folded = self.inner.memory.caught_up(self.store()).await?;
        let known = folded.state.by_key(namespace, key).cloned();
        let id = match &known {
            Some(entry) => entry.id.clone(),
            None => format!("memory/{namespace}/{key}"),
        };
        Ok((stream_id("key", &id)?, known))
    }

    async fn memory_store_answer(&self, args: MemoryStore) -> Answer {
        let namespace = args.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.into());
        let (stream, known) = self.memory_stream(&namespace, &args.key).await?;
        if args.upsert == Some(false)
            && known
                .as_ref()
                .is_some_and(|m| m.status == MemoryStatus::Active)
        {
            return Err(ToolError::new(
                "already_exists",
                format!("{namespace}/{} already holds a value", args.key),
                "pass upsert=true to replace it, or memory_delete it first",
            ));
        }
        let version = self.store().stream_version(&stream).await?;
        let now = now_ms();
        let size = u64::try_from(args.value.to_string().len()).unwrap_or(u64::MAX);
        let memory_type = args.memory_type.unwrap_or_else(|| "semantic".into());
        let expires_at = args
            .ttl
            .map(|s| now.saturating_add(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX)));
        let draft = memory::stored(&stream, &namespace, &args.key, memory_type, size, now);
        let draft = with_payload_fields(
            draft,
            json!({"value": args.value, "tags": args.tags, "expiresAt": expires_at}),
        );
        let draft = Envelope::default().apply(draft);
        let result = draft
            .append_expecting(self.store(), expected(args.expected_version, version))
            .await?;
        let mut value = appended(&result, &stream);
        value["success"] = json!(true);
        value["key"] = json!(args.key);
        value["namespace"] = json!(namespace);
        value["storedAt"] = json!(view::time(now));
        value["expiresAt"] = json!(expires_at.map(view::time));
        ok(format!("stored {namespace}/{}", args.key), value)
    }

    async fn memory_retrieve_answer(&self, args: MemoryKey) -> Answer {
        let namespace = args.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.into());
        let (stream, known) = self.memory_stream(&namespace, &args.key).await?;
        let entry = live_entry(known, &namespace, &args.key)?;
        let events = recent_events(self.store(), &stream, 50).await?;
        let stored = events
            .iter()
            .rev()
            .find(|e| e.event_type.as_str() == "memory:stored")
            .ok_or_else(|| not_found(&namespace, &args.key))?;
        let payload = stored.payload.to_value();
        let expires_at = payload.get("expiresAt").and_then(Value::as_i64);
        if expires_at.is_some_and(|at| at <= now_ms()) {
            return Err(ToolError::new(
                "expired",
                format!(
                    "{namespace}/{} expired at {}",
                    args.key,
                    view::time(expires_at.unwrap_or_default())
                ),
                "store it again with memory_store",
            ));
        }
        let value = json!({
            "found": true,
            "key": args.key,
            "namespace": namespace,
            "value": payload.get("value").cloned().unwrap_or(Value::Null),
            "tags": payload.get("tags").cloned().unwrap_or_else(|| json!([])),
            "memoryType": entry.memory_type,
            "storedAt": view::time(stored.timestamp),
            "storedBy": view::event(stored, false, self.config().payload_bytes_max),
            "version": stored.version.0,
        });
        ok(
            format!(
                "{namespace}/{} (stored {})",
                args.key,
                view::time(stored.timestamp)
            ),
            value,
        )
    }

    async fn memory_list_answer(&self, args: MemoryList) -> Answer {
        let limit = usize::try_from(self.config().limit(Some(args.limit.unwrap_or(50))))
            .unwrap_or(usize::MAX);
        let offset = usize::try_from(args.offset.unwrap_or(0)).unwrap_or(usize::MAX);
        let folded = self.inner.memory.caught_up(self.store()).await?;
        let mut live: Vec<&Memory> = match &args.namespace {
            Some(ns) => folded.state.by_namespace(ns),
            None => folded.state.active(),
        };
        live.retain(|m| m.status == MemoryStatus::Active);
        live.sort_by(|a, b| (&a.namespace, &a.key).cmp(&(&b.namespace, &b.key)));
        let total = live.len();
        let entries: Vec<Value> = live
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(entry_view)
            .collect();
        let summary = format!("{} of {total} live entries", entries.len());
        ok(
            summary,
            json!({"entries": entries, "total": total, "offset": offset}),
        )
    }

    async fn memory_delete_answer(&self, args: MemoryKey) -> Answer {
        let namespace = args.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.into());
        let (stream, known) = self.memory_stream(&namespace, &args.key).await?;
        live_entry(known, &namespace, &args.key)?;
        let version = self.store().stream_version(&stream).await?;
        let now = now_ms();
        let draft = Envelope::default().apply(memory::deleted(&stream, &namespace, &args.key, now));
        let result = draft
            .append_expecting(self.store(), expected(None, version))
            .await?;
        let mut value = appended(&result, &stream);
        value["success"] = json!(true);
        value["deleted"] = json!(true);
        value["key"] = json!(args.key);
        value["namespace"] = json!(namespace);
        ok(format!("deleted {namespace}/{}", args.key), value)
    }

    async fn memory_search_answer(&self, args: MemorySearch) -> Answer {
        if args.query.trim().is_empty() {
            return Err(ToolError::invalid(
                "query is empty",
                "give text to look for",
            ));
        }
        let needle = args.query.to_lowercase();
        let limit = usize::try_from(self.config().limit(Some(args.limit.unwrap_or(10))))
            .unwrap_or(usize::MAX);
        let live: HashMap<String, Memory> = {
            let folded = self.inner.memory.caught_up(self.store()).await?;
            folded
                .state
                .active()
                .into_iter()
                .filter(|m| args.namespace.as_deref().is_none_or(|ns| m.namespace == ns))
                .map(|m| (m.id.clone(), m.clone()))
                .collect()
        };
        let latest = self.latest_stored_values().await?;
        let mut results: Vec<Value> = Vec::new();
        let mut ids: Vec<&String> = live.keys().collect();
        ids.sort();
        for id in ids {
            let entry = &live[id];
            let value = latest.get(id).cloned().unwrap_or(Value::Null);
            let text = value.to_string().to_lowercase();
            if entry.key.to_lowercase().contains(&needle) || text.contains(&needle) {
                let mut view = entry_view(entry);
                view["value"] = value;
                results.push(view);
                if results.len() == limit {
                    break;
                }
            }
        }
        let summary = format!(
            "{} entries match {:?} (text match, not semantic)",
            results.len(),
            args.query
        );
        ok(summary, json!({"results": results, "matching": "text"}))
    }

    /// The value of every memory id's latest `memory:stored` event, in one pass.
    async fn latest_stored_values(&self) -> Result<HashMap<String, Value>, ToolError> {
        let filter = Filter {
            event_types: vec![EventType::new("memory:stored")?],
            ..Filter::all()
        };
        let events: Vec<RecordedEvent> = collect(self.store().query(&filter).await?).await?;
        Ok(events
            .into_iter()
            .map(|e| {
                let value = e
                    .payload
                    .to_value()
                    .get("value")
                    .cloned()
                    .unwrap_or(Value::Null);
                (e.aggregate_id.as_str().to_owned(), value)
            })
            .collect())
    }

    /// `projection_get` for a memory entry: by id, or by key with a namespace.
    pub(crate) async fn memory_entry(
        &self,
        id: &str,
        namespace: Option<&str>,
        events: Option<u64>,
    ) -> Answer {
        let entry = {
            let folded = self.inner.memory.caught_up(self.store()).await?;
            match namespace {
                Some(ns) => folded.state.by_key(ns, id).cloned(),
                None => folded.state.get(id).cloned(),
            }
        };
        let entry = entry.ok_or_else(|| {
            ToolError::new(
                "not_found",
                format!("no memory entry {id}"),
                "memory_list lists entries; pass a key with its namespace, or a memory id",
            )
        })?;
        let stream = stream_id("id", &entry.id)?;
        let history = recent_events(self.store(), &stream, events.unwrap_or(20)).await?;
        let views = view::events(&history, false, self.config().payload_bytes_max);
        ok(
            format!("memory {} ({} events shown)", entry.id, views.len()),
            json!({"memory": entry, "events": views}),
        )
    }
}

fn entry_view(m: &Memory) -> Value {
    json!({
        "id": m.id,
        "key": m.key,
        "namespace": m.namespace,
        "memoryType": m.memory_type,
        "size": m.size,
        "storedAt": view::time(m.stored_at),
    })
}

fn not_found(namespace: &str, key: &str) -> ToolError {
    ToolError::new(
        "not_found",
        format!("no value under {namespace}/{key}"),
        "memory_list lists the keys of a namespace",
    )
}

fn live_entry(known: Option<Memory>, namespace: &str, key: &str) -> Result<Memory, ToolError> {
    match known {
        Some(entry) if entry.status == MemoryStatus::Active => Ok(entry),
        Some(entry) => Err(ToolError::new(
            "not_found",
            format!(
                "{namespace}/{key} was {}",
                format!("{:?}", entry.status).to_lowercase()
            ),
            "memory_store stores it again; projection_get shows its history",
        )),
        None => Err(not_found(namespace, key)),
    }
}
