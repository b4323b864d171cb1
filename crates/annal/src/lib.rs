//! The `annal` facade: one dependency for library users, re-exporting the Store API and the
//! backends enabled by cargo features.
//!
//! The README below is this crate's documentation, and its example runs as a doctest.
#![doc = include_str!("../../../README.md")]

pub use annal_core::*;

/// The embedded default backend: one SQLite file, durable on acknowledgment.
#[cfg(feature = "sqlite")]
pub mod sqlite {
    pub use annal_sqlite::*;
}
