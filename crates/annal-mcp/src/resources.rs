//! Streams as MCP resources: `annal://streams/{id}` lists a stream's newest events, and a
//! client subscribed to one is sent `notifications/resources/updated` after each commit to it.
//!
//! A subscription follows the store (`Store::subscribe` from the head at subscribe time, for
//! that stream only), so it sees commits of any writer, in this process or another. It belongs
//! to its session: unsubscribing, or the session ending, stops it.
//!
//! Invariant: a session holds at most one follower per URI.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use annal_core::{Filter, ReadStreamOptions, StreamId, collect};
use futures::StreamExt;
use rmcp::model::{
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::Peer;
use rmcp::{ErrorData, RoleServer};
use serde_json::json;

use crate::AnnalMcp;
use crate::view;

/// The URI scheme and path of a stream resource.
pub(crate) const STREAM_PREFIX: &str = "annal://streams/";

/// How many streams `resources/list` names, and events a read shows.
const LISTED_MAX: usize = 200;
const EVENTS_SHOWN: u64 = 50;

/// One session's subscriptions; dropping it stops them.
#[derive(Default)]
pub(crate) struct Watchers(Mutex<HashMap<String, tokio::task::AbortHandle>>);

impl Drop for Watchers {
    fn drop(&mut self) {
        let map = self.0.get_mut().unwrap_or_else(PoisonError::into_inner);
        for (_, handle) in map.drain() {
            handle.abort();
        }
    }
}

fn stream_of(uri: &str) -> Result<StreamId, ErrorData> {
    uri.strip_prefix(STREAM_PREFIX)
        .and_then(|id| StreamId::new(id).ok())
        .ok_or_else(|| {
            ErrorData::resource_not_found(
                format!("{uri} is not a stream resource; use {STREAM_PREFIX}{{id}}"),
                None,
            )
        })
}

fn store_error(error: impl std::fmt::Display) -> ErrorData {
    ErrorData::internal_error(format!("reading the store failed: {error}"), None)
}

impl AnnalMcp {
    /// The largest streams as resources.
    pub(crate) async fn stream_resources(&self) -> Result<Vec<Resource>, ErrorData> {
        let stats = self.store().stats(LISTED_MAX).await.map_err(store_error)?;
        Ok(stats
            .top_streams
            .iter()
            .map(|s| {
                Resource::new(
                    format!("{STREAM_PREFIX}{}", s.stream.as_str()),
                    s.stream.as_str(),
                )
                .with_description(format!("{} events", s.events))
                .with_mime_type("application/json")
            })
            .collect())
    }

    /// The template every stream resource follows.
    pub(crate) fn stream_template() -> ResourceTemplate {
        ResourceTemplate::new(format!("{STREAM_PREFIX}{{id}}"), "stream")
            .with_description("One stream: its version and newest events")
            .with_mime_type("application/json")
    }

    /// A stream's version and newest events, as JSON text.
    pub(crate) async fn read_stream_resource(
        &self,
        uri: &str,
    ) -> Result<ReadResourceResult, ErrorData> {
        let stream = stream_of(uri)?;
        let version = self
            .store()
            .stream_version(&stream)
            .await
            .map_err(store_error)?;
        if version.0 == 0 {
            return Err(ErrorData::resource_not_found(
                format!(
                    "no such stream: {}; resources/list and streams_list list them",
                    stream.as_str()
                ),
                None,
            ));
        }
        let options = ReadStreamOptions::backward().limit(EVENTS_SHOWN);
        let events = self
            .store()
            .read_stream(&stream, options)
            .await
            .map_err(store_error)?;
        let mut events = collect(events).await.map_err(store_error)?;
        events.reverse();
        let text = json!({
            "stream": stream.as_str(),
            "version": version.0,
            "events": view::events(&events, false, self.config().payload_bytes_max),
        })
        .to_string();
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, uri).with_mime_type("application/json"),
        ]))
    }

    /// Follows the stream behind `uri` and tells `peer` after each commit to it.
    pub(crate) async fn watch(&self, uri: String, peer: Peer<RoleServer>) -> Result<(), ErrorData> {
        let stream = stream_of(&uri)?;
        let store = std::sync::Arc::clone(&self.inner.store);
        let from = store.head().await.map_err(store_error)?.next();
        let filter = Filter {
            aggregate_ids: vec![stream],
            ..Filter::all()
        };
        let mut events = store.subscribe(from, filter).await.map_err(store_error)?;
        let notified = uri.clone();
        let task = tokio::spawn(async move {
            while let Some(Ok(_)) = events.next().await {
                let param = ResourceUpdatedNotificationParam::new(notified.clone());
                if peer.notify_resource_updated(param).await.is_err() {
                    break;
                }
            }
        });
        let mut map = self
            .watchers
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = map.insert(uri, task.abort_handle()) {
            old.abort();
        }
        Ok(())
    }

    /// Stops following `uri`.
    pub(crate) fn unwatch(&self, uri: &str) {
        let mut map = self
            .watchers
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(handle) = map.remove(uri) {
            handle.abort();
        }
    }
}
