//! The ids a group of appends needs: its streams', event types' and aggregate types'.
//!
//! Invariant: every name of the group has a committed dictionary row before the group's
//! transaction starts (see `dictionary.rs`), so the transaction never inserts a name and never
//! holds a lock other writers of new names wait on.

use deadpool_postgres::Object;

use crate::writer::dictionary::Dictionary;
use crate::writer::failure::GroupFailure;
use annal_core::backend::Append;

/// The writer's name caches.
#[derive(Debug)]
pub(crate) struct Dictionaries {
    pub(crate) streams: Dictionary,
    pub(crate) types: Dictionary,
    pub(crate) aggregate_types: Dictionary,
}

impl Default for Dictionaries {
    fn default() -> Self {
        Self {
            streams: Dictionary::new("streams"),
            types: Dictionary::new("types"),
            aggregate_types: Dictionary::new("aggregate_types"),
        }
    }
}

/// A group's ids.
pub(crate) struct GroupNames {
    /// Each request's stream id.
    pub(crate) per_request: Vec<i64>,
    /// The group's stream ids, sorted, once each: the order their rows are locked in.
    pub(crate) streams: Vec<i64>,
    /// Each request's (type id, aggregate type id) per event.
    pub(crate) name_ids: Vec<Vec<(i64, i64)>>,
}

/// Makes sure every name of `requests` has a row, and returns the ids.
pub(crate) async fn resolve(
    client: &Object,
    dictionaries: &mut Dictionaries,
    requests: &[Append],
) -> Result<GroupNames, GroupFailure> {
    let before = GroupFailure::before_commit;
    dictionaries
        .streams
        .ensure(client, requests.iter().map(|r| r.stream.as_str()))
        .await
        .map_err(before)?;
    let events = || requests.iter().flat_map(|r| r.batch.iter());
    dictionaries
        .types
        .ensure(client, events().map(|e| e.event_type.as_str()))
        .await
        .map_err(before)?;
    dictionaries
        .aggregate_types
        .ensure(client, events().map(|e| e.aggregate_type.as_str()))
        .await
        .map_err(before)?;
    let per_request: Vec<i64> = requests
        .iter()
        .map(|r| {
            dictionaries
                .streams
                .get(r.stream.as_str())
                .ok_or_else(|| GroupFailure::missing_name(r.stream.as_str()))
        })
        .collect::<Result<_, _>>()?;
    let mut streams = per_request.clone();
    streams.sort_unstable();
    streams.dedup();
    // Every name was just ensured, so a miss here is a bug in the cache, reported rather than
    // written: a row with an unknown type id would vanish from every read (they join on it).
    let name_ids = requests
        .iter()
        .map(|request| {
            request
                .batch
                .iter()
                .map(|event| {
                    let type_id = dictionaries.types.get(event.event_type.as_str());
                    let aggregate_type = event.aggregate_type.as_str();
                    let aggregate_type_id = dictionaries.aggregate_types.get(aggregate_type);
                    match (type_id, aggregate_type_id) {
                        (Some(t), Some(a)) => Ok((t, a)),
                        _ => Err(GroupFailure::missing_name(event.event_type.as_str())),
                    }
                })
                .collect()
        })
        .collect::<Result<_, _>>()?;
    Ok(GroupNames {
        per_request,
        streams,
        name_ids,
    })
}
