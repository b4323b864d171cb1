//! Validated identifiers: stream ids, event types, event ids and aggregate types.
//!
//! Each is a string newtype that can only be built through validation, so every function that
//! takes one can rely on it being non-empty, at most [`NAME_BYTES_MAX`] bytes and free of control
//! characters. Deserialization runs the same validation. The text is shared (`Arc<str>`): every
//! event read carries four of these, and a clone is a counter increment, not an allocation.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest identifier, in UTF-8 bytes, that annal accepts for any of the newtypes here.
pub const NAME_BYTES_MAX: usize = 256;

/// Why a string was refused as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidName {
    /// The string was empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which identifier was being built.
        kind: &'static str,
    },
    /// The string was longer than [`NAME_BYTES_MAX`].
    #[error("{kind} is {len} bytes, the maximum is {max}")]
    TooLong {
        /// Which identifier was being built.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The string held a control character (newline, NUL, ...), which breaks line-based tools.
    #[error("{kind} {value:?} contains a control character")]
    ControlCharacter {
        /// Which identifier was being built.
        kind: &'static str,
        /// The refused value.
        value: String,
    },
}

fn validate(kind: &'static str, value: &str) -> Result<(), InvalidName> {
    if value.is_empty() {
        return Err(InvalidName::Empty { kind });
    }
    if value.len() > NAME_BYTES_MAX {
        return Err(InvalidName::TooLong {
            kind,
            len: value.len(),
            max: NAME_BYTES_MAX,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidName::ControlCharacter {
            kind,
            value: value.to_owned(),
        });
    }
    Ok(())
}

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates `value` and wraps a copy of it (one allocation, whatever the input).
            pub fn new(value: impl AsRef<str>) -> Result<Self, InvalidName> {
                let value = value.as_ref();
                validate($kind, value)?;
                Ok(Self(Arc::from(value)))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidName;
            fn try_from(value: String) -> Result<Self, InvalidName> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidName;
            fn try_from(value: &str) -> Result<Self, InvalidName> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0.as_ref().to_owned()
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(NameVisitor::<$name>::new($kind))
            }
        }
    };
}

/// Deserializes any of the newtypes from a string, borrowed when the input allows, so building
/// one costs a single allocation, as it did when the newtypes held a `String`.
struct NameVisitor<T> {
    kind: &'static str,
    name: PhantomData<fn() -> T>,
}

impl<T> NameVisitor<T> {
    fn new(kind: &'static str) -> Self {
        Self {
            kind,
            name: PhantomData,
        }
    }
}

impl<'de, T> Visitor<'de> for NameVisitor<T>
where
    T: for<'a> TryFrom<&'a str, Error = InvalidName>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} (a string)", self.kind)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        T::try_from(value).map_err(E::custom)
    }
}

validated_name!(
    /// The id of a stream: all events of one aggregate (the envelope's `aggregateId`).
    StreamId,
    "stream id"
);

validated_name!(
    /// An event type such as `task:completed`.
    EventType,
    "event type"
);

validated_name!(
    /// The unique id of an event, and the key that makes a retried append idempotent.
    EventId,
    "event id"
);

validated_name!(
    /// The kind of aggregate a stream belongs to: `agent`, `task`, `memory`, `swarm`, `run`, ...
    AggregateType,
    "aggregate type"
);

validated_name!(
    /// The name under which a projection's checkpoint and state are saved.
    ProjectionName,
    "projection name"
);

impl EventId {
    /// A fresh, time-ordered id (UUID v7), used when the caller gives none.
    ///
    /// Time order keeps a backend's id index appending at its right edge.
    pub fn generate() -> Self {
        let mut text = uuid::Uuid::encode_buffer();
        Self(Arc::from(
            &*uuid::Uuid::now_v7().hyphenated().encode_lower(&mut text),
        ))
    }
}

impl EventType {
    /// The part before the first `:` (`task` for `task:completed`), the default aggregate type.
    pub fn domain(&self) -> &str {
        self.0.split_once(':').map_or(&self.0, |(domain, _)| domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        assert_eq!(StreamId::new("agent-1").unwrap().as_str(), "agent-1");
        assert_eq!(EventType::new("task:completed").unwrap().domain(), "task");
        assert_eq!(EventType::new("plain").unwrap().domain(), "plain");
    }

    #[test]
    fn refuses_empty_long_and_control() {
        assert_eq!(
            StreamId::new(""),
            Err(InvalidName::Empty { kind: "stream id" })
        );
        let long = "x".repeat(NAME_BYTES_MAX + 1);
        assert!(matches!(
            EventType::new(long),
            Err(InvalidName::TooLong { len: 257, .. })
        ));
        assert!(StreamId::new("x".repeat(NAME_BYTES_MAX)).is_ok());
        assert!(matches!(
            EventId::new("a\nb"),
            Err(InvalidName::ControlCharacter { .. })
        ));
    }

    #[test]
    fn deserialization_validates() {
        let ok: StreamId = serde_json::from_str("\"task-1\"").unwrap();
        assert_eq!(ok.as_str(), "task-1");
        let err = serde_json::from_str::<StreamId>("\"\"").unwrap_err();
        assert!(
            err.to_string().contains("stream id must not be empty"),
            "{err}"
        );
    }

    #[test]
    fn generated_ids_are_unique_and_ordered() {
        let a = EventId::generate();
        let b = EventId::generate();
        assert_ne!(a, b);
        assert!(a < b, "v7 ids sort by creation time: {a} then {b}");
    }
}
