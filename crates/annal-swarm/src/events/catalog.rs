//! The catalog of the 23 event types: [`EventKind`] names them, [`DomainEvent`] holds one typed
//! payload, and [`DomainEvent::decode`] reads any stored event.
//!
//! The list lives in one macro call, so the kind, the enum and the decoder cannot disagree about
//! which types exist.

use annal_core::{EventId, RawObject, RecordedEvent};
use serde::Deserialize;
use serde_json::Value;

use super::draft::{Payload, to_json};
use super::{agent, memory, swarm, task};

/// A stored event of a known type whose payload does not fit that type.
#[derive(Debug, thiserror::Error)]
#[error("event {event_id} of type {event_type} has a payload that does not decode")]
pub struct DecodeError {
    /// The event.
    pub event_id: EventId,
    /// Its type.
    pub event_type: String,
    /// What did not fit.
    #[source]
    pub source: serde_json::Error,
}

macro_rules! catalog {
    ($($variant:ident => $payload:path),* $(,)?) => {
        /// One of the 23 domain event types, without its payload.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            $(
                #[doc = concat!("`", stringify!($variant), "`, see [`", stringify!($payload), "`].")]
                $variant,
            )*
        }

        impl EventKind {
            /// Every kind, in catalog order (agent, task, memory, swarm).
            pub const ALL: [EventKind; 23] = [$(EventKind::$variant),*];

            /// The event type string (`agent:spawned`, ...).
            pub fn event_type(self) -> &'static str {
                match self {
                    $(EventKind::$variant => <$payload as Payload>::EVENT_TYPE,)*
                }
            }

            /// The aggregate type (`agent`, `task`, `memory` or `swarm`).
            pub fn aggregate_type(self) -> &'static str {
                match self {
                    $(EventKind::$variant => <$payload as Payload>::AGGREGATE_TYPE,)*
                }
            }

            /// The kind of an event type string, if it is one of the 23.
            pub fn from_event_type(event_type: &str) -> Option<EventKind> {
                // One `match` lets the compiler dispatch on length before comparing bytes;
                // projections ask this for every event they are offered.
                match event_type {
                    $(<$payload as Payload>::EVENT_TYPE => Some(EventKind::$variant),)*
                    _ => None,
                }
            }
        }

        /// A domain event with its typed payload, or an event of a type this crate does not know.
        #[derive(Clone, Debug, PartialEq)]
        pub enum DomainEvent {
            $(
                #[doc = concat!("See [`", stringify!($payload), "`].")]
                $variant($payload),
            )*
            /// An event type outside the 23, kept as stored so it stays readable.
            Unknown {
                /// Its type.
                event_type: String,
                /// Its payload.
                payload: Value,
            },
        }

        impl DomainEvent {
            /// Decodes the payload of a stored event by its type, parsing the stored JSON text
            /// straight into the typed payload (no `Value` is built for known types).
            ///
            /// Unknown types give [`DomainEvent::Unknown`]; a known type whose payload does not
            /// fit gives a [`DecodeError`].
            pub fn decode(event: &RecordedEvent) -> Result<DomainEvent, DecodeError> {
                DomainEvent::decode_raw(event.event_type.as_str(), &event.payload).map_err(
                    |source| DecodeError {
                        event_id: event.id.clone(),
                        event_type: event.event_type.to_string(),
                        source,
                    },
                )
            }

            /// Decodes the payload of a stored event already known to be of `kind`, parsing the
            /// stored text straight into that kind's payload struct.
            pub fn decode_as(
                kind: EventKind,
                event: &RecordedEvent,
            ) -> Result<DomainEvent, DecodeError> {
                let decoded = match kind {
                    $(EventKind::$variant => {
                        event.payload.decode::<$payload>().map(DomainEvent::$variant)
                    })*
                };
                decoded.map_err(|source| DecodeError {
                    event_id: event.id.clone(),
                    event_type: event.event_type.to_string(),
                    source,
                })
            }

            /// Decodes the stored payload text `payload` as an event of `event_type`.
            pub fn decode_raw(
                event_type: &str,
                payload: &RawObject,
            ) -> Result<DomainEvent, serde_json::Error> {
                let Some(kind) = EventKind::from_event_type(event_type) else {
                    return Ok(DomainEvent::Unknown {
                        event_type: event_type.to_owned(),
                        payload: payload.to_value(),
                    });
                };
                match kind {
                    $(EventKind::$variant => {
                        payload.decode::<$payload>().map(DomainEvent::$variant)
                    })*
                }
            }

            /// Decodes `payload` as an event of `event_type`.
            pub fn decode_payload(
                event_type: &str,
                payload: &Value,
            ) -> Result<DomainEvent, serde_json::Error> {
                let Some(kind) = EventKind::from_event_type(event_type) else {
                    return Ok(DomainEvent::Unknown {
                        event_type: event_type.to_owned(),
                        payload: payload.clone(),
                    });
                };
                // Deserializing from `&Value` borrows the payload instead of cloning it.
                match kind {
                    $(EventKind::$variant => {
                        <$payload>::deserialize(payload).map(DomainEvent::$variant)
                    })*
                }
            }

            /// The kind, or `None` for an unknown event type.
            pub fn kind(&self) -> Option<EventKind> {
                match self {
                    $(DomainEvent::$variant(_) => Some(EventKind::$variant),)*
                    DomainEvent::Unknown { .. } => None,
                }
            }

            /// The event type string.
            pub fn event_type(&self) -> &str {
                match self {
                    $(DomainEvent::$variant(_) => <$payload as Payload>::EVENT_TYPE,)*
                    DomainEvent::Unknown { event_type, .. } => event_type,
                }
            }

            /// The payload as JSON, exactly as a constructor would store it.
            pub fn payload(&self) -> Value {
                match self {
                    $(DomainEvent::$variant(payload) => to_json(payload),)*
                    DomainEvent::Unknown { payload, .. } => payload.clone(),
                }
            }
        }
    };
}

catalog! {
    AgentSpawned => agent::AgentSpawned,
    AgentStarted => agent::AgentStarted,
    AgentStopped => agent::AgentStopped,
    AgentFailed => agent::AgentFailed,
    AgentStatusChanged => agent::AgentStatusChanged,
    AgentTaskAssigned => agent::AgentTaskAssigned,
    AgentTaskCompleted => agent::AgentTaskCompleted,
    TaskCreated => task::TaskCreated,
    TaskStarted => task::TaskStarted,
    TaskCompleted => task::TaskCompleted,
    TaskFailed => task::TaskFailed,
    TaskBlocked => task::TaskBlocked,
    TaskQueued => task::TaskQueued,
    MemoryStored => memory::MemoryStored,
    MemoryRetrieved => memory::MemoryRetrieved,
    MemoryDeleted => memory::MemoryDeleted,
    MemoryExpired => memory::MemoryExpired,
    SwarmInitialized => swarm::SwarmInitialized,
    SwarmScaled => swarm::SwarmScaled,
    SwarmTerminated => swarm::SwarmTerminated,
    SwarmPhaseChanged => swarm::SwarmPhaseChanged,
    SwarmMilestoneReached => swarm::SwarmMilestoneReached,
    SwarmError => swarm::SwarmError,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use annal_core::{AggregateType, EventType};

    use super::*;

    #[test]
    fn the_catalog_has_23_distinct_valid_types_split_7_6_4_6() {
        let names: BTreeSet<&str> = EventKind::ALL
            .iter()
            .map(|kind| kind.event_type())
            .collect();
        assert_eq!(names.len(), 23);
        for kind in EventKind::ALL {
            let event_type = EventType::new(kind.event_type()).unwrap();
            assert_eq!(event_type.domain(), kind.aggregate_type(), "{kind:?}");
            AggregateType::new(kind.aggregate_type()).unwrap();
            assert_eq!(EventKind::from_event_type(kind.event_type()), Some(kind));
        }
        let count = |domain: &str| {
            EventKind::ALL
                .iter()
                .filter(|kind| kind.aggregate_type() == domain)
                .count()
        };
        assert_eq!(
            [
                count("agent"),
                count("task"),
                count("memory"),
                count("swarm")
            ],
            [7, 6, 4, 6]
        );
        assert_eq!(EventKind::from_event_type("agent:danced"), None);
    }
}
