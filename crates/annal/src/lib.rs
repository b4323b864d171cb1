//! The `annal` facade: one dependency for library users, re-exporting the Store API, the
//! backends enabled by cargo features (`sqlite`, the default; `ndjson`; `postgres`), and
//! [`open`], which opens any of them from a location string.
//!
//! The README below is this crate's documentation, and its example runs as a doctest.
#![doc = include_str!("../../../README.md")]

mod location;
mod open;

pub use annal_core::*;
pub use location::{Location, LocationError, NDJSON_PREFIX, redact, without_password};
pub use open::{Access, OpenError, OpenOptions, open, open_with};

/// The embedded default backend: one SQLite file, durable on acknowledgment.
#[cfg(feature = "sqlite")]
pub mod sqlite {
    pub use annal_sqlite::*;
}

/// A store in a human-readable directory of NDJSON lines.
#[cfg(feature = "ndjson")]
pub mod ndjson {
    pub use annal_ndjson::*;
}

/// A store in a PostgreSQL database that many processes share.
#[cfg(feature = "postgres")]
pub mod postgres {
    pub use annal_postgres::*;
}
