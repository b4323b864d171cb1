//! [`RawObject`]: a JSON object kept as the compact text it was stored as, the form in which a
//! [`RecordedEvent`](crate::RecordedEvent) carries its payload and metadata.
//!
//! Reading an event never builds a `serde_json::Value` tree: the text is checked once (it must be
//! well-formed JSON and an object) and kept. A consumer that wants a typed struct parses the text
//! straight into it with [`RawObject::decode`], so the payload is parsed once, by the one who
//! needs it, into the shape they need; a consumer that wants the tree asks for
//! [`RawObject::to_value`]. Replays and projections that skip most events never pay for them.
//!
//! Invariant: the text is well-formed JSON whose top-level value is an object. It serializes
//! verbatim, so an event read back writes exactly the bytes that were stored; backends store
//! what `serde_json` wrote from a `Value` (compact), so the wire form is unchanged.

use std::fmt;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::json_kind;

/// A JSON object held as the compact text it was stored as: checked once when built (well-formed,
/// an object), serialized verbatim, and parsed only on request ([`RawObject::decode`],
/// [`RawObject::to_value`]).
#[derive(Clone)]
pub struct RawObject(Box<RawValue>);

/// Why a text was refused as a [`RawObject`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidObject {
    /// The text is not well-formed JSON.
    #[error("not well-formed JSON")]
    Json(#[source] serde_json::Error),
    /// The text is JSON, but its top-level value is not an object.
    #[error("a JSON object was expected, found {found}")]
    NotAnObject {
        /// What the top-level value was (`an array`, `a string`, ...).
        found: &'static str,
    },
}

impl RawObject {
    /// Checks that `text` is one well-formed JSON object and keeps it as it is.
    pub fn from_json(text: String) -> Result<Self, InvalidObject> {
        let raw = RawValue::from_string(text).map_err(InvalidObject::Json)?;
        Self::from_raw(raw)
    }

    /// The compact text of `value`, which must be an object.
    pub fn from_value(value: &Value) -> Result<Self, InvalidObject> {
        if !value.is_object() {
            return Err(InvalidObject::NotAnObject {
                found: json_kind(value),
            });
        }
        serde_json::value::to_raw_value(value)
            .map(RawObject)
            .map_err(InvalidObject::Json)
    }

    /// Text that `serde_json` wrote from an object `Value` (the prepared payload and metadata);
    /// the check runs again, but cannot fail.
    pub(crate) fn from_serialized(text: String) -> Self {
        match Self::from_json(text) {
            Ok(object) => object,
            Err(error) => unreachable!("serde_json wrote this text from an object: {error}"),
        }
    }

    /// The empty object `{}`.
    pub fn empty() -> Self {
        Self::from_serialized("{}".to_owned())
    }

    fn from_raw(raw: Box<RawValue>) -> Result<Self, InvalidObject> {
        // The text is well-formed, so its first byte names the kind of its top-level value.
        match raw.get().as_bytes().first() {
            Some(b'{') => Ok(RawObject(raw)),
            first => Err(InvalidObject::NotAnObject {
                found: match first {
                    Some(b'[') => "an array",
                    Some(b'"') => "a string",
                    Some(b't' | b'f') => "a boolean",
                    Some(b'n') => "null",
                    _ => "a number",
                },
            }),
        }
    }

    /// The JSON text, exactly as stored.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Parses the text into `T`. This is the fast way to a typed payload: no `Value` is built.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// Parses the text into a `serde_json::Value` tree.
    pub fn to_value(&self) -> Value {
        match serde_json::from_str(self.0.get()) {
            Ok(value) => value,
            // The text passed the same parser when this object was built.
            Err(error) => unreachable!("a RawObject holds well-formed JSON: {error}"),
        }
    }
}

impl Default for RawObject {
    fn default() -> Self {
        Self::empty()
    }
}

impl TryFrom<Value> for RawObject {
    type Error = InvalidObject;

    fn try_from(value: Value) -> Result<Self, InvalidObject> {
        Self::from_value(&value)
    }
}

impl From<RawObject> for Value {
    fn from(object: RawObject) -> Value {
        object.to_value()
    }
}

/// Equal when the texts are equal. Backends store the compact text `serde_json` writes, in which
/// equal objects have equal texts, so for stored events this is equality of the objects.
impl PartialEq for RawObject {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RawObject {}

/// Compares the parsed object with `other`, whatever either text's key order or spacing.
impl PartialEq<Value> for RawObject {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

impl fmt::Debug for RawObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for RawObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RawObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RawObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Self::from_raw(raw).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keeps_the_text_and_serializes_it_verbatim() {
        let object = RawObject::from_json(r#"{"b":1,"a":[true,null]}"#.to_owned()).unwrap();
        assert_eq!(object.as_str(), r#"{"b":1,"a":[true,null]}"#);
        #[derive(Serialize)]
        struct Envelope<'a> {
            payload: &'a RawObject,
        }
        let text = serde_json::to_string(&Envelope { payload: &object }).unwrap();
        assert_eq!(text, r#"{"payload":{"b":1,"a":[true,null]}}"#);
    }

    /// Found by the one-input-one-answer test: without serde_json's exact float parsing, a
    /// payload number read back differed from the one appended in its last bit (the stored
    /// text is what serde_json wrote, but its best-effort parser did not read it back exactly).
    #[test]
    fn numbers_read_back_exactly_as_they_were_appended() {
        for number in [
            6.783741543082089e218,
            3.2187277956151933e152,
            0.1,
            1e-300,
            -2.5e-308,
        ] {
            let appended = json!({ "n": number, "given": "678374154308208900000000000000000000" });
            let given: Value = serde_json::from_str(&format!("{{\"n\":{number:?}}}")).unwrap();
            assert_eq!(given["n"].as_f64(), Some(number), "parsing {number:?}");
            let stored = RawObject::from_value(&appended).unwrap();
            assert_eq!(
                stored.to_value(),
                appended,
                "{number:?} read back as {stored}"
            );
        }
        let long: Value =
            serde_json::from_str(&format!("{{\"n\":{}}}", 6.783741543082089e218_f64)).unwrap();
        assert_eq!(long["n"].as_f64(), Some(6.783741543082089e218));
    }

    #[test]
    fn refuses_bad_json_and_non_objects() {
        for (text, found) in [
            ("[1]", "an array"),
            ("\"s\"", "a string"),
            ("3", "a number"),
        ] {
            match RawObject::from_json(text.to_owned()) {
                Err(InvalidObject::NotAnObject { found: kind }) => assert_eq!(kind, found),
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            RawObject::from_json("{\"a\":".to_owned()),
            Err(InvalidObject::Json(_))
        ));
        assert!(RawObject::from_value(&json!(null)).is_err());
        assert!(serde_json::from_str::<RawObject>("[]").is_err());
    }

    #[test]
    fn decodes_typed_and_as_a_tree() {
        #[derive(Deserialize, PartialEq, Debug)]
        struct Task {
            title: String,
        }
        let object = RawObject::from_value(&json!({"title": "Index docs"})).unwrap();
        assert_eq!(
            object.decode::<Task>().unwrap(),
            Task {
                title: "Index docs".into()
            }
        );
        assert_eq!(object.to_value()["title"], "Index docs");
        assert_eq!(object, json!({"title": "Index docs"}));
        assert_eq!(RawObject::default().as_str(), "{}");
        let back: RawObject = serde_json::from_str(r#"{"title":"Index docs"}"#).unwrap();
        assert_eq!(back, object);
        let from_tree: RawObject = serde_json::from_value(json!({"title": "Index docs"})).unwrap();
        assert_eq!(from_tree, object);
    }
}
