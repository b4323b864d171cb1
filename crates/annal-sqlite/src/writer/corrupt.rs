//! Bad values read from disk on the writer's side: they travel through the writer's
//! `rusqlite::Result`s as a conversion failure carrying a [`Corrupt`], and reach the caller as
//! `StorageError::Corrupted` naming the table and the value.
//!
//! Invariant: a value the writer reads from the file and cannot use (a negative counter, a mark
//! above the head, an id that cannot grow) is never clamped or asserted on: the group fails,
//! nothing is written, and the store refuses writes until reopened, since a damaged file may
//! hold more damage than the value that gave it away.

use rusqlite::types::Type;

/// A stored value the writer cannot use.
#[derive(Debug, thiserror::Error)]
#[error("stored data is damaged at {location}: {reason}")]
pub(crate) struct Corrupt {
    /// The table and row (or meta key).
    pub(crate) location: String,
    /// What is wrong with the value, quoting it.
    pub(crate) reason: String,
}

/// A `rusqlite::Error` carrying a [`Corrupt`].
pub(crate) fn corrupt(location: impl Into<String>, reason: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        Type::Integer,
        Box::new(Corrupt {
            location: location.into(),
            reason: reason.into(),
        }),
    )
}

/// The [`Corrupt`] inside `error`, if it carries one.
pub(crate) fn as_corrupt(error: &rusqlite::Error) -> Option<&Corrupt> {
    match error {
        rusqlite::Error::FromSqlConversionFailure(_, _, source) => source.downcast_ref(),
        _ => None,
    }
}

/// A stored counter (position, version, count) as `u64`; a negative one is damage.
pub(crate) fn counter(value: i64, location: impl FnOnce() -> String) -> rusqlite::Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(location(), format!("negative counter {value}")))
}

/// The id after `id` in a dictionary table; the largest id cannot have one.
pub(crate) fn next_id(table: &str, id: i64) -> rusqlite::Result<i64> {
    id.checked_add(1).ok_or_else(|| {
        corrupt(
            format!("table {table}"),
            format!("id {id} leaves no id for a new name"),
        )
    })
}
